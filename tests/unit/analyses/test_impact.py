"""Impact ranking: the feature whose drift goes with the performance change ranks first."""

from __future__ import annotations

import numpy as np
import pytest

from watchkeeper.drift.impact import rank_drift_impact


def test_the_feature_that_moves_performance_ranks_first():
    rng = np.random.default_rng(0)
    history = []
    for _ in range(8):
        harmful, harmless = rng.random(), rng.random()
        history.append(
            {
                "drift.income.score": harmful,
                "drift.age.score": harmless,
                "perf.estimated.roc_auc": 0.8 - 0.2 * harmful,  # income's drift lowers the AUC
                "perf.band.roc_auc.lower": 0.75,
                "perf.band.roc_auc.upper": 0.85,
            }
        )
    current = {**history[-1], "drift.income.drifted": 1.0}
    report = rank_drift_impact(history[:-1], current, features=["age", "income", "purpose"], metric="roc_auc")
    first, second, unranked = report.features
    assert (first.feature, first.rank, first.drifted_now) == ("income", 1, True)
    # |AUC − band middle| = 0.2 · income's score: a perfect correlation.
    assert first.correlation == pytest.approx(1.0)
    assert second.feature == "age" and second.rank == 2 and abs(second.correlation) < first.correlation
    assert unranked.feature == "purpose" and unranked.rank is None
    assert unranked.status.startswith("not ranked: 0 window(s)")
    assert report.figures()["income.rank"] == 1.0


def test_too_few_windows_are_not_ranked():
    report = rank_drift_impact([], {"drift.x.score": 0.3}, features=["x"], metric="mae")
    assert report.features[0].rank is None and report.figures() == {}
