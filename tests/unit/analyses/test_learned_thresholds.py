"""Thresholds learned from the reference's chunk-to-chunk variation, beside Evidently's fixed ones."""

from __future__ import annotations

import numpy as np
import pandas as pd

from watchkeeper.drift import DriftConfig, evaluate_drift, fit_drift
from watchkeeper.drift.learned import learn_thresholds, with_learned_thresholds


def reference(rng: np.random.Generator) -> tuple[pd.DataFrame, list[np.ndarray]]:
    # `load` wanders from day to day (its natural variation); `noise` does not.
    days = [
        pd.DataFrame({"load": rng.normal(rng.normal(0, 0.3), 1, 1500), "noise": rng.normal(0, 1, 1500)})
        for _ in range(10)
    ]
    frame = pd.concat(days, ignore_index=True)
    return frame, [np.arange(i * 1500, (i + 1) * 1500) for i in range(10)]


def test_a_wandering_column_learns_a_wider_threshold_and_a_steady_one_a_narrower():
    rng = np.random.default_rng(1)
    frame, chunks = reference(rng)
    config = DriftConfig(learn_thresholds=("load", "noise"))
    profile = fit_drift(frame, config, numerical=["load", "noise"], categorical=[])
    learned = learn_thresholds(profile, frame, chunks)
    assert learned.thresholds["load"] > 0.1 > learned.thresholds["noise"] > 0
    # A day within the reference's own wander: drift by Evidently's fixed 0.1, not by the learned one.
    day = pd.DataFrame({"load": rng.normal(0.25, 1, 1500), "noise": rng.normal(0, 1, 1500)})
    fixed = evaluate_drift(fit_drift(frame, DriftConfig(), numerical=["load", "noise"], categorical=[]), day)
    assert fixed.column("load").drifted
    report = evaluate_drift(with_learned_thresholds(profile, learned), day)
    assert not report.column("load").drifted
    assert report.column("load").threshold == learned.thresholds["load"]


def test_p_value_methods_and_explicit_thresholds_keep_theirs():
    rng = np.random.default_rng(2)
    frame, chunks = reference(rng)
    config = DriftConfig(learn_thresholds=("*",), num_method="ks", per_column_threshold={"noise": 0.2})
    profile = fit_drift(frame, config, numerical=["load", "noise"], categorical=[])
    learned = learn_thresholds(profile, frame, chunks)
    assert learned.thresholds == {}
    assert any("ks is a p-value method" in n for n in learned.notes)
