"""CBPE: hand-computed expectations on small cases, the calibration decision, coverage, serialization."""

from __future__ import annotations

import json
import math
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from watchkeeper.performance.cbpe import CBPEEstimator, expected_calibration_error, fit_cbpe


def _uncalibrated(classes: tuple[str, ...] = ("0", "1"), binary: bool = True) -> CBPEEstimator:
    return CBPEEstimator(classes, binary, False, (), 0.0, None, 3.0)


def test_binary_hand_computed() -> None:
    # p = P(y=1): expected TP = .9+.8, FP = .1+.2, FN = .3+.1, TN = .7+.9.
    p = np.array([0.9, 0.8, 0.3, 0.1])
    est = _uncalibrated().estimate(np.column_stack([1 - p, p]), np.array([1, 1, 0, 0]))
    assert est["accuracy"].value == pytest.approx(3.3 / 4)
    # Var = Σ c(1-c) with c the probability of being right: .09 + .16 + .21 + .09.
    assert est["accuracy"].std == pytest.approx(math.sqrt(0.55) / 4)
    assert est["precision"].value == pytest.approx(1.7 / 2)
    assert est["precision"].std == pytest.approx(math.sqrt(0.09 + 0.16) / 2)
    assert est["recall"].value == pytest.approx(1.7 / 2.1)
    assert est["f1"].value == pytest.approx(3.4 / 4.1)
    # Expected pairs Σ_{i≠j} p_i (1-p_j)[s_i > s_j] = .9·1.8 + .8·1.6 + .3·.9 = 3.17 over P·N − Σp(1-p) = 3.44.
    assert est["roc_auc"].value == pytest.approx(3.17 / 3.44)
    acc = est["accuracy"]
    assert acc.lower == pytest.approx(max(0.0, acc.value - 3 * acc.std))
    assert acc.upper == pytest.approx(min(1.0, acc.value + 3 * acc.std))


def test_expected_auc_ties_count_half() -> None:
    # Two rows with the same score: the only pair is tied, so the expected AUC is one half.
    p = np.array([0.5, 0.5])
    est = _uncalibrated().estimate(np.column_stack([1 - p, p]), np.array([1, 0]))
    assert est["roc_auc"].value == pytest.approx(0.5)


def test_multiclass_hand_computed() -> None:
    proba = np.array([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3], [0.2, 0.2, 0.6]])
    est = _uncalibrated(("a", "b", "c"), binary=False).estimate(proba, np.array([0, 1, 2]))
    assert est["accuracy"].value == pytest.approx((0.7 + 0.6 + 0.6) / 3)
    # One row predicted per class: precision_k = p_k on that row; macro = mean of the diagonal.
    assert est["precision"].value == pytest.approx((0.7 + 0.6 + 0.6) / 3)
    # recall_k = diagonal / expected support (column sums 1.0, 1.0, 1.0).
    assert est["recall"].value == pytest.approx((0.7 + 0.6 + 0.6) / 3)
    # f1_k = 2·C_kk / (n_pred_k + support_k) = 2·C_kk / 2.
    assert est["f1"].value == pytest.approx((0.7 + 0.6 + 0.6) / 3)


def test_rows_without_prediction_or_score_are_excluded_and_counted() -> None:
    p = np.array([0.9, np.nan, 0.2])
    est = _uncalibrated().estimate(np.column_stack([1 - p, p]), np.array([1, 1, -1]))
    assert est["accuracy"].value == pytest.approx(0.9)
    assert est["accuracy"].status == "ok (2 row(s) without a prediction or score excluded)"
    none = _uncalibrated().estimate(np.empty((0, 2)), np.empty(0, dtype=np.int64))
    assert none["roc_auc"].status == "not computable: no rows with a prediction and a score"


