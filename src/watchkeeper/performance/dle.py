"""Direct loss estimation (DLE): a regression model's MAE, RMSE and MAPE without labels.

As NannyML's DLE: a second model learns each row's loss from the reference (the features and the
model's prediction → the absolute error, the squared error, the absolute percentage error), and a
window's estimate is the mean of the predicted losses (clipped at 0): MAE = mean(predicted |e|),
RMSE = √mean(predicted e²), MAPE = mean(predicted |e| / max(ε, |y|)). Sampling errors are
NannyML's: std(reference loss) / √n for MAE and MAPE, √(std(e²)² / (4 n mean(e²))) for RMSE; the
band is ± `standard_errors` sampling errors.

Differences from NannyML, on purpose: scikit-learn's `HistGradientBoostingRegressor` (LightGBM's
defaults: 100 trees, 31 leaves, learning rate 0.1) instead of LightGBM, and the reference is split
in two seeded halves, each loss model fitted on one half, so no reference row is ever scored by a
model that saw it (NannyML fits on all the reference and scores its chunks in-sample, which makes
the reference look better estimated than it is). A window is scored by the mean of both halves'
models. The reference is capped at `DLEConfig.max_rows` labeled rows (a seeded sample).

The estimator holds fitted scikit-learn models: it pickles; `to_dict()` describes it (a digest of
the models for the baseline's fingerprint) but cannot rebuild it.

The concept-drift gap test for regression (`gap.measure_regression_gaps`) compares realized MAE / RMSE
with DLE's band on the same labeled rows.
"""

from __future__ import annotations

import hashlib
import math
import pickle
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from watchkeeper.performance.cbpe import Estimate
from watchkeeper.performance.config import DLE_METRICS, DLEConfig
from watchkeeper.performance.inputs import PreparedRows
from watchkeeper.schema import ColumnsConfig

MAPE_EPSILON = float(np.finfo(np.float64).eps)  # scikit-learn's and NannyML's floor on |y|
MAX_NATIVE_CATEGORIES = 253


def _losses(y: np.ndarray, yhat: np.ndarray) -> dict[str, np.ndarray]:
    err = y - yhat
    return {
        "mae": np.abs(err),
        "rmse": err * err,
        "mape": np.abs(err) / np.maximum(MAPE_EPSILON, np.abs(y)),
    }


@dataclass(frozen=True, eq=False)
class DLEEstimator:
    """Fitted loss models (two halves per metric) and the reference's loss spread."""

    numerical: tuple[str, ...]
    categorical: tuple[str, ...]
    categories: tuple[pd.Index, ...]
    models: dict[str, tuple[Any, ...]]
    loss_std: dict[str, float]
    squared_error_mean: float
    n_fit: int
    standard_errors: float

    def matrix(self, frame: pd.DataFrame, yhat: np.ndarray) -> np.ndarray:
        """Features and the prediction as the loss models see them (categoricals as reference codes)."""
        out = np.empty((len(frame), len(self.numerical) + len(self.categorical) + 1), dtype=np.float64)
        for j, col in enumerate(self.numerical):
            values = frame[col].to_numpy(dtype=np.float64, na_value=np.nan) if col in frame else np.nan
            out[:, j] = np.where(np.isinf(values), np.nan, values)
        base = len(self.numerical)
        for k, col in enumerate(self.categorical):
            if col not in frame:
                out[:, base + k] = np.nan
                continue
            series = frame[col]
            missing = series.isna().to_numpy()
            codes = self.categories[k].get_indexer(pd.Index(series.astype(object))).astype(np.float64)
            codes[codes < 0] = len(self.categories[k])  # unseen: one shared code
            codes[missing] = np.nan
            out[:, base + k] = codes
        out[:, -1] = yhat
        return out

    def predict_losses(self, frame: pd.DataFrame, yhat: np.ndarray) -> dict[str, np.ndarray]:
        from threadpoolctl import threadpool_limits

        x = self.matrix(frame, yhat)
        with threadpool_limits(1):
            return {
                m: np.maximum(0.0, np.mean([model.predict(x) for model in models], axis=0))
                for m, models in self.models.items()
            }

    def estimate(self, frame: pd.DataFrame, yhat: np.ndarray) -> dict[str, Estimate]:
        """Estimated MAE, RMSE and MAPE of the rows of `frame` (predictions `yhat`; NaN rows left out)."""
        ok = np.isfinite(yhat)
        n = int(ok.sum())
        if n == 0:
            return {m: Estimate.missing("no rows with a prediction") for m in self.models}
        excluded = int(ok.size - n)
        status = "ok" if excluded == 0 else f"ok ({excluded} row(s) without a prediction excluded)"
        losses = self.predict_losses(frame.iloc[np.flatnonzero(ok)] if excluded else frame, yhat[ok])
        z = self.standard_errors
        out: dict[str, Estimate] = {}
        for m, loss in losses.items():
            mean = float(loss.mean())
            if m == "rmse":
                value = math.sqrt(mean)
                se = math.sqrt(self.loss_std[m] ** 2 / (4 * n * max(self.squared_error_mean, 1e-300)))
            else:
                value = mean
                se = self.loss_std[m] / math.sqrt(n)
            out[m] = Estimate(value, se, max(0.0, value - z * se), value + z * se, status, n)
        return out

    def to_dict(self) -> dict[str, Any]:
        digest = hashlib.sha256(pickle.dumps(self.models)).hexdigest()[:16]
        return {
            "numerical": list(self.numerical),
            "categorical": list(self.categorical),
            "metrics": list(self.models),
            "loss_std": dict(self.loss_std),
            "squared_error_mean": self.squared_error_mean,
            "n_fit": self.n_fit,
            "standard_errors": self.standard_errors,
            "models_digest": digest,
        }


