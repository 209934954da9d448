"""What a notification says: alert events grouped into one message per model and run.

Plain, JSON-round-trippable data: a message waits in the outbox as JSON and is rendered for its
channel (Block Kit, a webhook payload, PagerDuty events, console text) only when it is sent, so a
notification retried on a later run looks exactly like the one that failed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from watchkeeper.timeutil import parse_utc
from watchkeeper.verdict import Severity

# A notice (a retraining started, a version promoted or rolled back) is news, not a problem: it is
# rendered without [FIRING] or a severity, never counted as firing and never resolved.
EventStatus = Literal["firing", "resolved", "notice"]


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def firing_since(fired_at: datetime | None, windows: int | None) -> str | None:
    """``firing since 2026-03-10 (3 windows)``: when the episode fired (the end of the window it
    fired in; the time only when not midnight UTC) and how many windows in a row its condition held."""
    if fired_at is None:
        return None
    when = (
        f"{fired_at:%Y-%m-%d}"
        if (fired_at.hour, fired_at.minute) == (0, 0)
        else f"{fired_at:%Y-%m-%d %H:%M} UTC"
    )
    held = "" if not windows else f" ({windows} window{'s' if windows != 1 else ''})"
    return f"firing since {when}{held}"


@dataclass(frozen=True)
class AlertEvent:
    """One alert changing (or repeating) its announced state in one window."""

    fingerprint: str
    rule: str
    status: EventStatus
    severity: str
    labels: dict[str, str]
    summary: str
    condition: str
    metric: str
    value: float | None
    op: str
    threshold: float | None
    window_end: datetime
    description: str | None = None
    runbook_url: str | None = None
    fired_at: datetime | None = None  # window_end of the window it started firing in
    repeat: bool = False
    details: tuple[str, ...] = ()  # e.g. the drifted columns behind a drift alert
    # Announced again because it got worse (`alerts.escalate_by`), not because time passed.
    escalated: bool = False
    # The numbers behind the rule, one sentence each: the sections' own findings of the rule (the
    # failed expectations with their column, share and examples; realized against the estimate's
    # band), the band, realized against estimated, the features with the most impact.
    evidence: tuple[str, ...] = ()
    # Windows in a row its condition has held (the episode's length while it fires).
    windows: int | None = None

    @property
    def is_notice(self) -> bool:
        return self.status == "notice"

    @property
    def severity_level(self) -> Severity:
        return Severity.parse(self.severity)

    def key(self, channel: str) -> str:
        """Idempotency key: the same alert, state, window and channel is notified at most once."""
        return f"{self.fingerprint}:{self.status}:{self.window_end.isoformat()}:{channel}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint,
            "rule": self.rule,
            "status": self.status,
            "severity": self.severity,
            "labels": dict(self.labels),
            "summary": self.summary,
            "description": self.description,
            "runbook_url": self.runbook_url,
            "condition": self.condition,
            "metric": self.metric,
            "value": self.value,
            "op": self.op,
            "threshold": self.threshold,
            "window_end": _iso(self.window_end),
            "fired_at": _iso(self.fired_at),
            "repeat": self.repeat,
            "escalated": self.escalated,
            "details": list(self.details),
            "evidence": list(self.evidence),
            "windows": self.windows,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AlertEvent:
        window_end = parse_utc(data["window_end"])
        assert window_end is not None
        return cls(
            fingerprint=data["fingerprint"],
            rule=data["rule"],
            status=data["status"],
            severity=data["severity"],
            labels=dict(data["labels"]),
            summary=data["summary"],
            description=data.get("description"),
            runbook_url=data.get("runbook_url"),
            condition=data["condition"],
            metric=data["metric"],
            value=data.get("value"),
            op=data["op"],
            threshold=data.get("threshold"),
            window_end=window_end,
            fired_at=parse_utc(data.get("fired_at")),
            repeat=bool(data.get("repeat", False)),
            escalated=bool(data.get("escalated", False)),
            details=tuple(data.get("details", ())),
            evidence=tuple(data.get("evidence", ())),
            windows=data.get("windows"),
        )


@dataclass(frozen=True)
class AlertMessage:
    """The events of one model and window for one channel, with links for the reader."""

    model: str
    window_end: datetime
    events: tuple[AlertEvent, ...]
    model_version: str | None = None
    window_start: datetime | None = None
    mlflow_run_url: str | None = None
    prefect_flow_run_url: str | None = None
    # The window's own verdict and how many alerts fire in it (every rule, announced or not): the
    # header says the same as the window's report, whichever events this message carries.
    verdict: str | None = None
    window_firing: int | None = None
    # Judged with every label known today (`--hindsight`), not as of the window's evaluation.
    hindsight: bool = False
    # The model's calendar: the window's name (`presentation.window_name`) is written in it.
    timezone: str = "UTC"
    dashboard_url: str | None = None

    @property
    def firing(self) -> tuple[AlertEvent, ...]:
        return tuple(e for e in self.events if e.status == "firing")

    @property
    def resolved(self) -> tuple[AlertEvent, ...]:
        return tuple(e for e in self.events if e.status == "resolved")

    @property
    def notices(self) -> tuple[AlertEvent, ...]:
        return tuple(e for e in self.events if e.is_notice)

    @property
    def status(self) -> EventStatus:
        if self.firing:
            return "firing"
        return "notice" if self.notices and not self.resolved else "resolved"

    @property
    def severity(self) -> Severity:
        return max((e.severity_level for e in self.firing), default=Severity.OK)

    def with_events(self, events: tuple[AlertEvent, ...]) -> AlertMessage:
        return AlertMessage(
            model=self.model,
            window_end=self.window_end,
            events=events,
            model_version=self.model_version,
            window_start=self.window_start,
            mlflow_run_url=self.mlflow_run_url,
            prefect_flow_run_url=self.prefect_flow_run_url,
            verdict=self.verdict,
            window_firing=self.window_firing,
            hindsight=self.hindsight,
            timezone=self.timezone,
            dashboard_url=self.dashboard_url,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "model_version": self.model_version,
            "window_start": _iso(self.window_start),
            "window_end": _iso(self.window_end),
            "mlflow_run_url": self.mlflow_run_url,
            "prefect_flow_run_url": self.prefect_flow_run_url,
            "verdict": self.verdict,
            "window_firing": self.window_firing,
            "hindsight": self.hindsight,
            "timezone": self.timezone,
            "dashboard_url": self.dashboard_url,
            "events": [e.to_dict() for e in self.events],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AlertMessage:
        window_end = parse_utc(data["window_end"])
        assert window_end is not None
        return cls(
            model=data["model"],
            model_version=data.get("model_version"),
            window_start=parse_utc(data.get("window_start")),
            window_end=window_end,
            mlflow_run_url=data.get("mlflow_run_url"),
            prefect_flow_run_url=data.get("prefect_flow_run_url"),
            verdict=data.get("verdict"),
            window_firing=data.get("window_firing"),
            hindsight=bool(data.get("hindsight", False)),
            timezone=data.get("timezone") or "UTC",
            dashboard_url=data.get("dashboard_url"),
            events=tuple(AlertEvent.from_dict(e) for e in data["events"]),
        )
