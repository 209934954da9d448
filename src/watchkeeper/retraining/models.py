"""Fitting a new model version and measuring any version's quality the way monitoring does.

`train_model` runs the configured trainer (`retraining.trainer`); `measure_quality` scores labeled
rows with a model and computes the project's own realized metrics (`model_metrics`), so the deploy
gate and the monitoring report measure quality the same way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from watchkeeper.performance.metrics import (
    canonical_label,
    classification_metrics,
    encode_labels,
    regression_metrics,
)
from watchkeeper.training import load_trainer, score_frame

if TYPE_CHECKING:  # annotations only: the config imports this package
    from watchkeeper.config import MonitorConfig


def train_model(config: MonitorConfig, frame: pd.DataFrame) -> Any:
    """Fit the user's trainer (`retraining.trainer`) on the training set."""
    rc = config.retraining
    trainer = load_trainer(rc.trainer)
    return trainer(frame, columns=config.columns, task=config.model.task, seed=rc.seed, **rc.trainer_kwargs)


def score_rows(model: Any, frame: pd.DataFrame, config: MonitorConfig) -> pd.DataFrame:
    """`frame` with `model`'s outputs (score, class probabilities, prediction) in place of its own."""
    outputs = score_frame(model, frame, columns=config.columns, task=config.model.task)
    return pd.concat(
        [frame.drop(columns=[c for c in outputs.columns if c in frame.columns]), outputs], axis=1
    )


def measure_quality(model: Any, frame: pd.DataFrame, config: MonitorConfig) -> dict[str, float]:
    """Realized metrics of `model` on the labeled rows of `frame` (the monitoring report's definitions)."""
    cols = config.columns
    assert cols.target is not None
    return model_metrics(
        score_rows(model, frame, config),
        target=cols.target,
        prediction=cols.prediction or "prediction",
        score=cols.score or "score",
        task=config.model.task.value,
        classes=list(model.classes_) if hasattr(model, "classes_") else None,
        probabilities=cols.probabilities,
    )


def model_metrics(
    scored: pd.DataFrame,
    *,
    target: str,
    prediction: str,
    score: str | None,
    task: str,
    classes: Sequence[Any] | None = None,
    probabilities: Mapping[str, str] | None = None,
) -> dict[str, float]:
    """Realized metrics of one model's outputs on labeled rows (the monitoring report's definitions).

    `classes` is the model's class order (scikit-learn's `classes_`); binary scores are the
    probability of the second one. Metrics that cannot be computed are left out.
    """
    labeled = scored[scored[target].notna()]
    if task == "regression":
        y = pd.to_numeric(labeled[target], errors="coerce").to_numpy(dtype=np.float64)
        yhat = pd.to_numeric(labeled[prediction], errors="coerce").to_numpy(dtype=np.float64)
        ok = np.isfinite(y)
        values = regression_metrics(y[ok], yhat[ok])
    else:
        names = [
            canonical_label(c) for c in (classes if classes is not None else sorted(labeled[target].unique()))
        ]
        binary = task == "binary_classification"
        y, extra = encode_labels(labeled[target], names)
        labels = [*names, *extra]
        yhat, extra_p = encode_labels(labeled[prediction], labels)
        labels += extra_p
        proba: np.ndarray | None = None
        if binary and score is not None and score in labeled.columns:
            s = pd.to_numeric(labeled[score], errors="coerce").to_numpy(dtype=np.float64)
            proba = np.column_stack([1.0 - s, s])
        elif not binary and probabilities:
            proba = np.column_stack([labeled[probabilities[c]].to_numpy(dtype=np.float64) for c in names])
        values, _ = classification_metrics(
            y, yhat, proba, labels=labels, n_proba_classes=len(names), binary=binary
        )
    return {k: float(v.value) for k, v in values.items() if v.value is not None and math.isfinite(v.value)}
