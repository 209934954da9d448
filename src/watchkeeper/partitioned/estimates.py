"""CBPE's estimates and the gap test on a partitioned window, from mergeable sums.

CBPE (`watchkeeper.performance.cbpe`) estimates a window's confusion matrix from calibrated
probabilities: every figure but the expected ROC AUC is a function of a few sums over rows (per
class: expected true positives Σ p over rows predicted k, expected false negatives, their
variances Σ p(1 − p), predicted positives; for accuracy Σ c and Σ c(1 − c) of each row's
probability of its predicted class). `CBPEState` keeps those sums per partition; they add, so the
estimates, standard errors and bands are the in-memory ones up to floating-point rounding. The
formulas below are `CBPEEstimator.estimate`'s, from sums instead of rows.

The expected ROC AUC ranks rows by their raw score: `ExpectedAUCSketch`
(`watchkeeper.partitioned.sketch`) keeps per score bin the sums of p, of 1 − p and of p(1 − p), and
the estimate and its bound come from there. Its standard error (Hanley–McNeil) and band are
functions of the AUC, bracketed over the AUC's interval (`hanley_mcneil_bounds`).

The gap test (`watchkeeper.performance.gap.measure_gaps`) compares the realized figure with the
estimate on the same labeled rows: both come from states of those rows (the labeled rows with a
prediction, a known label and a finite score), so the gap is exact for accuracy and bounded for
ROC AUC, and the report says whether the decision could differ from the exact one.

DLE (`watchkeeper.performance.dle`, regression): a row's predicted losses come from the loss models
and that row's features and prediction alone, and the estimates are their means: `DLEState` keeps
the sums, so the estimates and the regression gap test are exact up to float rounding.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from watchkeeper.partitioned.sketch import ROUNDING, SCORE_BINS, Bounded, ExpectedAUCSketch
from watchkeeper.performance.cbpe import CBPEEstimator, Estimate
from watchkeeper.performance.config import ESTIMATED_METRICS
from watchkeeper.performance.dle import DLEEstimator

PER_CLASS = ("tp", "fn", "var_a", "var_b", "n_pp")
_MISSING_WHY = {
    "precision": "no positive predictions",
    "recall": "no expected positives",
    "f1": "no expected positives or predictions",
    "roc_auc": "expected labels are a single class",
}


@dataclass
class CBPEState:
    """CBPE's sums over some rows (the window, a model version, the gap test's rows)."""

    n: int = 0  # rows with a prediction and a finite score
    n_rows: int = 0  # rows considered
    accuracy: np.ndarray = field(default_factory=lambda: np.zeros(2))  # Σ c, Σ c(1 − c)
    per_class: np.ndarray = field(default_factory=lambda: np.zeros((0, len(PER_CLASS))))
    auc: ExpectedAUCSketch | None = None

    def merge(self, other: CBPEState) -> CBPEState:
        if self.auc is None or other.auc is None:  # an empty state (no rows, no classes yet)
            base = other if self.auc is None else self
            per_class, auc = base.per_class.copy(), base.auc
        else:
            per_class, auc = self.per_class + other.per_class, self.auc.merge(other.auc)
        return CBPEState(
            self.n + other.n, self.n_rows + other.n_rows, self.accuracy + other.accuracy, per_class, auc
        )


def cbpe_state(
    estimator: CBPEEstimator,
    raw: np.ndarray,
    calibrated: np.ndarray,
    yhat: np.ndarray,
    bins: int = SCORE_BINS,
) -> CBPEState:
    """The sums of rows with raw probabilities `raw` (n × K), their calibration and predicted codes."""
    ok = np.isfinite(raw).all(axis=1) & (yhat >= 0) & (yhat < len(estimator.classes))
    classes = [1] if estimator.binary else list(range(raw.shape[1]))
    out = CBPEState(n_rows=int(ok.size))
    out.auc = ExpectedAUCSketch.empty(len(classes), bins)
    out.per_class = np.zeros((len(classes), len(PER_CLASS)))
    n = int(ok.sum())
    out.n = n
    if n == 0:
        return out
    raw, cal, pred = raw[ok], calibrated[ok], yhat[ok]
    c = cal[np.arange(n), pred]
    out.accuracy = np.array([c.sum(), (c * (1 - c)).sum()])
    for j, k in enumerate(classes):
        p = cal[:, k]
        predicted = pred == k
        var = p * (1 - p)
        out.per_class[j] = [
            p[predicted].sum(),
            p[~predicted].sum(),
            var[predicted].sum(),
            var[~predicted].sum(),
            predicted.sum(),
        ]
        out.auc.add(j, raw[:, k], p)
    return out


def _band(value: float, std: float, z: float, status: str, n: int) -> Estimate:
    return Estimate(value, std, max(0.0, value - z * std), min(1.0, value + z * std), status, n)


@dataclass(frozen=True)
class EstimateBounds:
    """Intervals holding the exact value, lower and upper band edge of an approximate estimate."""

    value: Bounded
    std: Bounded
    lower: Bounded
    upper: Bounded


def hanley_mcneil_bounds(auc: Bounded, n_pos: float, n_neg: float) -> Bounded:
    """CBPE's Hanley–McNeil variance of the AUC, bracketed over the AUC's interval.

    Interval arithmetic on the formula's terms: a(1 − a) is concave (its range is exact);
    a/(2 − a), 2a²/(1 + a) and a² increase on [0, 1], so each difference of two of them lies between
    its value with one end taken low and the other high.
    """

    def var(a: float) -> float:
        q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
        v = (a * (1 - a) + (n_pos - 1) * (q1 - a * a) + (n_neg - 1) * (q2 - a * a)) / max(
            n_pos * n_neg, 1e-12
        )
        return max(v, 0.0)

    lo, hi = auc.low, auc.high
    t1 = sorted((lo * (1 - lo), hi * (1 - hi)))
    t1_hi = 0.25 if lo <= 0.5 <= hi else t1[1]
    d1 = (lo / (2 - lo) - hi * hi, hi / (2 - hi) - lo * lo)
    d2 = (2 * lo * lo / (1 + lo) - hi * hi, 2 * hi * hi / (1 + hi) - lo * lo)

    def scaled(c: float, iv: tuple[float, float]) -> tuple[float, float]:
        return (c * iv[0], c * iv[1]) if c >= 0 else (c * iv[1], c * iv[0])

    s1, s2 = scaled(n_pos - 1, d1), scaled(n_neg - 1, d2)
    denom = max(n_pos * n_neg, 1e-12)
    v_lo = max((t1[0] + s1[0] + s2[0]) / denom, 0.0)
    v_hi = max((t1_hi + s1[1] + s2[1]) / denom, 0.0)
    value = var(auc.value)
    slack = ROUNDING * max(abs(v_hi), 1e-300)
    return Bounded(value, max(min(v_lo, value) - slack, 0.0), max(v_hi, value) + slack)


def finalize_estimates(
    state: CBPEState, estimator: CBPEEstimator
) -> tuple[dict[str, Estimate], EstimateBounds | None]:
    """CBPE's estimates from merged sums, and the bounds of the approximate one (ROC AUC)."""
    n = state.n
    if n == 0:
        return {m: Estimate.missing("no rows with a prediction and a score") for m in ESTIMATED_METRICS}, None
    excluded = state.n_rows - n
    status = "ok" if excluded == 0 else f"ok ({excluded} row(s) without a prediction or score excluded)"
    z = estimator.standard_errors
    out: dict[str, Estimate] = {}
    c_sum, c_var = state.accuracy.tolist()
    out["accuracy"] = _band(c_sum / n, math.sqrt(c_var) / n, z, status, n)
    per: dict[str, list[tuple[float, float] | None]] = {m: [] for m in ("precision", "recall", "f1")}
    aucs: list[tuple[Bounded, Bounded] | None] = []
    assert state.auc is not None
    for j, (tp, fn, var_a, var_b, n_pp) in enumerate(state.per_class.tolist()):
        per["precision"].append((tp / n_pp, var_a / n_pp**2) if n_pp > 0 else None)
        pos = tp + fn
        per["recall"].append((tp / pos, (fn**2 * var_a + tp**2 * var_b) / pos**4) if pos > 0 else None)
        d = n_pp + pos
        per["f1"].append(
            (2 * tp / d, 4 * ((n_pp + fn) ** 2 * var_a + tp**2 * var_b) / d**4) if d > 0 else None
        )
        auc = state.auc.expected_auc(j)
        if auc is None:
            aucs.append(None)
            continue
        n_pos, n_neg = state.auc.totals(j)
        aucs.append((auc, hanley_mcneil_bounds(auc, n_pos, n_neg)))
    for name, values in per.items():
        out[name] = _macro(name, values, z, status, n)
    usable = [a for a in aucs if a is not None]
    if not usable:
        out["roc_auc"] = Estimate.missing(_MISSING_WHY["roc_auc"], n)
        return out, None
    st = status if len(usable) == len(aucs) else f"{status}; macro over {len(usable)} classes"
    k = len(usable)
    value = Bounded(*(float(np.mean([getattr(a, f) for a, _ in usable])) for f in ("value", "low", "high")))
    std = Bounded(*(math.sqrt(sum(getattr(v, f) for _, v in usable)) / k for f in ("value", "low", "high")))
    est = _band(value.value, std.value, z, st, n)
    out["roc_auc"] = est
    assert est.lower is not None and est.upper is not None
    lower = Bounded(est.lower, max(0.0, value.low - z * std.high), max(0.0, value.high - z * std.low))
    upper = Bounded(est.upper, min(1.0, value.low + z * std.low), min(1.0, value.high + z * std.high))
    return out, EstimateBounds(value, std, lower, upper)


