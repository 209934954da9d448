"""What a model's dashboard shows, gathered from what was recorded (pure data, no I/O libraries).

Per window: the verdict and its reasons and the model versions (state database), and the figures
(the window's MLflow run when its metrics are given, else the copy the state database keeps). Over
time: alerts fired and resolved, retraining, promotions and rollbacks (the audit trail).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from watchkeeper.presentation import version_label
from watchkeeper.retraining.events import (
    EVENT_PROMOTED,
    EVENT_REJECTED,
    EVENT_RETRAIN_COMPLETED,
    EVENT_ROLLBACK,
)
from watchkeeper.state import StateStore
from watchkeeper.timeutil import as_utc, iso_z

ALERT_FIRED = "alert.fired"
ALERT_RESOLVED = "alert.resolved"
_SEVERITY_RANK = {"info": 1, "warning": 2, "critical": 3}
# Audit events drawn as marks on every time axis, with their label.
LIFECYCLE_EVENTS = {
    EVENT_RETRAIN_COMPLETED: "retrained",
    EVENT_PROMOTED: "promoted",
    EVENT_REJECTED: "rejected",
    EVENT_ROLLBACK: "rolled back",
}


@dataclass(frozen=True)
class DashboardWindow:
    """One evaluated window: its latest verdict, reasons, versions and figures (dotted names)."""

    start: datetime
    end: datetime
    verdict: str
    reasons: tuple[str, ...]
    model_versions: tuple[str, ...]
    figures: Mapping[str, float]
    mlflow_run_id: str | None = None
    figures_source: str = "state"  # "mlflow" when the figures are the MLflow run's metrics
    hindsight: bool = False  # judged with every label on disk, not the labels known at the time

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": iso_z(self.start),
            "end": iso_z(self.end),
            "verdict": self.verdict,
            "reasons": list(self.reasons),
            "model_versions": list(self.model_versions),
            "mlflow_run_id": self.mlflow_run_id,
            "figures_source": self.figures_source,
            "hindsight": self.hindsight,
            "figures": dict(self.figures),
        }


@dataclass(frozen=True)
class DashboardEvent:
    """Something a window's run did: an alert transition or a model lifecycle step (`at`: the
    window's start)."""

    at: datetime
    kind: str  # "alert.fired", "alert.resolved" or a LIFECYCLE_EVENTS label
    label: str  # the alert rule, or "v2"
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"at": iso_z(self.at), "kind": self.kind, "label": self.label, "detail": self.detail}


@dataclass(frozen=True)
class DashboardData:
    model: str
    generated_at: datetime
    windows: tuple[DashboardWindow, ...]
    events: tuple[DashboardEvent, ...] = field(default_factory=tuple)
    timezone: str = "UTC"  # the model's calendar, which windows are named in

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "generated_at": iso_z(self.generated_at),
            "timezone": self.timezone,
            "windows": [w.to_dict() for w in self.windows],
            "events": [e.to_dict() for e in self.events],
        }


def figures_from_metrics(metrics: Mapping[str, float]) -> dict[str, float]:
    """MLflow metric keys back to figure names: ``drift/age/score`` → ``drift.age.score``."""
    return {key.replace("/", "."): float(value) for key, value in metrics.items()}


def collect_dashboard_data(
    store: StateStore,
    model: str,
    *,
    now: datetime,
    since: datetime | timedelta | None = None,
    run_metrics: Mapping[str, Mapping[str, float]] | None = None,
    timezone: str = "UTC",
) -> DashboardData:
    """The dashboard's data for `model` from the state database, windows ending after `since` (a
    time, or a duration before the latest window's end: ``30d`` of a replayed past still shows).

    `run_metrics` maps MLflow run ids to their latest metrics (MLflow keys); a window whose run is
    there shows the MLflow figures, so the page and the MLflow UI agree. Windows are named in
    `timezone`, the model's calendar.
    """
    run_metrics = run_metrics or {}
    recorded = store.list_windows(model)
    if isinstance(since, timedelta):
        since = recorded[-1]["window_end"] - since if recorded else None
    since = as_utc(since)
    windows = []
    for row in recorded:
        if since is not None and row["window_end"] <= since:
            continue
        summary = row["summary"]
        run_id = row.get("mlflow_run_id")
        if run_id and run_id in run_metrics:
            figures, source = figures_from_metrics(run_metrics[run_id]), "mlflow"
        else:
            figures, source = dict(summary.get("figures") or {}), "state"
        windows.append(
            DashboardWindow(
                start=row["window_start"],
                end=row["window_end"],
                verdict=row["verdict"],
                reasons=tuple(summary.get("reasons") or ()),
                model_versions=tuple(str(v) for v in summary.get("model_versions") or ()),
                figures=figures,
                mlflow_run_id=run_id,
                figures_source=source,
                hindsight=bool(summary.get("hindsight")),
            )
        )
    # Events are drawn at the start of the window whose run caused them, like the window's bar.
    starts = {w.end: w.start for w in windows}
    events: list[DashboardEvent] = []
    # One marker per rule, window and transition: the highest severity's (a rule's critical line
    # firing with its warning line is one alert to the reader, as in every other view).
    alert_at: dict[tuple[datetime, str, str], tuple[int, int]] = {}
    for entry in store.read_audit(model=model):
        end = entry["window_end"]
        at = entry["window_start"] or starts.get(end) or end or entry["at"]
        if since is not None and at <= since:
            continue
        evidence = entry["evidence"]
        if entry["event"] in (ALERT_FIRED, ALERT_RESOLVED):
            rule = str(evidence.get("rule", "?"))
            severity = evidence.get("severity", "")
            value, threshold = evidence.get("value"), evidence.get("threshold")
            detail = f"{severity} {evidence.get('metric', '')} = {value} (threshold {threshold})"
            if entry["event"] == ALERT_RESOLVED and evidence.get("reason"):
                detail = f"{detail}; resolved: {evidence['reason']}"
            event = DashboardEvent(at, entry["event"], f"{rule} ({severity})", detail.strip())
            rank = _SEVERITY_RANK.get(str(severity), 0)
            key = (at, entry["event"], rule)
            if key in alert_at:
                if rank > alert_at[key][0]:
                    events[alert_at[key][1]] = event
                    alert_at[key] = (rank, alert_at[key][1])
                continue
            alert_at[key] = (rank, len(events))
            events.append(event)
        elif entry["event"] in LIFECYCLE_EVENTS:
            version = evidence.get("version")
            label = version_label(str(version)) if version is not None else ""
            events.append(
                DashboardEvent(at, LIFECYCLE_EVENTS[entry["event"]], label, "; ".join(entry["reasons"]))
            )
    return DashboardData(
        model=model, generated_at=now, windows=tuple(windows), events=tuple(events), timezone=timezone
    )