def fit_dle(
    reference: pd.DataFrame, rows: PreparedRows, *, columns: ColumnsConfig, config: DLEConfig, seed: int = 0
) -> tuple[DLEEstimator | None, str]:
    """Fit the loss models on the reference's labeled rows with a prediction; the status says why not."""
    if not config.enabled:
        return None, "disabled"
    from sklearn.ensemble import HistGradientBoostingRegressor
    from threadpoolctl import threadpool_limits

    numerical = tuple(c for c in columns.numerical_features if c in reference.columns)
    categorical = tuple(c for c in columns.categorical_features if c in reference.columns)
    usable = np.flatnonzero(rows.labeled & np.isfinite(rows.yhat) & np.isfinite(rows.y))
    if usable.size < config.min_rows:
        return None, f"not fitted: {usable.size} labeled reference rows with a prediction < {config.min_rows}"
    rng = np.random.default_rng(seed)
    if usable.size > config.max_rows:
        usable = np.sort(rng.choice(usable, size=config.max_rows, replace=False))
    frame = reference.iloc[usable]
    y, yhat = rows.y[usable], rows.yhat[usable]
    categories = tuple(
        pd.Index(pd.unique(frame[c].dropna().astype(object)), dtype=object) for c in categorical
    )
    draft = DLEEstimator(numerical, categorical, categories, {}, {}, 0.0, 0, config.standard_errors)
    x = draft.matrix(frame, yhat)
    native = [len(c) + 1 <= MAX_NATIVE_CATEGORIES for c in categories]
    mask = np.array([False] * len(numerical) + native + [False], dtype=bool)
    half = rng.permutation(usable.size) % 2 == 0
    losses = _losses(y, yhat)
    models: dict[str, tuple[Any, ...]] = {}
    # One OpenMP thread, as the domain classifier (drift/multivariate.py): faster on a busy host.
    with threadpool_limits(1):
        for m in DLE_METRICS:
            pair = []
            for part in (half, ~half):
                model = HistGradientBoostingRegressor(
                    categorical_features=mask if mask.any() else None, random_state=seed
                )
                pair.append(model.fit(x[part], losses[m][part]))
            models[m] = tuple(pair)
    loss_std = {m: float(np.std(losses[m])) for m in DLE_METRICS}
    estimator = DLEEstimator(
        numerical,
        categorical,
        categories,
        models,
        loss_std,
        float(np.mean(losses["rmse"])),
        int(usable.size),
        config.standard_errors,
    )
    return estimator, f"fitted on {usable.size} reference rows, in two halves"