def _macro(
    name: str, values: Sequence[tuple[float, float] | None], z: float, status: str, n: int
) -> Estimate:
    usable = [v for v in values if v is not None]
    if not usable:
        return Estimate.missing(_MISSING_WHY[name], n)
    value = float(np.mean([v for v, _ in usable]))
    std = float(np.sqrt(np.sum([var for _, var in usable])) / len(usable))
    st = status if len(usable) == len(values) else f"{status}; macro over {len(usable)} classes"
    return _band(value, std, z, st, n)


@dataclass
class DLEState:
    """DLE's sums over some rows: rows with a prediction, and Σ predicted loss per metric."""

    n: int = 0
    n_rows: int = 0
    sums: dict[str, float] = field(default_factory=dict)

    def merge(self, other: DLEState) -> DLEState:
        sums = dict(self.sums)
        for m, v in other.sums.items():
            sums[m] = sums.get(m, 0.0) + v
        return DLEState(self.n + other.n, self.n_rows + other.n_rows, sums)


def dle_state(estimator: DLEEstimator, frame: pd.DataFrame, yhat: np.ndarray) -> DLEState:
    """The predicted losses' sums of `frame`'s rows (a row's loss depends on that row only)."""
    ok = np.isfinite(yhat)
    n = int(ok.sum())
    out = DLEState(n, int(ok.size), dict.fromkeys(estimator.models, 0.0))
    if n == 0:
        return out
    excluded = n != ok.size
    losses = estimator.predict_losses(frame.iloc[np.flatnonzero(ok)] if excluded else frame, yhat[ok])
    out.sums = {m: float(loss.sum()) for m, loss in losses.items()}
    return out


def finalize_dle(state: DLEState, estimator: DLEEstimator) -> dict[str, Estimate]:
    """`DLEEstimator.estimate` from merged sums: the mean predicted loss per metric, its band."""
    n = state.n
    if n == 0:
        return {m: Estimate.missing("no rows with a prediction") for m in estimator.models}
    excluded = state.n_rows - n
    status = "ok" if excluded == 0 else f"ok ({excluded} row(s) without a prediction excluded)"
    z = estimator.standard_errors
    out: dict[str, Estimate] = {}
    for m in estimator.models:
        mean = state.sums[m] / n
        if m == "rmse":
            value = math.sqrt(mean)
            se = math.sqrt(estimator.loss_std[m] ** 2 / (4 * n * max(estimator.squared_error_mean, 1e-300)))
        else:
            value = mean
            se = estimator.loss_std[m] / math.sqrt(n)
        out[m] = Estimate(value, se, max(0.0, value - z * se), value + z * se, status, n)
    return out
