"""Per-segment results (``segments``) on a partitioned window: the window's states, grouped.

`watchkeeper.segments` evaluates, per value of each segment column, the segment's drift against its
own reference profile and its performance against its own baseline (with the whole reference's
CBPE). Those are the window's drift and perf sections on a subset of rows, so each partition keeps,
per (column, value) the reference has a fit for, the same partial state the window keeps
(`watchkeeper.partitioned.state.map_checks`: category counts, sketches, confusion counts, CBPE
sums) plus the rows of every value; the merged states are finalized by the same code as the
window's sections, and the multiple-testing correction across segments (`_correct_across_segments`)
runs on the finalized results as in memory. Exact and approximate figures are the window's
(counts exact, numerical drift and ROC AUC within their sketches' bounds), named under
``segments.<column>.<value>.``; the approximate ones are listed with their bounds.

A state's size grows with the segments: one numerical sketch (≈0.4 MB) per numerical feature and
tested segment, at most `segments.max_segments` per column.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from watchkeeper.config import MonitorConfig
from watchkeeper.partitioned.state import (
    ApproximateFigure,
    SketchPlan,
    WindowState,
    finalize_drift,
    finalize_performance,
    map_checks,
    plan_sketches,
)
from watchkeeper.segments import (
    SegmentResult,
    SegmentsFit,
    SegmentsReport,
    _correct_across_segments,
    segment_label,
)


def segment_labels(series: pd.Series) -> np.ndarray:
    """`watchkeeper.segments._labels` through the distinct values (one label per value, "" missing)."""
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    names = np.array([segment_label(v) for v in uniques] + [""], dtype=object)
    return names[codes]


@dataclass
class SegmentsState:
    """Rows per segment value (all values), and the partial state of every segment with a fit."""

    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    states: dict[tuple[str, str], WindowState] = field(default_factory=dict)

    def merge(self, other: SegmentsState) -> SegmentsState:
        counts = {c: dict(v) for c, v in self.counts.items()}
        for col, values in other.counts.items():
            mine = counts.setdefault(col, {})
            for label, n in values.items():
                mine[label] = mine.get(label, 0) + n
        states = dict(self.states)
        for key, st in other.states.items():
            states[key] = states[key].merge(st) if key in states else st
        return SegmentsState(counts, states)


@dataclass(frozen=True)
class SegmentsPlan:
    """The segments' fit and one `SketchPlan` per (column, value) with a drift profile."""

    fitted: SegmentsFit
    plans: dict[str, dict[str, SketchPlan]]
    labels_complete: bool

    def map(self, frame: pd.DataFrame) -> SegmentsState:
        out = SegmentsState()
        for col, plans in self.plans.items():
            if col not in frame.columns:
                continue
            labels = segment_labels(frame[col])
            values, counts = np.unique(labels[labels != ""], return_counts=True)
            out.counts[col] = {str(v): int(n) for v, n in zip(values, counts, strict=True)}
            for label, plan in plans.items():
                if label not in out.counts[col]:
                    continue
                part = frame.loc[labels == label]
                state = WindowState(rows=len(part))
                map_checks(plan, part, state)
                out.states[(col, label)] = state
        return out


def plan_segments(
    fitted: SegmentsFit, config: MonitorConfig, *, start: Any, end: Any, labels_complete: bool
) -> SegmentsPlan:
    seg_config = config.model_copy(update={"performance": fitted.performance_config})
    plans: dict[str, dict[str, SketchPlan]] = {}
    for col, fits in fitted.segments.items():
        plans[col] = {
            label: plan_sketches(seg_config, start=start, end=end, drift=fit.drift, perf=fit.baseline)
            for label, fit in fits.items()
            if fit.status == "ok" and fit.drift is not None
        }
    return SegmentsPlan(fitted, plans, labels_complete)


def finalize_segments(
    plan: SegmentsPlan, state: SegmentsState | None
) -> tuple[SegmentsReport, list[ApproximateFigure]]:
    """`evaluate_segments`'s report from the merged states (same statuses, same correction)."""
    fitted = plan.fitted
    state = state or SegmentsState()
    notes = [f"segment column {c!r} is missing from the reference" for c in fitted.missing]
    results: list[SegmentResult] = []
    approx: list[ApproximateFigure] = []
    cols = fitted.columns_config
    for col, fits in fitted.segments.items():
        if col not in state.counts:
            notes.append(f"segment column {col!r} is missing from the window")
            continue
        counts = state.counts[col]
        column_results: list[SegmentResult] = []
        for label in sorted(set(counts) | set(fits)):
            n = int(counts.get(label, 0))
            fit = fits.get(label)
            if fit is None:
                column_results.append(SegmentResult(col, label, n, 0, "not tested: not in the reference"))
                continue
            if fit.status != "ok" or fit.drift is None:
                column_results.append(SegmentResult(col, label, n, fit.n_reference, fit.status))
                continue
            if n < fitted.config.min_rows:
                why = f"too small: {n} rows in the window < {fitted.config.min_rows}"
                column_results.append(SegmentResult(col, label, n, fit.n_reference, why))
                continue
            sub, seg = plan.plans[col][label], state.states[(col, label)]
            prefix = f"segments.{col}.{label}."
            try:
                drift, found = finalize_drift(sub, fit.drift, seg, True)
                perf = None
                if fit.baseline is not None:
                    fed = plan.labels_complete and cols.timestamp is not None
                    perf, more = finalize_performance(sub, fit.baseline, seg, segment_fed=fed)
                    found = found + more
            except Exception as exc:  # one odd segment must not sink the others
                column_results.append(
                    SegmentResult(col, label, n, fit.n_reference, f"failed: {type(exc).__name__}: {exc}")
                )
                continue
            # Drift decisions are taken after the correction across segments: the raw threshold's
            # certainty does not carry over, so only the bounds are kept.
            approx.extend(replace(a, figure=prefix + a.figure, decision_exact=None) for a in found)
            column_results.append(SegmentResult(col, label, n, fit.n_reference, "ok", drift, perf))
        results.extend(
            _correct_across_segments(column_results, fitted.config.correction, fitted.drift_config)
        )
    return SegmentsReport(tuple(results), fitted.config.correction, tuple(notes)), approx
