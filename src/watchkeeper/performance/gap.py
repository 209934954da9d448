"""The gap test for concept drift: realized vs CBPE-estimated quality on the same labeled rows.

CBPE's estimate holds while P(y|x) is the reference's, so a realized figure outside the estimate's
band (± `standard_errors` SE, widened by `GapConfig.tolerance` for the reference calibration's own
error) says P(y|x) has changed. Covariate shift moves both figures together and leaves the gap
closed. With fewer than `GapConfig.min_labeled` labeled rows the gap is reported but not judged.

Regression (`measure_regression_gaps`): the same test with DLE's estimate of MAE / RMSE, the band
widened by `GapConfig.regression_tolerance` times the estimate (the loss model's own error).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from watchkeeper.performance.baseline import PerformanceBaseline
from watchkeeper.performance.config import GapConfig, PerformanceConfig
from watchkeeper.performance.dle import DLEEstimator
from watchkeeper.performance.inputs import PreparedRows, compute_realized
from watchkeeper.performance.metrics import MetricValue
from watchkeeper.schema import TaskType


@dataclass(frozen=True)
class GapResult:
    """Realized vs estimated on the same labeled rows; `drift` when outside the widened band."""

    metric: str
    realized: float | None
    estimated: float | None
    lower: float | None
    upper: float | None
    gap: float | None
    drift: bool
    judged: bool
    status: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def measure_gaps(
    rows: PreparedRows,
    baseline: PerformanceBaseline,
    config: PerformanceConfig,
    task: TaskType,
    realized: dict[str, MetricValue],
) -> dict[str, GapResult]:
    """One `GapResult` per `GapConfig.metrics`; empty without CBPE or usable probabilities.

    `realized` is the window's realized figures, reused when every labeled row takes part.
    """
    cbpe = baseline.cbpe
    if cbpe is None or not config.gap.enabled or rows.proba is None or rows.proba_issue is not None:
        return {}
    assert rows.proba_ok is not None
    sel_mask = rows.labeled & (rows.yhat >= 0) & (rows.y < rows.n_classes) & rows.proba_ok
    sel = np.flatnonzero(sel_mask)
    # Estimate on exactly the rows the realized figure uses: late labels need not be a random sample.
    est = cbpe.estimate(
        rows.proba[sel],
        rows.yhat[sel],
        calibrated=None if rows.calibrated is None else rows.calibrated[sel],
        order=rows.order,
        positions=sel,
    )
    if int(sel_mask.sum()) == int(rows.labeled.sum()):
        real = realized
    else:
        real, _ = compute_realized(rows, sel, task)
    out: dict[str, GapResult] = {}
    for m in config.gap.metrics:
        r, e = real.get(m), est.get(m)
        if r is None or e is None or r.value is None or e.value is None or e.std is None:
            why = (r.status if r is not None and r.value is None else None) or (
                e.status if e else "no estimate"
            )
            out[m] = GapResult(m, None, None, None, None, None, False, False, f"not judged: {why}")
            continue
        half = cbpe.standard_errors * e.std + config.gap.tolerance
        lower, upper = e.value - half, e.value + half
        gap = r.value - e.value
        judged = len(sel) >= config.gap.min_labeled
        drift = judged and not (lower <= r.value <= upper)
        if not judged:
            status = f"not judged: {len(sel)} labeled rows < {config.gap.min_labeled}"
        else:
            status = (
                f"realized {r.value:.4f} {'outside' if drift else 'within'} the estimate's band "
                f"[{lower:.4f}, {upper:.4f}] on {len(sel)} labeled rows"
            )
        out[m] = GapResult(m, r.value, e.value, lower, upper, gap, drift, judged, status)
    return out


def measure_regression_gaps(
    frame: pd.DataFrame,
    rows: PreparedRows,
    dle: DLEEstimator | None,
    config: GapConfig,
    task: TaskType,
    realized: dict[str, MetricValue],
) -> dict[str, GapResult]:
    """Realized vs DLE-estimated MAE / RMSE on the same labeled rows (the regression gap test)."""
    if dle is None or not config.enabled or task is not TaskType.REGRESSION:
        return {}
    sel = np.flatnonzero(rows.labeled & np.isfinite(rows.yhat) & np.isfinite(rows.y))
    if sel.size == 0:
        return {}
    est = dle.estimate(frame.iloc[sel], rows.yhat[sel])
    real = realized if sel.size == int(rows.labeled.sum()) else compute_realized(rows, sel, task)[0]
    out: dict[str, GapResult] = {}
    for m in config.regression_metrics:
        r, e = real.get(m), est.get(m)
        if r is None or e is None or r.value is None or e.value is None or e.std is None:
            out[m] = GapResult(m, None, None, None, None, None, False, False, "not judged: no estimate")
            continue
        half = dle.standard_errors * e.std + config.regression_tolerance * e.value
        lower, upper = e.value - half, e.value + half
        judged = sel.size >= config.min_labeled
        drift = judged and not (lower <= r.value <= upper)
        status = (
            f"not judged: {sel.size} labeled rows < {config.min_labeled}"
            if not judged
            else f"realized {r.value:.4g} {'outside' if drift else 'within'} DLE's band "
            f"[{lower:.4g}, {upper:.4g}] on {sel.size} labeled rows"
        )
        out[m] = GapResult(m, r.value, e.value, lower, upper, r.value - e.value, drift, judged, status)
    return out
