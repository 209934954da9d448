"""CBPE's estimates from merged sums, against `CBPEEstimator.estimate` on the same rows.

Exact figures (accuracy, precision, recall, F1: value, std, band) must equal the in-memory ones up
to float rounding, however the rows are cut; the expected ROC AUC, its standard error and its band
must lie in their intervals (property tests over calibrated and raw scores, binary and multiclass,
coarse scores with many ties, and classes that are rare or absent among the predictions).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from watchkeeper.partitioned.estimates import cbpe_state, finalize_estimates, hanley_mcneil_bounds
from watchkeeper.partitioned.sketch import Bounded
from watchkeeper.performance.cbpe import CBPEEstimator, fit_cbpe


def _rows(rng: np.random.Generator, n: int, k: int, round_to: int | None) -> tuple[np.ndarray, np.ndarray]:
    logits = rng.normal(size=(n, k)) * rng.uniform(0.2, 3.0)
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    if round_to is not None:  # coarse scores: many ties inside one bin and across rows
        if k == 2:
            s = np.round(proba[:, 1], round_to)
            proba = np.column_stack([1 - s, s])
        else:
            proba = np.round(proba, round_to)
            proba[:, -1] = 1.0 - proba[:, :-1].sum(axis=1)
            proba = np.clip(proba, 0.0, 1.0)
            proba /= proba.sum(axis=1, keepdims=True)
    yhat = np.argmax(proba, axis=1) if k > 2 else (proba[:, 1] >= 0.5).astype(np.int64)
    yhat = np.where(rng.random(n) < 0.02, -1, yhat)  # rows without a prediction are excluded
    return proba, yhat


def _estimator(rng: np.random.Generator, k: int, calibrated: bool) -> CBPEEstimator:
    proba, _ = _rows(rng, 600, k, None)
    y = np.array([rng.choice(k, p=p) for p in proba])
    return fit_cbpe(
        proba,
        y,
        classes=[str(c) for c in range(k)],
        binary=k == 2,
        calibration="always" if calibrated else "never",
    )


def _merged(est: CBPEEstimator, proba: np.ndarray, yhat: np.ndarray, parts: int):  # type: ignore[no-untyped-def]
    cal = est.calibrate(proba)
    states = [
        cbpe_state(est, proba[idx], cal[idx], yhat[idx])
        for idx in np.array_split(np.arange(len(yhat)), parts)
    ]
    out = states[0]
    for s in states[1:]:
        out = out.merge(s)
    return finalize_estimates(out, est)


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    n=st.integers(2, 4000),
    k=st.sampled_from([2, 3, 5]),
    parts=st.integers(1, 9),
    round_to=st.sampled_from([None, 1, 2, 3]),
    calibrated=st.booleans(),
)
def test_estimates_from_sums_equal_the_estimate_on_rows(
    seed: int, n: int, k: int, parts: int, round_to: int | None, calibrated: bool
) -> None:
    rng = np.random.default_rng(seed)
    est = _estimator(rng, k, calibrated)
    proba, yhat = _rows(rng, n, k, round_to)
    exact = est.estimate(proba, yhat)
    merged, bounds = _merged(est, proba, yhat, parts)
    assert list(merged) == list(exact)
    for m in ("accuracy", "precision", "recall", "f1"):
        a, b = exact[m], merged[m]
        assert a.status == b.status and a.n == b.n
        for field in ("value", "std", "lower", "upper"):
            x, y = getattr(a, field), getattr(b, field)
            assert (x is None) == (y is None)
            if x is not None:
                assert y == pytest.approx(x, rel=1e-9, abs=1e-12), (m, field)
    auc = exact["roc_auc"]
    if auc.value is None:
        assert merged["roc_auc"].value is None and bounds is None
        return
    assert bounds is not None and merged["roc_auc"].status == auc.status
    for field, b in (
        ("value", bounds.value),
        ("std", bounds.std),
        ("lower", bounds.lower),
        ("upper", bounds.upper),
    ):
        assert b.low <= getattr(auc, field) <= b.high, (field, getattr(auc, field), b)
        assert b.low <= getattr(merged["roc_auc"], field) <= b.high
    # The bound is the within-bin weight: at most half a bin's worth of pairs (10,000 bins).
    assert bounds.value.bound <= 0.5 + 1e-9


@settings(max_examples=200, deadline=None)
@given(
    a=st.floats(0.0, 1.0),
    width=st.floats(0.0, 0.2),
    n_pos=st.floats(0.01, 1e6),
    n_neg=st.floats(0.01, 1e6),
    t=st.floats(0.0, 1.0),
)
def test_hanley_mcneil_interval_holds_the_variance_anywhere_in_the_auc_interval(
    a: float, width: float, n_pos: float, n_neg: float, t: float
) -> None:
    lo, hi = max(a - width, 0.0), min(a + width, 1.0)
    b = hanley_mcneil_bounds(Bounded(a, lo, hi), n_pos, n_neg)
    x = lo + t * (hi - lo)  # any AUC the interval allows
    q1, q2 = x / (2 - x), 2 * x * x / (1 + x)
    var = max((x * (1 - x) + (n_pos - 1) * (q1 - x * x) + (n_neg - 1) * (q2 - x * x)) / (n_pos * n_neg), 0.0)
    assert b.low - 1e-15 <= var <= b.high + 1e-15


def test_rows_without_a_score_or_prediction_are_excluded_and_counted() -> None:
    rng = np.random.default_rng(3)
    est = _estimator(rng, 2, calibrated=False)
    proba, yhat = _rows(rng, 500, 2, None)
    proba[:7] = np.nan
    exact = est.estimate(proba, yhat)
    merged, _ = _merged(est, proba, yhat, 4)
    assert merged["accuracy"].status == exact["accuracy"].status
    assert "excluded" in merged["accuracy"].status
    assert merged["accuracy"].value == pytest.approx(exact["accuracy"].value, rel=1e-12)
