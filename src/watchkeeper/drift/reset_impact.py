"""Drift impact measured on the model: the performance change when one feature alone is reset.

For each feature, a seeded sample of the window's rows is scored twice by the model that scored
the window (loaded from the MLflow registry by the monitor flow): as it is, and with that one
column replaced by values drawn from the reference (its reference distribution, the other columns
kept). The change of the metric between the two is what that feature's drift costs (or earns):

- with labels in the window (at least `MIN_LABELED` labeled rows, both classes for ROC AUC), the
  realized primary metric on the labeled rows: ROC AUC (binary), MAE (regression), accuracy
  (multiclass);
- without labels, the change in the model's output: the mean score (binary), the mean prediction
  (regression), the share of predictions that change class (multiclass). CBPE's / DLE's estimate
  is not recomputed on the reset rows.

`change` = metric(reset) − metric(window): for ROC AUC and accuracy a positive change means the
drift of that feature costs performance, for MAE a negative one. `impact` = |change|, the ranking
key. All features are scored in ONE call of the model on the stacked copies (features × sample
rows); the samples are drawn with a fixed seed, so a re-run gives the same figures.

`ResetImpactCheck` is the check: `fit` keeps a seeded sample of the reference's feature columns,
`evaluate` loads the model through the `ModelSource` it was built with (a callable the flow gives,
version → model) and measures. On a partitioned window the sampled rows are gathered from the
partitions and measured on the driver (`watchkeeper.partitioned.reset`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from watchkeeper.checks import Window, model_versions
from watchkeeper.config import ColumnsConfig, MonitorConfig, TaskType
from watchkeeper.drift.multivariate import sample_rows
from watchkeeper.performance.metrics import canonical_label, roc_auc
from watchkeeper.training import score_frame
from watchkeeper.verdict import NOTHING_TO_PUBLISH, Finding, Publication
from watchkeeper.windows import ReferenceData

MIN_LABELED = 50
SEED = 0

# The model that scored a window's rows (a version, None: the champion), loaded from the registry.
ModelSource = Callable[[str | None], Any]


@dataclass(frozen=True)
class FeatureReset:
    feature: str
    change: float | None
    status: str

    @property
    def impact(self) -> float | None:
        return None if self.change is None else abs(self.change)


@dataclass(frozen=True)
class ResetImpactReport:
    """The per-feature effect of resetting one feature to its reference distribution."""

    metric: str  # e.g. "realized roc_auc", "mean score"
    model_version: str | None
    n_rows: int
    features: tuple[FeatureReset, ...]
    status: str = "ok"

    def by_feature(self) -> dict[str, FeatureReset]:
        return {f.feature: f for f in self.features}

    def figures(self) -> dict[str, float]:
        return {}  # carried by `drift.impact` (`<feature>.reset_change`), beside the correlation

    def findings(self) -> list[Finding]:
        return []

    def publish(self) -> Publication:
        return NOTHING_TO_PUBLISH

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "model_version": self.model_version,
            "n_rows": self.n_rows,
            "status": self.status,
            "features": [
                {"feature": f.feature, "change": f.change, "status": f.status} for f in self.features
            ],
        }


def unmeasured(features: Sequence[str], why: str, *, version: str | None = None) -> ResetImpactReport:
    return ResetImpactReport(
        "",
        version,
        0,
        tuple(FeatureReset(f, None, f"not measured: {why}") for f in features),
        f"not measured: {why}",
    )


def _stack_resets(
    base: pd.DataFrame, reference: pd.DataFrame, features: Sequence[str], seed: int
) -> pd.DataFrame:
    """`base` followed by one copy per feature with that feature's column drawn from `reference`."""
    n, k = len(base), len(features)
    rng = np.random.default_rng(seed)
    draws = {f: reference[f].to_numpy()[rng.integers(0, len(reference), size=n)] for f in features}
    columns: dict[str, Any] = {}
    for col in base.columns:
        own = base[col].to_numpy()
        if col not in draws:
            columns[col] = np.tile(own, k + 1)
            continue
        blocks = [own] * (k + 1)
        blocks[1 + list(features).index(col)] = draws[col]
        columns[col] = np.concatenate(blocks)
    return pd.DataFrame(columns)


def _labels(window: pd.DataFrame, target: str | None) -> pd.Series | None:
    if target is None or target not in window.columns:
        return None
    return window[target]


