"""The window's shared score sort (`ScoreOrder`): subsets ranked off one sort give the figures a sort
of each subset gives, and the whole window's figures are reused only for the same inputs."""

from __future__ import annotations

import numpy as np
import pytest

from watchkeeper.performance.cbpe import CBPEEstimator
from watchkeeper.performance.metrics import ScoreOrder, classification_metrics


def _window(
    seed: int, n: int = 5000, decimals: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    score = rng.random(n)
    if decimals is not None:
        score = np.round(score, decimals)
    score[rng.random(n) < 0.02] = np.nan  # rows without a score
    y = (rng.random(n) < np.nan_to_num(score, nan=0.5)).astype(np.int64)
    return np.column_stack([1 - score, score]), y, (np.nan_to_num(score) >= 0.5).astype(np.int64)


@pytest.mark.parametrize(
    "decimals",
    [
        None,  # distinct scores: the very permutation of a subset's own sort
        2,  # heavy ties: per-tie-group sums, whatever the order within a tie
    ],
)
def test_subsets_ranked_off_one_sort_match_their_own_sort(decimals: int | None) -> None:
    proba, y, yhat = _window(3, decimals=decimals)
    order = ScoreOrder(proba)
    rng = np.random.default_rng(4)
    for positions in (np.arange(y.size), np.flatnonzero(rng.random(y.size) < 0.6), np.array([7, 40])):
        args = (y[positions], yhat[positions], proba[positions])
        kw = {"labels": ["0", "1"], "n_proba_classes": 2, "binary": True}
        plain, _ = classification_metrics(*args, **kw)
        shared, _ = classification_metrics(*args, **kw, order=order, positions=positions)
        for name in ("roc_auc", "pr_auc", "log_loss"):
            a, b = shared[name], plain[name]
            assert (a.status, a.n) == (b.status, b.n), name
            if b.value is None or decimals is None:
                assert a == b, name  # bit for bit without ties
            else:
                assert a.value == pytest.approx(b.value, rel=1e-12, abs=0), name


def test_cbpe_reuses_the_whole_window_only_for_the_same_inputs() -> None:
    proba, _, yhat = _window(5)
    est = CBPEEstimator(("0", "1"), True, False, (), 0.0, None)
    order = ScoreOrder(proba)
    whole = est.estimate(proba, yhat, order=order)
    again = est.estimate(proba.copy(), yhat.copy(), order=order, positions=np.arange(yhat.size))
    assert again == whole == est.estimate(proba, yhat)
    other = yhat.copy()
    other[:100] = 1 - other[:100]
    assert est.estimate(proba, other, order=order)["precision"] == est.estimate(proba, other)["precision"]
    assert est.estimate(proba, other, order=order)["precision"] != whole["precision"]
