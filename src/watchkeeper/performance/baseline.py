"""What the performance section learns from the reference, once per reference: `PerformanceBaseline`.

`fit_performance_baseline(reference, ...)` finds the label set, the reference band of every metric,
the fitted CBPE estimator and the scale of the error stream the sequential detectors watch. The
result is plain data: it pickles, and `to_dict()` / `from_dict()` round-trip it through JSON, so the
flow can cache it.

Reference bands: the reference is cut into chunks the size of a monitoring window — by timestamp
when the reference has one (chunks aligned to multiples of the window size since the Unix epoch,
like the monitoring windows; chunks with fewer than half the median chunk's rows, i.e. partial
edges, are left out), otherwise by row count (`PerformanceConfig.reference_chunk_rows`, default a
tenth of the reference; a trailing chunk under half that size is left out). Each metric is computed
per chunk; band = mean ± k·std (sample std) clipped to the metric's range. A band describes
windows of about the chunk's size: a much smaller window varies more than its band says.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd

from watchkeeper.performance.cbpe import CBPEEstimator, fit_cbpe
from watchkeeper.performance.config import CLASSIFICATION_METRICS, REGRESSION_METRICS, PerformanceConfig
from watchkeeper.performance.dle import DLEEstimator, fit_dle
from watchkeeper.performance.inputs import (
    PreparedRows,
    compute_realized,
    is_classification,
    prepare_rows,
    timestamps_ns,
)
from watchkeeper.performance.metrics import METRIC_RANGES, canonical_label
from watchkeeper.schema import ColumnsConfig, TaskType


@dataclass(frozen=True)
class Band:
    """The reference band of one metric, or None bounds with the reason in `status`."""

    lower: float | None
    upper: float | None
    mean: float | None = None
    std: float | None = None
    n_chunks: int = 0
    status: str = "ok"

    def contains(self, value: float) -> bool:
        return (self.lower is None or value >= self.lower) and (self.upper is None or value <= self.upper)

    def to_dict(self) -> dict[str, Any]:
        return {
            "lower": self.lower,
            "upper": self.upper,
            "mean": self.mean,
            "std": self.std,
            "n_chunks": self.n_chunks,
            "status": self.status,
        }


@dataclass(frozen=True)
class PerformanceBaseline:
    """Everything learned from the reference; plain data (pickles, JSON via `to_dict`)."""

    task: TaskType
    classes: tuple[str, ...]  # binary: (negative, positive); multiclass: the probability classes
    bands: dict[str, Band]
    chunking: str
    n_reference: int
    cbpe: CBPEEstimator | None
    cbpe_status: str
    # Error-stream scale for the sequential detectors (see streams.py).
    stream_mean: float
    stream_std: float
    ddm_abs_threshold: float | None = None  # regression: |error| above this counts as an error for DDM
    # Regression: direct loss estimation (dle.py); it pickles, and is not rebuilt from JSON.
    dle: DLEEstimator | None = None
    dle_status: str = "not applicable: classification"

    def unfitted_parts(self) -> dict[str, str]:
        """The estimators this reference could not fit, and why (`checks.ReportsUnfitted`): CBPE on a
        one-class reference, DLE on too few labeled rows. Disabled or not applicable ones are not."""
        out = {}
        for part, status in (("cbpe", self.cbpe_status), ("dle", self.dle_status)):
            if status.startswith("not fitted"):
                out[part] = status.removeprefix("not fitted: ")
        return out

    def fingerprint(self) -> str:
        """A short hash of the baseline; detector state fed under another baseline is discarded."""
        text = json.dumps(self.to_dict(), sort_keys=True, allow_nan=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task.value,
            "classes": list(self.classes),
            "bands": {m: b.to_dict() for m, b in self.bands.items()},
            "chunking": self.chunking,
            "n_reference": self.n_reference,
            "cbpe": None if self.cbpe is None else self.cbpe.to_dict(),
            "cbpe_status": self.cbpe_status,
            "stream_mean": self.stream_mean,
            "stream_std": self.stream_std,
            "ddm_abs_threshold": self.ddm_abs_threshold,
            "dle": None if self.dle is None else self.dle.to_dict(),
            "dle_status": self.dle_status,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PerformanceBaseline:
        return cls(
            task=TaskType(data["task"]),
            classes=tuple(data["classes"]),
            bands={m: Band(**b) for m, b in data["bands"].items()},
            chunking=data["chunking"],
            n_reference=int(data["n_reference"]),
            cbpe=None if data["cbpe"] is None else CBPEEstimator.from_dict(data["cbpe"]),
            cbpe_status=data["cbpe_status"],
            stream_mean=float(data["stream_mean"]),
            stream_std=float(data["stream_std"]),
            ddm_abs_threshold=data["ddm_abs_threshold"],
            dle_status=data.get("dle_status", "not applicable: classification")
            + (" (not restored from JSON: refit)" if data.get("dle") else ""),
        )


def fit_performance_baseline(
    reference: pd.DataFrame,
    *,
    columns: ColumnsConfig,
    task: TaskType,
    config: PerformanceConfig,
    window_size: timedelta | None,
) -> PerformanceBaseline:
    """Learn bands, CBPE and the error-stream scale from the reference (labels required).

    Raises `ValueError` only when the reference cannot define the task (a binary target with more
    than two labels, multiclass without probability columns); anything milder is a status.
    """
    if task is TaskType.BINARY:
        classes: tuple[str, ...] = _binary_classes(reference, columns, config.positive_class)
    elif task is TaskType.MULTICLASS:
        if not columns.probabilities:
            raise ValueError("multiclass classification needs columns.probabilities (class → column)")
        classes = tuple(columns.probabilities)
    else:
        classes = ()
    rows = prepare_rows(
        reference, columns=columns, task=task, classes=classes, threshold=config.decision_threshold
    )
    chunks, chunking = chunk_reference(reference, columns, config.reference_chunk_rows, window_size)
    bands = _fit_bands(rows, chunks, task, config)
    cbpe, cbpe_status = _fit_reference_cbpe(rows, classes, task, config)
    mean, std, ddm_abs = _fit_stream_scale(rows, task)
    dle, dle_status = None, "not applicable: classification"
    if task is TaskType.REGRESSION:
        dle, dle_status = fit_dle(reference, rows, columns=columns, config=config.dle)
    return PerformanceBaseline(
        task, classes, bands, chunking, len(reference), cbpe, cbpe_status, mean, std, ddm_abs, dle, dle_status
    )


def _binary_classes(reference: pd.DataFrame, columns: ColumnsConfig, positive: str | None) -> tuple[str, str]:
    seen: set[str] = set()
    for col in (columns.target, columns.prediction):
        if col is not None and col in reference.columns:
            seen.update(canonical_label(v) for v in pd.unique(reference[col].dropna()))
    if positive is None:
        positive = "1" if "1" in seen else "True" if "True" in seen else (max(seen) if seen else "1")
    others = sorted(seen - {positive})
    if len(others) > 1:
        raise ValueError(f"binary classification, but the reference has more than two labels: {sorted(seen)}")
    default_negative = {"1": "0", "True": "False"}.get(positive, f"not {positive}")
    return (others[0] if others else default_negative), positive


def chunk_reference(
    reference: pd.DataFrame, columns: ColumnsConfig, chunk_rows: int | None, window_size: timedelta | None
) -> tuple[list[np.ndarray], str]:
    """The reference's rows cut into window-sized chunks (see the module docstring), and how."""
    n = len(reference)
    if window_size is not None and columns.timestamp in reference.columns:
        ts = timestamps_ns(reference[columns.timestamp])
        chunk_id = ts // int(window_size.total_seconds() * 1e9)
        how = f"by timestamp, {window_size} per chunk (epoch-aligned)"
    else:
        rows = chunk_rows or max(n // 10, 2)
        chunk_id = np.arange(n) // rows
        how = f"by row count, {rows} rows per chunk"
    order = np.argsort(chunk_id, kind="stable")
    _, starts, counts = np.unique(chunk_id[order], return_index=True, return_counts=True)
    keep = counts >= 0.5 * (np.median(counts) if "timestamp" in how else counts.max())
    chunks = [order[s : s + c] for s, c, k in zip(starts, counts, keep, strict=True) if k]
    dropped = int((~keep).sum())
    return chunks, f"{how}: {len(chunks)} chunks" + (
        f" ({dropped} partial chunk(s) left out)" if dropped else ""
    )


def _fit_bands(
    rows: PreparedRows, chunks: list[np.ndarray], task: TaskType, config: PerformanceConfig
) -> dict[str, Band]:
    metric_names = CLASSIFICATION_METRICS if is_classification(task) else REGRESSION_METRICS
    if task is TaskType.BINARY:
        metric_names = tuple(m for m in metric_names if not m.endswith("_weighted"))
    per_chunk: dict[str, list[float]] = {m: [] for m in metric_names}
    for idx in chunks:
        chunk_values, _ = compute_realized(rows, idx, task)
        for m, v in chunk_values.items():
            if v.value is not None and m in per_chunk:
                per_chunk[m].append(v.value)
    bands: dict[str, Band] = {}
    for m, values in per_chunk.items():
        if len(values) < 2:
            bands[m] = Band(
                None,
                None,
                n_chunks=len(values),
                status="not computable: fewer than 2 reference chunks with a value",
            )
            continue
        mean, std = float(np.mean(values)), float(np.std(values, ddof=1))
        lo, hi = METRIC_RANGES[m]
        lower = mean - config.band_k * std
        upper = mean + config.band_k * std
        bands[m] = Band(
            lower if lo is None else max(lower, lo),
            upper if hi is None else min(upper, hi),
            mean,
            std,
            len(values),
        )
    return bands


def _fit_reference_cbpe(
    rows: PreparedRows, classes: tuple[str, ...], task: TaskType, config: PerformanceConfig
) -> tuple[CBPEEstimator | None, str]:
    """CBPE on the labeled rows with valid probabilities and a known class, and its status."""
    if not is_classification(task):
        return None, "not applicable: regression"
    if not config.cbpe.enabled:
        return None, "disabled"
    if rows.proba is None or rows.proba_issue is not None:
        return None, f"not fitted: {rows.proba_issue or 'no probabilities'}"
    ok = rows.labeled & (rows.y < rows.n_classes) & np.isfinite(rows.proba).all(axis=1)
    if np.unique(rows.y[ok]).size < 2:
        return None, "not fitted: the reference labels contain a single class"
    cbpe = fit_cbpe(
        rows.proba[ok],
        rows.y[ok],
        classes=classes,
        binary=task is TaskType.BINARY,
        calibration=config.cbpe.calibration,
        cv_folds=config.cbpe.cv_folds,
        standard_errors=config.cbpe.standard_errors,
    )
    return cbpe, "fitted, isotonic calibration" if cbpe.calibrated else "fitted, scores used as they are"


def _fit_stream_scale(rows: PreparedRows, task: TaskType) -> tuple[float, float, float | None]:
    """(mean, std) of the reference's per-row error, and regression's DDM error threshold."""
    if is_classification(task):
        valid = rows.labeled & (rows.yhat >= 0)
        rate = float((rows.yhat[valid] != rows.y[valid]).mean()) if valid.any() else 0.5
        # The floor keeps a near-perfect reference model from making every error a huge z-score.
        return rate, max(float(np.sqrt(rate * (1 - rate))), 0.05), None
    valid = rows.labeled & np.isfinite(rows.yhat)
    abs_err = np.abs(rows.yhat[valid] - rows.y[valid])
    if not abs_err.size:
        return 0.0, 1.0, None
    return float(abs_err.mean()), max(float(abs_err.std()), 1e-12), float(np.quantile(abs_err, 0.9))
