"""Drift thresholds learned from the reference's own chunk-to-chunk variation (optional, per column).

Evidently's fixed thresholds (0.1 for normed Wasserstein and Jensen–Shannon, …) stay the default. A
column named in `drift.learn_thresholds` (or all features with ``["*"]``) gets instead the threshold
mean + k·σ (`learned_threshold_std`, 3; population std, as NannyML) of its drift score between each
window-sized reference chunk and the whole reference, NannyML's way of calibrating a distance to
the data's natural variation. Only distance methods learn: a p-value already is calibrated, and
"mean − 3σ of p-values" is not a test. A column with fewer than 2 scored chunks, or a p-value
method, keeps its fixed threshold; `notes` say which and why. An explicit
`per_column_threshold` always wins.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from watchkeeper.drift.engine import evaluate_drift
from watchkeeper.drift.reference import ReferenceProfile
from watchkeeper.drift.registry import get_method


@dataclass(frozen=True)
class LearnedThresholds:
    thresholds: dict[str, float]
    notes: tuple[str, ...]


def learn_thresholds(
    profile: ReferenceProfile, reference: pd.DataFrame, chunks: list[np.ndarray]
) -> LearnedThresholds:
    """Per configured column: mean + k·σ of its distance between each reference chunk and the reference."""
    config = profile.config
    features = [c for c in (profile.numerical or ()) + (profile.categorical or ()) if c in reference.columns]
    wanted = (
        features if "*" in config.learn_thresholds else [c for c in config.learn_thresholds if c in features]
    )
    scores: dict[str, list[float]] = {c: [] for c in wanted}
    methods: dict[str, str] = {}
    for idx in chunks:
        report = evaluate_drift(profile, reference.iloc[idx][wanted], prediction=[], include_target=False)
        for c in report.features:
            if c.column in scores and c.testable and c.score is not None and c.method is not None:
                scores[c.column].append(float(c.score))
                methods[c.column] = c.method
    k = config.learned_threshold_std
    learned: dict[str, float] = {}
    notes: list[str] = []
    for col in wanted:
        values, method = scores[col], methods.get(col)
        if method is not None and get_method(method).is_p_value:
            notes.append(f"{col}: {method} is a p-value method; its threshold stays fixed")
        elif len(values) < 2:
            notes.append(
                f"{col}: {len(values)} reference chunk(s) scored, at least 2 needed; fixed threshold kept"
            )
        elif col not in config.per_column_threshold:
            learned[col] = float(np.mean(values) + k * np.std(values))
    missing = [c for c in config.learn_thresholds if c != "*" and c not in features]
    if missing:
        notes.append(f"not feature columns of the reference: {', '.join(missing)}")
    return LearnedThresholds(learned, tuple(notes))


def with_learned_thresholds(profile: ReferenceProfile, learned: LearnedThresholds) -> ReferenceProfile:
    """The profile whose config uses the learned thresholds (explicit per-column ones kept)."""
    merged = {**learned.thresholds, **profile.config.per_column_threshold}
    return replace(profile, config=profile.config.model_copy(update={"per_column_threshold": merged}))
