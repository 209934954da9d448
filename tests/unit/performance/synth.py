"""Synthetic monitoring data with known truth, shared by the performance tests.

A binary model scores ``sigmoid(1.6 · (w·x + b))`` while the true label probability is
``sigmoid(w·x + b)``: over-confident, so isotonic calibration is worth it. Covariate shift moves the
feature means (P(y|x) unchanged); concept drift flips part of the true relation (P(y|x) changes).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from watchkeeper.config import ColumnsConfig

START = datetime(2026, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)
W = np.array([1.5, -1.0])
B = -0.3

BINARY_COLUMNS = ColumnsConfig(
    numerical_features=("x1", "x2"),
    score="score",
    latency_ms="latency_ms",
    status="status",
    model_version="model_version",
)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def binary_frame(
    rng: np.random.Generator,
    n: int,
    *,
    day: int = 0,
    shift: float = 0.0,
    concept: float = 0.0,
    overconfidence: float = 1.6,
) -> pd.DataFrame:
    """One day of rows. `shift` moves x1's mean; `concept` ∈ [0, 1] blends in the flipped relation."""
    x = rng.normal(size=(n, 2))
    x[:, 0] += shift
    logit = x @ W + B
    true_logit = (1 - concept) * logit + concept * (-logit)
    y = (rng.random(n) < _sigmoid(true_logit)).astype(np.int64)
    score = _sigmoid(overconfidence * logit)
    ts = START + day * DAY + pd.to_timedelta(np.sort(rng.random(n)) * 86_400, unit="s")
    return pd.DataFrame(
        {
            "request_id": [f"d{day}-{i}" for i in range(n)],
            "timestamp": ts,
            "x1": x[:, 0],
            "x2": x[:, 1],
            "score": score,
            "prediction": (score >= 0.5).astype(np.int64),
            "target": y,
            "latency_ms": rng.gamma(2.0, 10.0, size=n),
            "status": np.where(rng.random(n) < 0.01, "500", "ok"),
            "model_version": np.where(rng.random(n) < 0.5, "v1", "v2"),
        }
    )


def binary_reference(seed: int = 0, days: int = 20, n_per_day: int = 2000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.concat([binary_frame(rng, n_per_day, day=d - days) for d in range(days)], ignore_index=True)
