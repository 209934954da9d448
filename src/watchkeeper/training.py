"""The default trainer: a scikit-learn pipeline for tabular classification and regression.

Users plug their own trainer with a ``module:function`` entrypoint in the retraining config; it gets
the training frame and the column roles and returns a fitted model with `predict` (and
`predict_proba` for classifiers). This default is what the demo uses.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from watchkeeper.schema import ColumnsConfig, TaskType

if TYPE_CHECKING:  # scikit-learn is imported when a model is trained: a monitor run rarely trains
    from sklearn.pipeline import Pipeline

Trainer = Callable[..., Any]


def model_inputs(frame: pd.DataFrame, columns: ColumnsConfig) -> pd.DataFrame:
    """The feature columns as the model sees them: missing categories become the "missing" level."""
    x = frame[list(columns.features)].copy()
    for name in columns.categorical_features:
        x[name] = x[name].astype(object).where(x[name].notna(), "missing")
    return x


def train_default(frame: pd.DataFrame, *, columns: ColumnsConfig, task: TaskType, seed: int = 0) -> Pipeline:
    """Impute, scale and one-hot encode, then a (logistic) linear model: robust, fast, calibrated."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numerical = list(columns.numerical_features)
    categorical = list(columns.categorical_features)
    pre = ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numerical),
            (
                "cat",
                make_pipeline(
                    SimpleImputer(strategy="constant", fill_value="missing"),
                    OneHotEncoder(handle_unknown="ignore"),
                ),
                categorical,
            ),
        ]
    )
    estimator: Any = (
        Ridge() if task is TaskType.REGRESSION else LogisticRegression(max_iter=1000, random_state=seed)
    )
    model = Pipeline([("pre", pre), ("model", estimator)])
    assert columns.target is not None
    model.fit(model_inputs(frame, columns), frame[columns.target])
    return model


def load_trainer(entrypoint: str | None) -> Trainer:
    """Resolve ``"package.module:function"``; None gives `train_default`."""
    if not entrypoint:
        return train_default
    module_name, sep, func_name = entrypoint.partition(":")
    if not sep or not module_name or not func_name:
        raise ValueError(f"trainer entrypoint {entrypoint!r} must look like 'package.module:function'")
    module = importlib.import_module(module_name)
    try:
        func = getattr(module, func_name)
    except AttributeError:
        raise ValueError(f"trainer entrypoint {entrypoint!r}: {module_name} has no {func_name!r}") from None
    if not callable(func):
        raise ValueError(f"trainer entrypoint {entrypoint!r} is not callable")
    return func


def score_frame(model: Any, frame: pd.DataFrame, *, columns: ColumnsConfig, task: TaskType) -> pd.DataFrame:
    """Model outputs for `frame`: score (binary), per-class probabilities (multiclass), prediction."""
    x = model_inputs(frame, columns)
    out = pd.DataFrame(index=frame.index)
    if task is TaskType.REGRESSION:
        out[columns.prediction or "prediction"] = model.predict(x)
        return out
    proba = model.predict_proba(x)
    classes = list(model.classes_)
    if task is TaskType.BINARY:
        score = proba[:, 1]
        out[columns.score or "score"] = score
        out[columns.prediction or "prediction"] = (score >= 0.5).astype("int64")
    else:
        for i, cls in enumerate(classes):
            col = (columns.probabilities or {}).get(str(cls), f"proba_{cls}")
            out[col] = proba[:, i]
        out[columns.prediction or "prediction"] = np.asarray(classes)[proba.argmax(axis=1)]
    return out
