"""The alert lifecycle: one state machine, stepped once per window, in window time.

`docs/alerts.md` draws it. Each window judges a rule one of four ways (`Judgement`):

- ``holds``: the condition is true in the window;
- ``clear``: it is false;
- ``awaiting``: it could not be judged because the figures it needs come from labels that have not
  arrived yet (the window is inside its label lag): nothing is decided, the memory is carried as it
  is, and the window's re-evaluation will judge it when the labels land;
- ``unjudged``: it could not be judged for any other reason (the figure is gone, the check did not
  run, the rule was removed, the labels' lag has passed without them — also for the window it had
  been awaiting them since, which will never be judged: `awaits_in_vain`).

and the alert moves ``inactive → pending → firing → resolved`` (`step`): `for` windows in a row that
hold make it fire; a firing alert resolves the first window it is clear, or once it has gone
`resolve_after` windows in a row unjudged ("no longer evaluated"), like Alertmanager resolving an
alert its source stopped sending. A pending alert that is clear or unjudged goes back to inactive
without a word. Transitions (`fired`, `resolved`) are what is stored, audited and announced once.

A firing alert is announced when it fires, again every `repeat_interval` of window time, and again
when it gets worse (`escalates`): its distance past the threshold has grown `escalate_by` times
since it was last announced. A higher severity is an alert of its own (severity is one of its
labels), announced when it fires.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

from watchkeeper.timeutil import parse_utc

Judgement = Literal["holds", "clear", "unjudged", "awaiting"]
Transition = Literal["fired", "resolved"]
Status = Literal["inactive", "pending", "firing"]

CLEARED = "the condition no longer holds"
NOT_EVALUATED = "no longer evaluated"
RETRACTED = "retracted: the window's re-evaluation no longer fires it"


def judgement(outcome: bool | None, *, awaiting: bool) -> Judgement:
    """How a window judged a rule: its condition's outcome, and for an unknown outcome whether the
    figures it lacked are still to come with the window's labels."""
    if outcome is True:
        return "holds"
    if outcome is False:
        return "clear"
    return "awaiting" if awaiting else "unjudged"


@dataclass(frozen=True)
class AlertMemory:
    """What an alert remembers from one window to the next (stored as JSON after each window)."""

    status: Status = "inactive"
    count: int = 0  # windows in a row the condition held
    fired_at: datetime | None = None  # window end of the window this episode started firing in
    notified: bool = False  # this episode's firing was announced
    notified_at: datetime | None = None  # window end of the latest announcement
    notified_excess: float | None = None  # how far past its threshold it was then
    unjudged: int = 0  # windows in a row a firing alert was not judged
    # Window end of the first of the windows in a row that awaited their labels (while live).
    awaiting_since: datetime | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AlertMemory:
        status = data.get("status", "inactive")
        excess = data.get("notified_excess")
        return cls(
            status=status if status in ("pending", "firing") else "inactive",
            count=int(data.get("count") or 0),
            fired_at=parse_utc(data.get("fired_at")),
            notified=data.get("notified") == "firing",
            notified_at=parse_utc(data.get("notified_at")),
            notified_excess=None if excess is None else float(excess),
            unjudged=int(data.get("unjudged") or 0),
            awaiting_since=parse_utc(data.get("awaiting_since")),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "count": self.count,
            "fired_at": None if self.fired_at is None else self.fired_at.isoformat(),
            "notified": "firing" if self.notified else None,
            "notified_at": None if self.notified_at is None else self.notified_at.isoformat(),
            "notified_excess": self.notified_excess,
            "unjudged": self.unjudged,
            "awaiting_since": None if self.awaiting_since is None else self.awaiting_since.isoformat(),
        }

    def announced(self, window_end: datetime, excess: float | None) -> AlertMemory:
        return replace(self, notified=True, notified_at=window_end, notified_excess=excess)


@dataclass(frozen=True)
class Step:
    """An alert's memory after a window, and the transition it made there (if any)."""

    memory: AlertMemory
    transition: Transition | None = None
    reason: str | None = None  # why it resolved


def step(
    memory: AlertMemory, judged: Judgement, *, for_: int, resolve_after: int, window_end: datetime
) -> Step:
    """One window of the lifecycle (see the module docstring)."""
    if judged == "awaiting":
        if memory.status == "inactive" or memory.awaiting_since is not None:
            return Step(memory)
        return Step(replace(memory, awaiting_since=window_end))
    if judged == "holds":
        count = memory.count + 1
        if count < for_:
            return Step(replace(memory, status="pending", count=count, unjudged=0, awaiting_since=None))
        if memory.status == "firing":
            return Step(replace(memory, count=count, unjudged=0, awaiting_since=None))
        fired = AlertMemory(status="firing", count=count, fired_at=window_end)
        return Step(fired, "fired")
    if memory.status != "firing":
        return Step(AlertMemory())
    if judged == "clear":
        return Step(AlertMemory(), "resolved", CLEARED)
    unjudged = memory.unjudged + 1
    if unjudged >= resolve_after:
        return Step(AlertMemory(), "resolved", NOT_EVALUATED)
    return Step(replace(memory, unjudged=unjudged, awaiting_since=None))


def awaits_in_vain(memory: AlertMemory, labels_complete_until: datetime | None) -> bool:
    """Whether a live alert has been awaiting labels since a window whose labels are now all in
    (its lag has passed) without that window ever judging it: labels that stopped coming."""
    since = memory.awaiting_since
    return since is not None and labels_complete_until is not None and since <= labels_complete_until


def excess(op: str, value: float | None, threshold: float | None) -> float | None:
    """How far `value` is past `threshold` in the direction the condition fires (None: no such
    direction, e.g. `== 1`)."""
    if value is None or threshold is None or value != value or threshold != threshold:
        return None
    if op in (">", ">="):
        return float(value - threshold)
    if op in ("<", "<="):
        return float(threshold - value)
    return None


def escalates(now: float | None, announced: float | None, factor: float | None) -> bool:
    """Whether a firing alert got worse enough since its last announcement to be announced again:
    its distance past the threshold grew to at least `factor` times what it was (from exactly on
    the threshold, any distance past it)."""
    if factor is None or now is None or announced is None or now <= announced:
        return False
    return now >= factor * announced
