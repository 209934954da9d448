"""An MLflow outage in a flow run: bounded (a circuit breaker on the client), visible (state, alert).

`open_tracking` (tasks/tracking_tasks.py) sets MLflow's HTTP timeout and retries from the config
(`watchkeeper.outage.mlflow_http_env`) and wraps the client in `GuardedClient`: after the first call
that could not reach the server, every later call of the run fails at once with
`TrackingUnavailable` instead of waiting out MLflow's retries again (the registry lookups, the
window's run, the spool, the retraining policy all share the client). The report is spooled; the
run ends in the state `run_final_state` gives (Completed, named "TrackingUnavailable": the Prefect
UI shows it apart from a clean success) and `notify_tracking_unavailable` sends the
`tracking_unavailable` alert through the outbox.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from prefect.states import Completed, State

from tasks.presentation_tasks import verdict_state
from watchkeeper.alerting.delivery import deliver
from watchkeeper.config import MonitorConfig, TrackingConfig
from watchkeeper.outage import is_unreachable, mlflow_http_env, tracking_unavailable_message
from watchkeeper.presentation import RunVerdict
from watchkeeper.redaction import redact
from watchkeeper.report import MonitoringReport
from watchkeeper.state import StateStore
from watchkeeper.timeutil import utcnow

log = logging.getLogger("watchkeeper.tracking")

TRACKING_UNAVAILABLE_STATE = "TrackingUnavailable"


class TrackingUnavailable(RuntimeError):
    """MLflow was found unreachable earlier in this run; the call was not tried."""


@dataclass
class TrackingOutage:
    """What one run saw of the tracking server: the first unreachable call, spooled and quarantined
    files. Mutable on purpose: every step of the run shares it through its `Tracking`."""

    error: str | None = None
    spooled: list[str] = field(default_factory=list)
    quarantined: list[str] = field(default_factory=list)

    @property
    def down(self) -> bool:
        return self.error is not None

    def record(self, exc: BaseException) -> None:
        if self.error is None:
            self.error = redact(f"{type(exc).__name__}: {exc}")[:500]
            log.error("MLflow unreachable; no more MLflow calls in this run: %s", self.error)


class GuardedClient:
    """An `MlflowClient` that stops calling the server for the rest of the run once it was unreachable."""

    def __init__(self, client: Any, outage: TrackingOutage) -> None:
        self._client = client
        self._outage = outage

    def __getattr__(self, name: str) -> Any:
        if name in ("_client", "_outage") or name.startswith("__"):
            # Not set yet (an unpickled copy, e.g. on a Dask worker, asks for `__setstate__` first):
            # never looked up on the wrapped client, which would recurse.
            raise AttributeError(name)
        attr = getattr(self._client, name)
        if not callable(attr):
            return attr
        outage = self._outage

        def guarded(*args: Any, **kwargs: Any) -> Any:
            if outage.down:
                raise TrackingUnavailable(f"MLflow unavailable earlier in this run ({outage.error})")
            try:
                return attr(*args, **kwargs)
            except Exception as exc:
                if not is_unreachable(exc):
                    raise
                outage.record(exc)
                # Raised anew, without the chain: MLflow's text names the URL, password included,
                # and Prefect stores and shows the exception of a failed task as it is.
                raise TrackingUnavailable(
                    redact(f"MLflow unreachable: {type(exc).__name__}: {exc}")
                ) from None

        return guarded


_APPLIED: dict[str, str] = {}  # what this process set, so a later run's config can change it


def apply_mlflow_http_settings(config: TrackingConfig) -> dict[str, str]:
    """Set MLflow's HTTP timeout/retry env vars for this process (those the operator set win)."""
    settings = mlflow_http_env(
        timeout_s=config.http_timeout_s,
        max_retries=config.http_max_retries,
        backoff_factor=config.http_backoff_factor,
        environ=os.environ,
        ours=_APPLIED,
    )
    os.environ.update(settings)
    _APPLIED.update(settings)
    return settings


def should_retry_logging(_task: Any, _task_run: Any, state: State) -> bool:
    """Prefect `retry_condition_fn`: retry a failed MLflow write, unless MLflow is unreachable
    (MLflow's client retried already; waiting more only stretches the outage)."""
    try:
        exc = state.result(raise_on_failure=False)
    except Exception:  # the result itself cannot be read: retrying is the safe default
        return True
    return not (
        isinstance(exc, TrackingUnavailable) or (isinstance(exc, BaseException) and is_unreachable(exc))
    )


def with_tracking_notes(report: MonitoringReport, outage: TrackingOutage) -> MonitoringReport:
    """The report with the outage and quarantined spool files named in its errors (`tracking`)."""
    notes = []
    if outage.down:
        notes.append(f"MLflow unavailable ({outage.error}); report spooled for a later run")
    notes += [f"unreadable spool file moved to {path}" for path in outage.quarantined]
    if not notes:
        return report
    return replace(report, errors={**report.errors, "tracking": "; ".join(notes)})


def notify_tracking_unavailable(
    config: MonitorConfig,
    report: MonitoringReport,
    outage: TrackingOutage,
    *,
    store: StateStore,
    channels: Sequence[Any],
) -> list[dict[str, Any]]:
    """Send the window's `tracking_unavailable` alert (once per window: the outbox's idempotency key)."""
    if not outage.down:
        return []
    message = tracking_unavailable_message(
        model=config.model.name,
        window_end=report.window_end,
        error=outage.error or "",
        spooled=outage.spooled,
        quarantined=outage.quarantined,
    )
    records = []
    for channel in channels:
        try:
            record = deliver(store, channel, message, delivery=config.alerts.delivery, now=utcnow())
        except Exception as exc:  # alerting trouble must not hide the outage from the run's state
            log.error("could not send tracking_unavailable to %s: %s", channel.name, type(exc).__name__)
            continue
        if record is not None:
            records.append(record.to_dict())
    return records


def run_final_state(
    report: MonitoringReport, outage: TrackingOutage, outcome: RunVerdict | None = None
) -> State:
    """The monitor run's final state, carrying the window's report (callers of the flow still get it):
    the run's verdict's (`verdict_state`; `outcome` counts the re-evaluated windows), or — MLflow
    down — a Completed state named `TrackingUnavailable`, its message led by that verdict.
    """
    if not outage.down:
        return verdict_state(report, outcome)
    verdict = outcome.verdict if outcome is not None else report.verdict
    return Completed(
        data=report,
        name=TRACKING_UNAVAILABLE_STATE,
        message=f"{verdict.label}; MLflow unavailable: report spooled ({len(outage.spooled)})",
    )