def _sample(rng: np.random.Generator, n: int, overconfidence: float) -> tuple[np.ndarray, np.ndarray]:
    logit = rng.normal(0, 1.5, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    s = 1 / (1 + np.exp(-overconfidence * logit))
    return np.column_stack([1 - s, s]), y


def test_calibration_only_when_cross_validation_says_it_helps() -> None:
    rng = np.random.default_rng(0)
    proba, y = _sample(rng, 20000, overconfidence=2.0)
    over = fit_cbpe(proba, y, classes=("0", "1"), binary=True)
    assert over.calibrated
    assert over.ece_calibrated_cv is not None and over.ece_calibrated_cv < over.ece_raw
    assert expected_calibration_error(over.calibrate(proba)[:, 1], y == 1) < over.ece_raw
    # Exactly calibrated scores (five levels, each with exactly its share of positives): raw ECE is 0,
    # out-of-fold isotonic maps can only add error, so the scores are used as they are.
    levels = np.repeat([0.1, 0.3, 0.5, 0.7, 0.9], 1000)
    y = np.concatenate([(np.arange(1000) < 1000 * q).astype(np.int64) for q in (0.1, 0.3, 0.5, 0.7, 0.9)])
    proba = np.column_stack([1 - levels, levels])
    calibrated = fit_cbpe(proba, y, classes=("0", "1"), binary=True)
    assert calibrated.ece_raw == pytest.approx(0.0, abs=1e-12)
    assert not calibrated.calibrated
    assert calibrated.ece_calibrated_cv is not None and calibrated.ece_calibrated_cv > 0
    never = fit_cbpe(proba, y, classes=("0", "1"), binary=True, calibration="never")
    assert not never.calibrated and never.ece_calibrated_cv is None


def test_band_covers_realized_when_no_concept_drift() -> None:
    # Calibrated model, labels drawn from its probabilities: realized within ±3 SE nearly always.
    rng = np.random.default_rng(1)
    est = _uncalibrated()
    inside = {"accuracy": 0, "precision": 0, "recall": 0, "f1": 0, "roc_auc": 0}
    trials = 150
    for _ in range(trials):
        proba, y = _sample(rng, 800, overconfidence=1.0)
        yhat = (proba[:, 1] >= 0.5).astype(np.int64)
        e = est.estimate(proba, yhat)
        tp = np.sum((yhat == 1) & (y == 1))
        realized = {
            "accuracy": np.mean(yhat == y),
            "precision": tp / np.sum(yhat == 1),
            "recall": tp / np.sum(y == 1),
            "f1": 2 * tp / (np.sum(yhat == 1) + np.sum(y == 1)),
        }
        from sklearn.metrics import roc_auc_score

        realized["roc_auc"] = roc_auc_score(y, proba[:, 1])
        for m, v in realized.items():
            inside[m] += int(e[m].lower <= v <= e[m].upper)
    assert all(count >= 0.97 * trials for count in inside.values()), inside


def test_multiclass_fit_renormalizes_and_estimates_close() -> None:
    rng = np.random.default_rng(2)
    n = 6000
    logits = rng.normal(0, 1.5, size=(n, 3))
    true = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y = (rng.random(n)[:, None] > np.cumsum(true, axis=1)).sum(axis=1)
    sharp = np.exp(2 * logits) / np.exp(2 * logits).sum(axis=1, keepdims=True)  # over-confident
    est = fit_cbpe(sharp[:4000], y[:4000], classes=("a", "b", "c"), binary=False)
    assert est.calibrated
    assert np.allclose(est.calibrate(sharp[4000:]).sum(axis=1), 1.0)
    yhat = sharp[4000:].argmax(axis=1)
    e = est.estimate(sharp[4000:], yhat)
    realized = float(np.mean(yhat == y[4000:]))
    assert e["accuracy"].lower <= realized <= e["accuracy"].upper


def test_estimator_round_trips_through_json_and_pickle() -> None:
    rng = np.random.default_rng(4)
    proba, y = _sample(rng, 5000, overconfidence=2.0)
    est = fit_cbpe(proba, y, classes=("0", "1"), binary=True)
    again = CBPEEstimator.from_dict(json.loads(json.dumps(est.to_dict())))
    assert again == est
    assert pickle.loads(pickle.dumps(est)) == est
    yhat = (proba[:, 1] >= 0.5).astype(np.int64)
    assert again.estimate(proba, yhat)["roc_auc"].value == est.estimate(proba, yhat)["roc_auc"].value


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 4), st.booleans()), min_size=2, max_size=30))
def test_certain_probabilities_make_estimates_exact(rows: list[tuple[bool, int, bool]]) -> None:
    # With probabilities 0 or 1 there is nothing left to chance: every estimate equals the realized
    # figure computed from the labels those probabilities imply, with a zero standard error.
    y = np.array([r[0] for r in rows], dtype=np.int64)
    score = np.array([r[1] for r in rows], dtype=np.float64)
    yhat = np.array([r[2] for r in rows], dtype=np.int64)
    p = y.astype(np.float64)
    raw = np.column_stack([1 - score / 4, score / 4])  # the model's ranking, ties included
    est = _uncalibrated().estimate(raw, yhat, calibrated=np.column_stack([1 - p, p]))
    assert est["accuracy"].value == pytest.approx(np.mean(yhat == y))
    assert est["accuracy"].std == pytest.approx(0.0)
    tp = int(np.sum((yhat == 1) & (y == 1)))
    if yhat.sum():
        assert est["precision"].value == pytest.approx(tp / yhat.sum())
    if y.sum():
        assert est["recall"].value == pytest.approx(tp / y.sum())
    if 0 < y.sum() < y.size:
        # Expected AUC ranks by the raw score; with certain labels it is the realized AUC.
        assert est["roc_auc"].value == pytest.approx(skm.roc_auc_score(y, score))
    else:
        assert est["roc_auc"].status == "not computable: expected labels are a single class"
