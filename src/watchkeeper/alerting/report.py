"""`AlertsReport`: the alerting section of a window's monitoring report.

Lists every rule's alert with its state in this window and every notification with its delivery
status. Its findings are informational only (severity OK): the verdict comes from the same rules
(`judge.py`), so alerts must not make it worse a second time; an undelivered notification is worth
a line for the reader, not a critical window.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from watchkeeper.alerting.delivery import NotificationRecord
from watchkeeper.alerting.messages import firing_since
from watchkeeper.presentation import window_name
from watchkeeper.verdict import Finding, Publication, Severity

# "unknown": the condition could not be judged in this window (a figure was missing): awaiting the
# window's labels (memory carried on), or not judged (a firing alert resolves after `resolve_after`
# such windows, as "resolved" with the reason "no longer evaluated").
AlertState = Literal["inactive", "pending", "firing", "resolved", "unknown"]
Outcome = Literal["true", "false", "unknown"]


def _clean(value: float | None) -> float | None:
    # JSON and MLflow: no NaN, no numpy scalars.
    if value is None or value != value:
        return None
    return float(value)


@dataclass(frozen=True)
class AlertStatus:
    """One alert (rule × labels) after this window."""

    fingerprint: str
    rule: str
    severity: str
    state: AlertState
    outcome: Outcome  # the condition in this window; "unknown" when a figure was missing
    labels: dict[str, str]
    condition: str
    metric: str
    value: float | None
    op: str
    threshold: float | None
    summary: str
    consecutive: int  # windows in a row the condition held
    fired_at: datetime | None = None
    muted_by: str | None = None  # "silence:<id>" or "inhibited:<rule>/<severity>"
    notified: Literal["firing", "resolved"] | None = None  # what this window announced
    # Why it resolved here: the condition cleared, it is no longer evaluated, or a re-evaluation
    # retracted what this window's first run announced (`watchkeeper.alerting.lifecycle`).
    reason: str | None = None
    # Not judged here because the window's labels are still to come (its memory is carried on).
    awaiting_labels: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint,
            "rule": self.rule,
            "severity": self.severity,
            "state": self.state,
            "outcome": self.outcome,
            "labels": dict(self.labels),
            "condition": self.condition,
            "metric": self.metric,
            "value": _clean(self.value),
            "op": self.op,
            "threshold": _clean(self.threshold),
            "summary": self.summary,
            "consecutive": self.consecutive,
            "fired_at": None if self.fired_at is None else self.fired_at.isoformat(),
            "muted_by": self.muted_by,
            "notified": self.notified,
            "reason": self.reason,
            "awaiting_labels": self.awaiting_labels,
        }


def outranked(alerts: Sequence[AlertStatus]) -> frozenset[str]:
    """The fingerprints of the firing alerts whose rule fires at a higher severity too (the warning
    line of a rule whose critical line fires): shown nowhere and counted once, as the critical one."""
    top: dict[str, Severity] = {}
    for a in alerts:
        if a.state == "firing":
            level = Severity.parse(a.severity)
            top[a.rule] = max(top.get(a.rule, level), level)
    return frozenset(
        a.fingerprint for a in alerts if a.state == "firing" and Severity.parse(a.severity) < top[a.rule]
    )


def count_firing(alerts: Sequence[AlertStatus]) -> int:
    """Alerts firing in the window, a rule counted once at its highest severity."""
    hidden = outranked(alerts)
    return sum(1 for a in alerts if a.state == "firing" and a.fingerprint not in hidden)


@dataclass(frozen=True)
class AlertsReport:
    """Alert states and notification deliveries of one model's window (a `SectionReport`)."""

    model: str
    window_end: datetime
    enabled: bool
    alerts: tuple[AlertStatus, ...] = ()
    notifications: tuple[NotificationRecord, ...] = ()
    outbox_pending: int = 0
    window_start: datetime | None = None
    timezone: str = "UTC"  # the model's calendar, which the window's name is written in

    def _count(self, state: str) -> int:
        return sum(1 for a in self.alerts if a.state == state)

    @property
    def notifications_failed(self) -> int:
        return sum(1 for n in self.notifications if n.status == "queued")

    def figures(self) -> dict[str, float]:
        return {
            # A rule's warning line is not counted beside its critical one (`outranked`).
            "firing": float(count_firing(self.alerts)),
            "pending": float(self._count("pending")),
            "resolved": float(self._count("resolved")),
            "silenced": float(sum(1 for a in self.alerts if (a.muted_by or "").startswith("silence:"))),
            "inhibited": float(sum(1 for a in self.alerts if (a.muted_by or "").startswith("inhibited:"))),
            "unknown": float(sum(1 for a in self.alerts if a.outcome == "unknown")),
            "notifications_sent": float(sum(1 for n in self.notifications if n.status == "sent")),
            "notifications_failed": float(self.notifications_failed),
            "outbox_pending": float(self.outbox_pending),
        }

    def findings(self) -> list[Finding]:
        out = []
        if self.notifications_failed:
            channels = sorted({n.channel for n in self.notifications if n.status == "queued"})
            out.append(
                Finding(
                    "alerting",
                    Severity.OK,
                    f"{self.notifications_failed} notification(s) to {', '.join(channels)} could not be "
                    f"delivered; they wait in the outbox ({self.outbox_pending} in all) for the next run.",
                )
            )
        return out

    def publish(self) -> Publication:
        return Publication(markdown={"alerts": self.to_markdown()})

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "window_end": self.window_end.isoformat(),
            "enabled": self.enabled,
            "figures": self.figures(),
            "alerts": [a.to_dict() for a in self.alerts],
            "notifications": [n.to_dict() for n in self.notifications],
        }

    def to_markdown(self) -> str:
        """A Prefect markdown artifact: active alerts and deliveries of this window."""
        if self.window_start is not None:
            title = window_name(self.model, self.window_start, self.window_end, self.timezone)
        else:
            title = f"{self.model}, window ending {self.window_end.isoformat()}"
        lines = [f"# Alerts: {title}", ""]
        if not self.enabled:
            return "\n".join([*lines, "Alerting is disabled for this model."])
        hidden = outranked(self.alerts)
        active = [
            a for a in self.alerts if a.state not in ("inactive", "unknown") and a.fingerprint not in hidden
        ]
        figs = self.figures()
        lines.append(
            f"**{int(figs['firing'])} firing**, {int(figs['pending'])} pending, "
            f"{int(figs['resolved'])} resolved; {len(self.alerts)} rules evaluated, "
            f"{int(figs['unknown'])} without the figures they need."
        )
        unknown = [f"{a.rule}/{a.severity}" for a in self.alerts if a.outcome == "unknown"]
        if unknown:
            lines.append(f"Not judged in this window (a figure is missing): {', '.join(unknown)}.")
        lines.append("")
        if active:
            lines += [
                "| state | severity | rule | since | metric | value | threshold | muted | summary |",
                "|---|---|---|---|---|---|---|---|---|",
            ]
            for a in active:
                value = "n/a" if a.value is None else f"{a.value:.4g}"
                threshold = "n/a" if a.threshold is None else f"{a.op} {a.threshold:.4g}"
                summary = a.summary.replace("|", "\\|")
                since = (firing_since(a.fired_at, a.consecutive) or "").removeprefix("firing since ")
                lines.append(
                    f"| {a.state} | {a.severity} | {a.rule} | {since} | `{a.metric}` | {value} | {threshold} "
                    f"| {a.muted_by or ''} | {summary} |"
                )
        else:
            lines.append("No alert is pending, firing or resolved in this window.")
        lines += ["", "## Notifications", ""]
        if self.notifications:
            lines += ["| channel | status | alerts | attempts | error |", "|---|---|---|---|---|"]
            for n in self.notifications:
                origin = " (from outbox)" if n.from_outbox else ""
                error = (n.error or "").replace("|", "\\|")
                lines.append(
                    f"| {n.channel} | {n.status}{origin} | {len(n.fingerprints)} | {n.attempts} | {error} |"
                )
        else:
            lines.append("Nothing to notify.")
        if self.outbox_pending:
            lines += ["", f"{self.outbox_pending} notification(s) wait in the outbox for the next run."]
        return "\n".join(lines)
