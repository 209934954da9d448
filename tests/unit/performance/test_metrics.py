"""Realized metrics against scikit-learn on the same data, and their per-metric statuses."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from watchkeeper.performance.metrics import (
    average_precision,
    canonical_label,
    classification_metrics,
    encode_labels,
    proba_problem,
    regression_metrics,
    roc_auc,
)


def _binary_case(seed: int, n: int = 3000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.35).astype(np.int64)
    # Rounded scores: many ties, which is where AUC/AP implementations differ.
    score = np.round(np.clip(0.35 + 0.3 * (y - 0.35) + rng.normal(0, 0.25, n), 0, 1), 2)
    yhat = (score >= 0.5).astype(np.int64)
    return y, yhat, score


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_binary_metrics_match_sklearn(seed: int) -> None:
    y, yhat, score = _binary_case(seed)
    proba = np.column_stack([1 - score, score])
    out, cm = classification_metrics(y, yhat, proba, labels=["0", "1"], n_proba_classes=2, binary=True)
    assert out["accuracy"].value == pytest.approx(skm.accuracy_score(y, yhat), abs=1e-12)
    assert out["precision"].value == pytest.approx(skm.precision_score(y, yhat), abs=1e-12)
    assert out["recall"].value == pytest.approx(skm.recall_score(y, yhat), abs=1e-12)
    assert out["f1"].value == pytest.approx(skm.f1_score(y, yhat), abs=1e-12)
    assert out["roc_auc"].value == pytest.approx(skm.roc_auc_score(y, score), abs=1e-12)
    assert out["pr_auc"].value == pytest.approx(skm.average_precision_score(y, score), abs=1e-12)
    assert out["log_loss"].value == pytest.approx(skm.log_loss(y, score), abs=1e-12)
    assert cm is not None
    assert np.array_equal(np.array(cm.counts), skm.confusion_matrix(y, yhat))
    assert all(v.status == "ok" and v.n == y.size for v in out.values())


def test_multiclass_metrics_match_sklearn() -> None:
    rng = np.random.default_rng(7)
    n, k = 4000, 3
    logits = rng.normal(size=(n, k))
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y = np.array([rng.choice(k, p=p) for p in proba])  # labels drawn from the model: informative
    yhat = proba.argmax(axis=1)
    out, cm = classification_metrics(y, yhat, proba, labels=["a", "b", "c"], n_proba_classes=3, binary=False)
    assert out["accuracy"].value == pytest.approx(skm.accuracy_score(y, yhat), abs=1e-12)
    for avg in ("macro", "weighted"):
        suffix = "" if avg == "macro" else "_weighted"
        assert out[f"precision{suffix}"].value == pytest.approx(
            skm.precision_score(y, yhat, average=avg), abs=1e-12
        )
        assert out[f"recall{suffix}"].value == pytest.approx(
            skm.recall_score(y, yhat, average=avg), abs=1e-12
        )
        assert out[f"f1{suffix}"].value == pytest.approx(skm.f1_score(y, yhat, average=avg), abs=1e-12)
    assert out["roc_auc"].value == pytest.approx(skm.roc_auc_score(y, proba, multi_class="ovr"), abs=1e-12)
    onehot = np.eye(k)[y]
    assert out["pr_auc"].value == pytest.approx(
        skm.average_precision_score(onehot, proba, average="macro"), abs=1e-12
    )
    assert out["log_loss"].value == pytest.approx(skm.log_loss(y, proba), abs=1e-12)
    assert cm is not None and np.array_equal(np.array(cm.counts), skm.confusion_matrix(y, yhat))


def test_multiclass_class_never_predicted_counts_zero_like_sklearn() -> None:
    # Class 2 is never predicted: its precision is 0 (scikit-learn's zero_division default).
    y = np.array([0, 1, 2, 2, 1, 0])
    yhat = np.array([0, 1, 1, 0, 1, 0])
    out, _ = classification_metrics(y, yhat, None, labels=["0", "1", "2"], n_proba_classes=3, binary=False)
    assert out["precision"].value == pytest.approx(
        skm.precision_score(y, yhat, average="macro", zero_division=0)
    )
    assert out["f1_weighted"].value == pytest.approx(
        skm.f1_score(y, yhat, average="weighted", zero_division=0)
    )
    assert out["roc_auc"].status == "not computable: no score/probability column"


def test_regression_metrics_match_sklearn() -> None:
    rng = np.random.default_rng(3)
    y = rng.normal(50, 10, 5000)
    yhat = y + rng.normal(1.0, 4.0, 5000)
    out = regression_metrics(y, yhat)
    assert out["mae"].value == pytest.approx(skm.mean_absolute_error(y, yhat), abs=1e-10)
    assert out["rmse"].value == pytest.approx(np.sqrt(skm.mean_squared_error(y, yhat)), abs=1e-10)
    assert out["mape"].value == pytest.approx(skm.mean_absolute_percentage_error(y, yhat), abs=1e-12)
    assert out["r2"].value == pytest.approx(skm.r2_score(y, yhat), abs=1e-12)
    assert out["mean_error"].value == pytest.approx(float(np.mean(yhat - y)), abs=1e-12)


def test_regression_bad_input_statuses() -> None:
    # A NaN prediction is excluded and counted; a zero target makes MAPE undefined; constant target R².
    out = regression_metrics(np.array([0.0, 2.0, 2.0]), np.array([1.0, np.nan, 3.0]))
    assert out["mae"].value == pytest.approx(1.0)
    assert out["mae"].status == "ok (1 labeled row(s) without a prediction excluded)"
    assert out["mape"].status == "not computable: 1 target(s) are 0 (percentage error undefined)"
    out = regression_metrics(np.array([2.0, 2.0]), np.array([1.0, 3.0]))
    assert out["r2"].status == "not computable: target is constant (R² undefined)"
    assert regression_metrics(np.array([]), np.array([]))["rmse"].status == (
        "not computable: no labeled rows (labels not arrived yet)"
    )


def test_binary_single_class_and_no_labels() -> None:
    y = np.zeros(5, dtype=np.int64)
    yhat = np.array([0, 0, 1, 0, 0])
    proba = np.column_stack([np.full(5, 0.8), np.full(5, 0.2)])
    out, _ = classification_metrics(y, yhat, proba, labels=["0", "1"], n_proba_classes=2, binary=True)
    assert out["accuracy"].value == pytest.approx(0.8)
    assert out["roc_auc"].status == "not computable: labels contain a single class"
    assert out["recall"].status == "not computable: labels contain a single class (no positives)"
    assert out["precision"].value == 0.0  # one positive prediction, wrong
    assert out["log_loss"].value == pytest.approx(-np.log(0.8))
    empty, cm = classification_metrics(
        np.array([], dtype=np.int64),
        np.array([], dtype=np.int64),
        None,
        labels=["0", "1"],
        n_proba_classes=2,
        binary=True,
    )
    assert cm is None
    assert {v.status for v in empty.values()} == {"not computable: no labeled rows (labels not arrived yet)"}


def test_unknown_label_blocks_probability_metrics_only() -> None:
    # Label "2" in a binary problem: still a wrong prediction for accuracy, but no probability for it.
    y, extra = encode_labels(np.array([0, 1, 2, 1]), ["0", "1"])
    assert extra == ["2"] and y.tolist() == [0, 1, 2, 1]
    proba = np.column_stack([np.full(4, 0.5), np.full(4, 0.5)])
    out, _ = classification_metrics(
        y, np.array([0, 1, 1, 1]), proba, labels=["0", "1", "2"], n_proba_classes=2, binary=True
    )
    assert out["accuracy"].value == pytest.approx(0.75)
    assert out["roc_auc"].status == "not computable: 1 label(s) not among the probability classes (2)"


def test_label_canonicalization() -> None:
    assert [canonical_label(v) for v in (1, 1.0, "1", True, np.int64(0), 2.5)] == [
        "1",
        "1",
        "1",
        "True",
        "0",
        "2.5",
    ]
    codes, extra = encode_labels(np.array([1.0, np.nan, 0.0, 1.0]), ["0", "1"])
    assert codes.tolist() == [1, -1, 0, 1] and extra == []


def test_proba_problems() -> None:
    assert (
        proba_problem(np.array([[0.2, 0.8], [-0.1, 1.1]]), binary=True)
        == "probabilities outside [0, 1] in 1 row(s)"
    )
    assert proba_problem(np.array([[0.2, 0.7, 0.3], [0.2, 0.3, 0.5]]), binary=False) == (
        "probabilities do not sum to 1 in 1 row(s)"
    )
    assert proba_problem(np.array([[np.nan, np.nan], [0.5, 0.5]]), binary=False) is None


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.booleans(), st.integers(0, 5)), min_size=2, max_size=40).filter(
        lambda rows: 0 < sum(r[0] for r in rows) < len(rows)
    )
)
def test_ranking_metrics_match_sklearn_property(rows: list[tuple[bool, int]]) -> None:
    # Few distinct scores: ties everywhere.
    y = np.array([r[0] for r in rows])
    s = np.array([r[1] / 5 for r in rows])
    assert roc_auc(y, s) == pytest.approx(skm.roc_auc_score(y, s), abs=1e-12)
    assert average_precision(y, s) == pytest.approx(skm.average_precision_score(y, s), abs=1e-12)
