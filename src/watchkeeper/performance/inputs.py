"""A window's (or the reference's) columns as the arrays every performance step works on.

`prepare_rows` reads labels, predictions, scores/probabilities and timestamps once, and says in
notes what it could not use (missing columns, NaN rows, labels outside the model's classes) rather
than raising: bad input must show up in the report, not stop the run. Classification labels and
predictions become integer codes into one label list, so metrics, CBPE and the error stream
compare codes, never strings. `compute_realized` is the realized figures of any subset of rows
(the window, a reference chunk, one model version, the gap test's rows).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from watchkeeper.performance.metrics import (
    ConfusionMatrix,
    MetricValue,
    ScoreOrder,
    classification_metrics,
    encode_labels,
    proba_problem,
    regression_metrics,
)
from watchkeeper.schema import ColumnsConfig, TaskType


@dataclass(frozen=True)
class PreparedRows:
    """The rows' columns as arrays; classification labels as codes into `labels`."""

    n: int
    y: np.ndarray  # codes (-1 unlabeled) or floats (NaN unlabeled)
    yhat: np.ndarray  # codes (-1 none) or floats (NaN none)
    labeled: np.ndarray
    proba: np.ndarray | None
    proba_issue: str | None
    labels: list[str]
    n_classes: int
    ts_ns: np.ndarray | None
    notes: list[str]
    proba_ok: np.ndarray | None = None  # rows whose probabilities are all finite
    # CBPE-calibrated probabilities, added by `evaluate_performance` so that the estimates, the gap
    # test and the error stream calibrate once.
    calibrated: np.ndarray | None = None
    # The rows sorted by each probability column, once for every ranking figure of the window.
    order: ScoreOrder | None = None


def is_classification(task: TaskType) -> bool:
    return task is not TaskType.REGRESSION


def timestamps_ns(values: pd.Series) -> np.ndarray:
    """UTC nanoseconds since the epoch (naive timestamps taken as UTC), as int64."""
    # cache=False: pandas' conversion cache hashes every value to convert each distinct one once;
    # a window's repeated timestamps made that the costliest step of `perf` (1.8 s at 3M rows).
    return pd.to_datetime(values, utc=True, cache=False).to_numpy(dtype="datetime64[ns]").astype(np.int64)


