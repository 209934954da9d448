"""A parallel backfill's first half: windows evaluated independently, folded in window order after.

A backfill's windows are independent computations except for their stateful parts: the sequential
concept-drift detectors, the alert state, the retraining policy, and what reads earlier windows (the
drift-impact ranking, the late-label re-evaluations). So a backfill runs in two halves:

1. **prepare** (parallel, on the configured engine): `prepare_window(job, item)` reads one window
   from its source and runs every check on it, with the detectors deferred (`DEFER_DETECTORS`: the
   window's error stream is kept, not consumed). It runs the same in a thread and on a Dask worker:
   the job holds the config, the fitted references and the labels, the item only the window's bounds,
   and the worker reads its window itself; no frame travels. The job's labels are read once, up to
   the last window's end; each window joins those known at its own end (`Labels.as_of`), as its own
   run does, so a window prepared ahead equals the one evaluated in its turn.
2. **fold** (in window order): the monitor flow takes each prepared window where it would have
   evaluated it, feeds the detectors from the state the previous window left, ranks drift impact on
   the windows before it, judges alerts, logs to MLflow and decides on retraining, exactly as in a
   sequential backfill. A prepared window is used only if the reference it was judged against is
   still the one the flow would choose (a champion promoted mid-backfill changes it); otherwise the
   flow evaluates that window again itself.

Partitioned windows (beyond the memory budget) are not prepared here: each is evaluated in its turn,
its partitions spread over the engine.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from watchkeeper.checks import Check, EvidentlyReportCheck, Window
from watchkeeper.config import MonitorConfig
from watchkeeper.drift.html import EvidentlyInputs
from watchkeeper.monitoring import FittedChecks, WindowEvaluation, evaluate_window
from watchkeeper.performance import DEFER_DETECTORS
from watchkeeper.presentation import window_name
from watchkeeper.report import MonitoringReport
from watchkeeper.windows import Labels, WindowData, load_window, reevaluation_start

_log = logging.getLogger("watchkeeper.backfill")


@dataclass(frozen=True)
class BackfillJob:
    """What every window of a backfill shares (shipped once to each worker)."""

    config: MonitorConfig
    config_hash: str
    checks: tuple[Check, ...]  # without Evidently's page (rendered in the fold, after publishing)
    fitted: Mapping[str, FittedChecks]  # by reference key
    labels: Labels | None  # those that arrived up to the last window's end (every one in hindsight)
    evidently_report: bool  # take the samples for Evidently's page
    hindsight: bool = False  # join every label read, not those known at each window's end


@dataclass(frozen=True)
class WindowItem:
    """One window to prepare: its bounds and the reference it is judged against."""

    start: datetime
    end: datetime
    version: str | None  # the model version whose reference judges it (None: the champion)
    reference_key: str


class PreparedWindow:
    """A window evaluated ahead of its turn; the detectors have not consumed it yet.

    A plain slotted class: handed to the monitor flow in-process, it stays out of the flow run's
    recorded parameters (Prefect stores ``<PreparedWindow>`` instead of the whole evaluation).
    """

    __slots__ = ("end", "evaluation", "human_report", "reference_key", "start", "version")

    def __init__(
        self,
        start: datetime,
        end: datetime,
        version: str | None,
        reference_key: str,
        evaluation: WindowEvaluation,
        human_report: tuple[EvidentlyInputs, ...],
    ) -> None:
        self.start = start
        self.end = end
        self.version = version
        self.reference_key = reference_key
        self.evaluation = evaluation
        self.human_report = human_report

    def __repr__(self) -> str:
        return f"PreparedWindow({self.start.isoformat()} → {self.end.isoformat()})"

    def __reduce__(self) -> tuple[type[PreparedWindow], tuple[object, ...]]:  # back from a worker
        return PreparedWindow, (
            self.start,
            self.end,
            self.version,
            self.reference_key,
            self.evaluation,
            self.human_report,
        )


def backfill_row(report: MonitoringReport, *, prepared_ahead: bool) -> dict[str, Any]:
    """One window of a backfill's result (the CLI prints its name and verdict): the window's name
    beside its ISO end."""
    return {
        "window": report.window_name,
        "window_end": report.window_end.isoformat(),
        "verdict": report.verdict.label,
        "mlflow_run_id": report.mlflow_run_id,
        "prepared_ahead": prepared_ahead,
    }


def labels_complete(config: MonitorConfig, end: datetime, as_of: datetime) -> bool:
    """Whether a window's labels are all in at `as_of` (its label lag has passed)."""
    return end + config.window.label_lag <= as_of


def prepare_or_skip(job: BackfillJob, item: WindowItem) -> PreparedWindow | None:
    """`prepare_window`, or None where it fails: the window is then evaluated in its turn, where the
    failure (a missing or corrupt file) stops the backfill as it stops a sequential one."""
    try:
        return prepare_window(job, item)
    except Exception as exc:
        _log.warning(
            "window %s not prepared ahead (%s: %s); it is evaluated in its turn",
            window_name(job.config.model.name, item.start, item.end, job.config.window.timezone),
            type(exc).__name__,
            exc,
        )
        return None


def window_labels(job: BackfillJob, item: WindowItem) -> Labels | None:
    """The labels the window's own run joins: those that arrived between the earliest window that run
    looks at and the window's end (its "now"), cut from the job's; all of them in hindsight."""
    if job.labels is None or job.hindsight:
        return job.labels
    return job.labels.as_of(item.end, since=reevaluation_start(job.config, item.start))


def prepare_window(job: BackfillJob, item: WindowItem) -> PreparedWindow:
    """Evaluate one window as its own run would ("now" is the window's end), detectors deferred."""
    config = job.config
    fitted = job.fitted[item.reference_key]
    complete = labels_complete(config, item.end, item.end)
    human: list[EvidentlyInputs] = []
    labels = window_labels(job, item)

    def load() -> WindowData:
        data = load_window(config, item.start, item.end, labels=labels)
        if job.evidently_report:
            window = Window(config, item.start, item.end, data.frame, labels_complete=complete, state={})
            inputs = EvidentlyReportCheck().prepare(fitted.get(EvidentlyReportCheck.name), window)
            if inputs is not None:
                human.append(inputs)
        return data

    evaluation = evaluate_window(
        job.checks,
        fitted,
        config=config,
        config_hash=job.config_hash,
        start=item.start,
        end=item.end,
        load=load,
        labels_complete=complete,
        state={"perf": DEFER_DETECTORS},
    )
    return PreparedWindow(item.start, item.end, item.version, item.reference_key, evaluation, tuple(human))