def measure_reset_impact(
    model: Any,
    reference: pd.DataFrame,
    window: pd.DataFrame,
    *,
    columns: ColumnsConfig,
    task: TaskType,
    sample: int,
    seed: int = SEED,
    version: str | None = None,
) -> ResetImpactReport:
    """The change of the metric when each feature alone is reset to the reference (see above)."""
    features = [f for f in columns.features if f in reference.columns and f in window.columns]
    missing = [f for f in columns.features if f not in features]
    if window.empty or reference.empty or not features:
        return unmeasured(columns.features, "no rows or no feature columns on both sides", version=version)
    labels = _labels(window, columns.target)
    labeled = labels.notna().to_numpy() if labels is not None else np.zeros(len(window), dtype=bool)
    use_labels = int(labeled.sum()) >= MIN_LABELED
    rows = window[labeled] if use_labels else window
    base = rows.iloc[sample_rows(len(rows), sample, seed)].reset_index(drop=True)
    stacked = _stack_resets(base[list(features)], reference, features, seed + 1)
    full = stacked.reindex(columns=list(columns.features))  # a feature absent on one side: NaN (imputed)
    out = score_frame(model, full, columns=columns, task=task)
    n, k = len(base), len(features)
    y = base[columns.target].to_numpy() if use_labels and columns.target else None
    metric, values = _metric_per_block(model, out, columns, task, y, n, k + 1)
    if values is None:
        return unmeasured(columns.features, metric, version=version)
    changes = values[1:] - values[0]
    found = [FeatureReset(f, float(c), "ok") for f, c in zip(features, changes, strict=True)]
    found += [
        FeatureReset(f, None, "not measured: column absent from the window or the reference") for f in missing
    ]
    return ResetImpactReport(metric, version, n, tuple(found))


def _metric_per_block(
    model: Any,
    out: pd.DataFrame,
    columns: ColumnsConfig,
    task: TaskType,
    y: np.ndarray | None,
    n: int,
    blocks: int,
) -> tuple[str, np.ndarray | None]:
    """The metric of each block of `n` scored rows (block 0: the window as it is)."""
    if task is TaskType.BINARY:
        score = out[columns.score or "score"].to_numpy(dtype=np.float64).reshape(blocks, n)
        if y is not None:
            truth = _same_class(y, model.classes_[1])
            if truth.all() or not truth.any():
                return "labels contain a single class", None
            return "realized roc_auc", np.array([roc_auc(truth, s) for s in score])
        return "mean score", score.mean(axis=1)
    pred = out[columns.prediction or "prediction"].to_numpy()
    if task is TaskType.REGRESSION:
        yhat = pred.astype(np.float64).reshape(blocks, n)
        if y is not None:
            return "realized mae", np.abs(yhat - y.astype(np.float64)).mean(axis=1)
        return "mean prediction", yhat.mean(axis=1)
    classes = pred.reshape(blocks, n)
    if y is not None:
        hits = np.stack([_same_class(y, c) for c in classes]) if len(classes) else np.zeros((0, n), bool)
        return "realized accuracy", hits.mean(axis=1)
    return "share of predictions changed", (classes != classes[0]).mean(axis=1)


def _same_class(values: np.ndarray, cls: Any) -> np.ndarray:
    """`values == cls` elementwise, labels compared as `canonical_label` does (1, 1.0, "1" alike)."""
    values = np.asarray(values)
    cls_arr = np.asarray(cls)
    if values.dtype.kind in "biuf" and (cls_arr.dtype.kind in "biuf"):
        return values.astype(np.float64) == cls_arr.astype(np.float64)
    if values.dtype.kind in "biuf":
        return np.asarray(pd.Series(values).map(canonical_label)) == np.asarray(cls, dtype=str)
    return values.astype(str) == np.asarray(cls).astype(str)


@dataclass(frozen=True)
class ResetImpactCheck:
    """The check that measures `measure_reset_impact` per window with the model `models` loads."""

    models: ModelSource
    name: str = "drift.reset"

    def fit(self, reference: ReferenceData, config: MonitorConfig) -> pd.DataFrame | None:
        if not (config.drift.enabled and config.drift.reset_impact):
            return None
        frame = reference.frame
        features = [f for f in config.columns.features if f in frame.columns]
        # A sample of the reference suffices: values are drawn from it, never all of it used.
        return (
            frame[features]
            .iloc[sample_rows(len(frame), 20 * config.drift.reset_sample, SEED)]
            .reset_index(drop=True)
        )

    def evaluate(self, fitted: pd.DataFrame | None, window: Window) -> ResetImpactReport | None:
        if fitted is None or window.empty:
            return None
        return self.measure(fitted, window.config, window.frame, model_versions(window.config, window.frame))

    def measure(
        self, fitted: pd.DataFrame, config: MonitorConfig, rows: pd.DataFrame, versions: Sequence[str]
    ) -> ResetImpactReport:
        """`evaluate` on `rows`: the window's rows, or exactly the rows it samples (a partitioned
        window: `watchkeeper.partitioned.reset`); `versions`: the window's model versions."""
        version = versions[0] if len(versions) == 1 else None
        try:
            model = self.models(version)
        except Exception as exc:
            which = f"version {version}" if version else "the champion"
            return unmeasured(
                config.columns.features,
                f"{which} not loadable from the registry ({type(exc).__name__}: {exc})",
                version=version,
            )
        return measure_reset_impact(
            model,
            fitted,
            rows,
            columns=config.columns,
            task=config.model.task,
            sample=config.drift.reset_sample,
            version=version,
        )