def prepare_rows(
    frame: pd.DataFrame, *, columns: ColumnsConfig, task: TaskType, classes: tuple[str, ...], threshold: float
) -> PreparedRows:
    """Arrays of `frame`; `classes` are the model's classes, `threshold` derives binary predictions
    from the scores when there is no prediction column."""
    n = len(frame)
    notes: list[str] = []
    ts_ns = timestamps_ns(frame[columns.timestamp]) if columns.timestamp in frame.columns else None
    has_target = columns.target is not None and columns.target in frame.columns
    if not has_target:
        notes.append(f"no target column {columns.target!r}: no labels")
    has_pred = columns.prediction is not None and columns.prediction in frame.columns

    if not is_classification(task):
        if has_target:
            raw = frame[columns.target]
            y = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
            bad = int((raw.notna().to_numpy() & ~np.isfinite(y)).sum())
            if bad:
                notes.append(f"{bad} target value(s) are not numbers: treated as unlabeled")
        else:
            y = np.full(n, np.nan)
        if has_pred:
            yhat = pd.to_numeric(frame[columns.prediction], errors="coerce").to_numpy(dtype=np.float64)
        else:
            notes.append(f"no prediction column {columns.prediction!r}")
            yhat = np.full(n, np.nan)
        missing_pred = int((~np.isfinite(yhat)).sum())
        if missing_pred:
            notes.append(f"{missing_pred} row(s) have no prediction (NaN)")
        return PreparedRows(n, y, yhat, np.isfinite(y), None, None, [], 0, ts_ns, notes)

    binary = task is TaskType.BINARY
    k = len(classes)
    proba, issue = _read_probabilities(frame, columns, classes, binary=binary)
    proba_ok: np.ndarray | None = None
    if proba is not None:
        issue = proba_problem(proba, binary=binary)
        proba_ok = np.isfinite(proba).all(axis=1)
        nan_rows = int((~proba_ok).sum())
        if nan_rows:
            notes.append(f"{nan_rows} row(s) have no score/probability (NaN)")

    if has_target:
        y, extra_y = encode_labels(frame[columns.target], classes)
    else:
        y, extra_y = np.full(n, -1, dtype=np.int64), []
    labels = [*classes, *extra_y]
    if has_pred:
        yhat, extra_p = encode_labels(frame[columns.prediction], labels)
        labels += extra_p
    elif proba is not None and proba_ok is not None and issue is None:
        guess = (proba[:, 1] >= threshold).astype(np.int64) if binary else np.argmax(proba, axis=1)
        yhat = np.where(proba_ok, guess, -1)
        notes.append("no prediction column: predictions derived from the scores")
    else:
        yhat = np.full(n, -1, dtype=np.int64)
        notes.append("no prediction column and no usable scores: label metrics not computable")
    missing_pred = int((yhat < 0).sum())
    if has_pred and missing_pred:
        notes.append(f"{missing_pred} row(s) have no prediction (NaN)")
    if len(labels) > k:
        notes.append(f"labels outside the model's classes {list(classes)}: {labels[k:]}")
    order = None if proba is None else ScoreOrder(proba)
    return PreparedRows(n, y, yhat, y >= 0, proba, issue, labels, k, ts_ns, notes, proba_ok, order=order)


def _read_probabilities(
    frame: pd.DataFrame, columns: ColumnsConfig, classes: tuple[str, ...], *, binary: bool
) -> tuple[np.ndarray | None, str | None]:
    """One column per class (binary: 1 − score, score), or None and why the columns are unusable."""
    if binary:
        if columns.score is None or columns.score not in frame.columns:
            return None, f"missing score column {columns.score!r}"
        s = pd.to_numeric(frame[columns.score], errors="coerce").to_numpy(dtype=np.float64)
        return np.column_stack([1.0 - s, s]), None
    mapping = columns.probabilities or {}
    absent = [c for c in mapping.values() if c not in frame.columns]
    if not mapping:
        return None, "no probability columns configured"
    if absent:
        return None, f"missing probability column(s) {absent}"
    proba = np.column_stack(
        [pd.to_numeric(frame[mapping[c]], errors="coerce").to_numpy(dtype=np.float64) for c in classes]
    )
    return proba, None


def compute_realized(
    rows: PreparedRows, idx: np.ndarray, task: TaskType
) -> tuple[dict[str, MetricValue], ConfusionMatrix | None]:
    """Realized figures on the labeled rows among positions `idx`."""
    sel = idx[rows.labeled[idx]]
    if not is_classification(task):
        return regression_metrics(rows.y[sel], rows.yhat[sel]), None
    # The whole window's figures are computed once (a window with one model version asks twice).
    whole = rows.order is not None and rows.order.covers(idx)
    inputs = (task, rows.y, rows.yhat, rows.proba, tuple(rows.labels), rows.n_classes, rows.proba_issue)
    if whole and rows.order is not None:
        kept = rows.order.recall("realized", inputs)
        if kept is not None:
            return dict(kept[0]), kept[1]
    out = classification_metrics(
        rows.y[sel],
        rows.yhat[sel],
        None if rows.proba is None else rows.proba[sel],
        labels=rows.labels,
        n_proba_classes=rows.n_classes,
        binary=task is TaskType.BINARY,
        proba_unusable=rows.proba_issue,
        order=rows.order,
        positions=sel,
    )
    if whole and rows.order is not None:
        rows.order.remember("realized", inputs, (dict(out[0]), out[1]))
    return out
