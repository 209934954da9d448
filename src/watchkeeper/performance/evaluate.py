"""Performance of one window: `evaluate_performance(window, baseline, ...) -> PerformanceReport`.

The per-window half of the section (the per-reference half is `fit_performance_baseline` in
baseline.py). It wires the steps, in order: the window's arrays (inputs.py), realized figures,
CBPE estimates on every row, the gap test (gap.py), the sequential detectors (streams.py), the
same figures per model version (grouping.py), and the findings (judgement.py).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from watchkeeper.performance.baseline import PerformanceBaseline
from watchkeeper.performance.cbpe import Estimate
from watchkeeper.performance.config import ESTIMATED_METRICS, PerformanceConfig, default_primary_metric
from watchkeeper.performance.gap import measure_gaps, measure_regression_gaps
from watchkeeper.performance.grouping import group_by_version
from watchkeeper.performance.inputs import PreparedRows, compute_realized, is_classification, prepare_rows
from watchkeeper.performance.judgement import judge_performance
from watchkeeper.performance.metrics import every_row
from watchkeeper.performance.report import PerformanceReport, VersionPerformance
from watchkeeper.performance.streams import PendingDetectors, consume_stream, decide_feed, error_stream
from watchkeeper.schema import ColumnsConfig, TaskType


def evaluate_performance(
    window: pd.DataFrame,
    baseline: PerformanceBaseline,
    *,
    columns: ColumnsConfig,
    task: TaskType,
    config: PerformanceConfig,
    detector_state: dict[str, Any] | DeferDetectors | None = None,
    labels_complete: bool | None = None,
    unmatched_labels: int = 0,
) -> PerformanceReport:
    """Evaluate one window (inference rows LEFT-joined with their labels; missing label = NaN/None).

    `detector_state` is the state returned in the previous window's ``report.detector_state`` (None
    at the start), or `DEFER_DETECTORS` to leave the detectors for `feed_pending_detectors`;
    `labels_complete` says whether this window's labels are all in (None: judged
    from the label coverage). `unmatched_labels` is the number of labels whose request id matched
    no inference row, reported so nothing is dropped silently.
    """
    if baseline.task is not task:
        raise ValueError(f"baseline was fitted for {baseline.task.value}, not {task.value}")
    rows = prepare_rows(
        window, columns=columns, task=task, classes=baseline.classes, threshold=config.decision_threshold
    )
    realized, cm = compute_realized(rows, np.arange(rows.n), task)
    n_labeled = int(rows.labeled.sum())
    notes = list(rows.notes)
    if unmatched_labels:
        notes.append(
            f"{unmatched_labels} label(s) matched no inference row in this window (unknown request id)"
        )
    rows, estimated = _estimate_window(rows, baseline, task)
    gaps = measure_gaps(rows, baseline, config, task, realized)
    if task is TaskType.REGRESSION and baseline.dle is not None:
        estimated = baseline.dle.estimate(window, rows.yhat)
        gaps = measure_regression_gaps(window, rows, baseline.dle, config.gap, task, realized)
    feed, why_not = decide_feed(rows.n, n_labeled, labels_complete, config)
    pending = PendingDetectors(
        error_stream(rows, baseline) if feed else None, feed, why_not, baseline.fingerprint(), config
    )
    by_version = {
        version: _measure_version(rows, idx, baseline, task)
        for version, idx in group_by_version(window, columns.model_version)
    }
    report = PerformanceReport(
        task=task,
        primary_metric=config.primary_metric or default_primary_metric(task),
        n_rows=rows.n,
        n_labeled=n_labeled,
        realized=realized,
        confusion_matrix=cm,
        estimated=estimated,
        bands=dict(baseline.bands),
        gaps=gaps,
        detectors={},
        detectors_fed=False,
        detector_status="pending: the detectors have not consumed this window yet",
        detector_state={},
        by_version=by_version,
        notes=tuple(notes),
        unmatched_labels=unmatched_labels,
        pending=pending,
    )
    if isinstance(detector_state, DeferDetectors):
        return report
    return feed_pending_detectors(report, detector_state)


@dataclass(frozen=True)
class DeferDetectors:
    """Passed as `detector_state`: evaluate the window now and feed the detectors later, in window
    order, with `feed_pending_detectors` (a parallel backfill prepares windows concurrently)."""


DEFER_DETECTORS = DeferDetectors()


def feed_pending_detectors(
    report: PerformanceReport, detector_state: dict[str, Any] | None
) -> PerformanceReport:
    """The window's report once its error stream has fed the detectors from `detector_state`, with its
    findings judged (a report whose detectors were fed already is returned unchanged)."""
    pending = report.pending
    if pending is None:
        return report
    detectors, new_state, fed, status = consume_stream(
        pending.stream, pending.fingerprint, pending.config, detector_state, pending.feed, pending.why_not
    )
    findings = judge_performance(
        realized=report.realized,
        estimated=report.estimated,
        bands=report.bands,
        gaps=report.gaps,
        detectors=detectors,
        config=pending.config,
        primary=report.primary_metric,
    )
    return replace(
        report,
        detectors=detectors,
        detectors_fed=fed,
        detector_status=status,
        detector_state=new_state,
        pending=None,
        _findings=tuple(findings),
    )


def _estimate_window(
    rows: PreparedRows, baseline: PerformanceBaseline, task: TaskType
) -> tuple[PreparedRows, dict[str, Estimate]]:
    """CBPE's estimates on every row, and the rows with their calibrated probabilities added."""
    if not is_classification(task):
        return rows, {}
    if baseline.cbpe is None:
        return rows, {m: Estimate.missing(f"CBPE {baseline.cbpe_status}") for m in ESTIMATED_METRICS}
    if rows.proba is None or rows.proba_issue is not None:
        return rows, {m: Estimate.missing(rows.proba_issue or "no probabilities") for m in ESTIMATED_METRICS}
    # Calibrated once: the estimates, the gap test and the error stream share it.
    calibrated = baseline.cbpe.calibrate(rows.proba)
    estimated = baseline.cbpe.estimate(rows.proba, rows.yhat, calibrated=calibrated, order=rows.order)
    return replace(rows, calibrated=calibrated), estimated


def _measure_version(
    rows: PreparedRows, idx: np.ndarray, baseline: PerformanceBaseline, task: TaskType
) -> VersionPerformance:
    """Realized and estimated figures of one model version's rows `idx`."""
    realized, _ = compute_realized(rows, idx, task)
    estimated: dict[str, Estimate] = {}
    if baseline.cbpe is not None and rows.proba is not None and rows.proba_issue is None:
        # One version in the window: its rows are the window's (CBPE keeps the window's estimates),
        # and no copy of the probabilities and predictions (~38 MB at 1M rows) is taken.
        whole = every_row(idx, rows.n)

        def pick(values: np.ndarray) -> np.ndarray:
            return values if whole else values[idx]

        estimated = baseline.cbpe.estimate(
            pick(rows.proba),
            pick(rows.yhat),
            calibrated=None if rows.calibrated is None else pick(rows.calibrated),
            order=rows.order,
            positions=None if whole else idx,
        )
    return VersionPerformance(int(idx.size), int(rows.labeled[idx].sum()), realized, estimated)
