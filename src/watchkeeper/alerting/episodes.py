"""Alert episodes from the audit trail: each firing of an alert, and whether and why it resolved.

An episode opens with `alert.fired` (or `alert.silenced`: it fired under a silence) and closes with
the next `alert.resolved` of the same alert (fingerprint). The trail is append-only and every
transition is audited once (`engine.py`), so this is the account a person reads: what fired, since
which window, what resolved it, and what is still open.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

FIRED_EVENTS = frozenset({"alert.fired", "alert.silenced"})
RESOLVED_EVENT = "alert.resolved"


@dataclass(frozen=True)
class Episode:
    """One firing of one alert: the window it fired in and the one it resolved in (None: open)."""

    fingerprint: str
    rule: str
    severity: str
    fired_window: datetime | None
    resolved_window: datetime | None = None
    reason: str | None = None  # why it resolved

    @property
    def open(self) -> bool:
        return self.resolved_window is None


def alert_episodes(audit: Iterable[Mapping[str, Any]]) -> list[Episode]:
    """The episodes in the audit entries `audit` (one model's, in trail order), oldest first."""
    opened: dict[str, Episode] = {}
    out: list[Episode] = []
    for entry in audit:
        event, evidence = entry.get("event"), entry.get("evidence") or {}
        fp = evidence.get("fingerprint")
        if fp is None:
            continue
        if event in FIRED_EVENTS and fp not in opened:
            opened[fp] = Episode(
                fp, evidence.get("rule", "?"), evidence.get("severity", "?"), entry.get("window_end")
            )
        elif event == RESOLVED_EVENT and fp in opened:
            episode = opened.pop(fp)
            out.append(
                Episode(
                    episode.fingerprint,
                    episode.rule,
                    episode.severity,
                    episode.fired_window,
                    entry.get("window_end"),
                    evidence.get("reason"),
                )
            )
    out.extend(opened.values())
    return sorted(out, key=lambda e: (e.fired_window is None, e.fired_window or datetime.min, e.rule))
