"""The sequential detectors' error stream (``perf.detectors``) of a partitioned window, exactly.

In memory, `watchkeeper.performance.streams.error_stream` takes the window's usable labeled rows in
row order, sorts them stably by timestamp and computes DDM's and Page-Hinkley's values row by row;
`feed_pending_detectors` feeds them later from the previous window's state. Every value is
row-local (a row's error, and for CBPE its calibrated probability of the predicted class), so a
partition keeps, per labeled row, its timestamp, its place in the window (`order`: partition index
and row, as `ORDER_COLUMN` for the deferred rows of duplicated ids), whether it is usable, its
error and its CBPE-expected error (≈ 34 bytes per labeled row). `finalize_stream` concatenates the
pieces, restores the window's row order, applies the window's choices (which stream, from the
merged probability issue) and the same stable sort: the same `DetectorStream` as in memory where
the partitions concatenate to the window's row order (Parquet row groups, frame slices, logs sorted
by time) — otherwise the same rows, ties in time ordered by partition. The partitioned report
carries it as ``PerformanceReport.pending``; the detectors' state is never touched here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from watchkeeper.performance.baseline import PerformanceBaseline
from watchkeeper.performance.inputs import PreparedRows, is_classification
from watchkeeper.performance.streams import DetectorStream
from watchkeeper.schema import TaskType

PARTITION_SHIFT = 40  # order = partition index << 40 | row in the partition (as `ORDER_COLUMN`)


@dataclass(frozen=True)
class StreamPiece:
    """Some of a window's labeled rows for the error stream (arrays over those rows, row order)."""

    ts_ns: np.ndarray | None  # None: no timestamp column (the detectors cannot run)
    order: np.ndarray  # the row's place in the window
    usable: np.ndarray  # labeled with a prediction (classification) / a finite prediction
    err: np.ndarray  # error indicator (classification) or |error| (regression)
    scored: np.ndarray  # CBPE: a finite score and a prediction among the model's classes
    expected: np.ndarray  # CBPE: 1 − calibrated probability of the predicted class (else 0)
    max_ts_ns: int | None  # the latest timestamp of all the rows (labeled or not)


def map_stream(
    rows: PreparedRows, task: TaskType, order: np.ndarray, calibrated: np.ndarray | None
) -> StreamPiece:
    """The piece of `rows` (one partition's, labels joined); `calibrated`: CBPE's, or None."""
    lab = np.flatnonzero(rows.labeled)
    empty = np.zeros(lab.size, dtype=bool)
    max_ts = None if rows.ts_ns is None or not rows.n else int(rows.ts_ns.max())
    ts = None if rows.ts_ns is None else rows.ts_ns[lab]
    if not is_classification(task):
        usable = np.isfinite(rows.yhat[lab])
        err = np.abs(rows.yhat[lab] - rows.y[lab])
        return StreamPiece(ts, order[lab], usable, err, empty, np.zeros(lab.size), max_ts)
    yhat = rows.yhat[lab]
    usable = yhat >= 0
    err = (yhat != rows.y[lab]).astype(np.float64)
    scored, expected = empty, np.zeros(lab.size)
    if calibrated is not None and rows.proba_ok is not None:
        scored = rows.proba_ok[lab] & usable & (yhat < rows.n_classes)
        pick = np.flatnonzero(scored)
        expected = np.zeros(lab.size)
        expected[pick] = 1.0 - calibrated[lab[pick], yhat[pick]]
    return StreamPiece(ts, order[lab], usable, err, scored, expected, max_ts)


def finalize_stream(
    pieces: Sequence[StreamPiece], baseline: PerformanceBaseline, proba_issue: str | None
) -> DetectorStream | None:
    """`error_stream` of the whole window from its pieces (`proba_issue`: the window's, merged)."""
    if not pieces or any(p.ts_ns is None for p in pieces):
        return None

    def cat(name: str) -> np.ndarray:
        return np.concatenate([getattr(p, name) for p in pieces])

    perm = np.argsort(cat("order"), kind="stable")  # the window's row order
    ts, usable, err = cat("ts_ns")[perm], cat("usable")[perm], cat("err")[perm]
    idx = np.flatnonzero(usable)
    idx = idx[np.argsort(ts[idx], kind="stable")]
    mean, std = baseline.stream_mean, baseline.stream_std
    # The same expressions as `performance.streams._error_stream`, so the values are its own.
    if not is_classification(baseline.task):
        e = err[idx]
        ddm = (e > (baseline.ddm_abs_threshold or 0.0)).astype(np.float64)
        z, name = (e - mean) / std, "absolute error"
    elif baseline.cbpe is None or proba_issue is not None:
        e = err[idx]
        ddm, z, name = e, (e - mean) / std, "error indicator"
    else:
        idx = idx[cat("scored")[perm][idx]]
        excess = err[idx] - cat("expected")[perm][idx]
        ddm, z, name = excess + mean, excess / std, "error minus CBPE-expected error"
    highest = [p.max_ts_ns for p in pieces if p.max_ts_ns is not None]
    return DetectorStream(
        ts_ns=ts[idx],
        ddm=ddm,
        z=z,
        labeled_ts_ns=ts,
        max_ts_ns=max(highest) if highest else None,
        name=name,
    )
