"""Feeding a window's labeled rows to the sequential detectors (DDM, Page-Hinkley) of concept.py.

The stream. For classification with a fitted CBPE it is each row's error minus its CBPE-expected
error (1 − calibrated probability of the predicted class), so the detectors react to P(y|x)
changing, not to traffic moving into regions where the model is known to be weaker (covariate
shift); without CBPE, and for regression, it is the raw error (regression: |error|, and for DDM the
indicator |error| > the reference's 90th percentile). Page-Hinkley sees the stream standardized by
the reference error's mean and standard deviation.

Late labels. Labels arrive late, and a window is evaluated several times as they do; the error
stream must still see every labeled row at most once. The rule:

1. a window feeds the detectors only when its labels are complete — the caller says so with
   ``labels_complete`` (the flow knows whether ``window_end + label_lag`` has passed), or, when it
   does not, when the label coverage reaches `detector_min_label_coverage` (`decide_feed`);
2. rows are fed in timestamp order, and only rows later than the state's watermark (the latest
   timestamp consumed so far); the watermark is saved with the state.

So windows must be fed in time order, a re-evaluated window (backfill, late labels) leaves the state
unchanged, and labels that arrive after their window was fed are not streamed (they still count in
the realized figures and the gap test). The state also records the baseline's fingerprint: a new
reference or model version (a new baseline) starts the detectors afresh. Windows are ``[start, end)``
by timestamp, so rows sharing a timestamp never straddle two windows. Without a timestamp column
the detectors do not run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from watchkeeper.performance.baseline import PerformanceBaseline
from watchkeeper.performance.concept import (
    DetectorResult,
    ddm_initial_state,
    page_hinkley_initial_state,
    update_ddm,
    update_page_hinkley,
)
from watchkeeper.performance.config import PerformanceConfig
from watchkeeper.performance.inputs import PreparedRows, is_classification

STATE_VERSION = 1


def decide_feed(
    n_rows: int, n_labeled: int, labels_complete: bool | None, config: PerformanceConfig
) -> tuple[bool, str]:
    """Whether this window feeds the detectors now, and the status to show when it does not."""
    if labels_complete is not None:
        return labels_complete, "waiting for labels (the window's labels are not complete)"
    coverage = n_labeled / n_rows if n_rows else 0.0
    feed = n_labeled > 0 and coverage >= config.detector_min_label_coverage
    why_not = (
        f"waiting for labels (coverage {coverage:.1%} < {config.detector_min_label_coverage:.0%})"
        if not feed
        else ""
    )
    return feed, why_not


@dataclass(frozen=True)
class DetectorStream:
    """A window's error stream, computed without the detectors' state (so windows can be prepared in
    parallel and fed in order): the usable labeled rows in time order, with DDM's and Page-Hinkley's
    values, and the timestamps the watermark rule needs."""

    ts_ns: np.ndarray  # the streamed rows' timestamps, ascending
    ddm: np.ndarray  # DDM's stream (error indicator, or |error| above the reference's 90th percentile)
    z: np.ndarray  # Page-Hinkley's standardized stream
    labeled_ts_ns: np.ndarray  # every labeled row's timestamp (to count those at the watermark)
    max_ts_ns: int | None  # the window's latest timestamp (the window is consumed whole)
    name: str  # what the stream is ("error minus CBPE-expected error", …)


@dataclass(frozen=True)
class PendingDetectors:
    """What feeding a window to the detectors needs once the previous window's state is known."""

    stream: DetectorStream | None  # None: not fed (labels incomplete, or no timestamp column)
    feed: bool
    why_not: str
    fingerprint: str  # the baseline's (a new baseline starts the detectors afresh)
    config: PerformanceConfig


def error_stream(rows: PreparedRows, baseline: PerformanceBaseline) -> DetectorStream | None:
    """The window's stream (None without a timestamp column: the detectors cannot run)."""
    if rows.ts_ns is None:
        return None
    if is_classification(baseline.task):
        valid = rows.labeled & (rows.yhat >= 0)
    else:
        valid = rows.labeled & np.isfinite(rows.yhat)
    idx = np.flatnonzero(valid)
    idx = idx[np.argsort(rows.ts_ns[idx], kind="stable")]
    idx, ddm_stream, z, name = _error_stream(rows, baseline, idx)
    return DetectorStream(
        ts_ns=rows.ts_ns[idx],
        ddm=ddm_stream,
        z=z,
        labeled_ts_ns=rows.ts_ns[rows.labeled],
        max_ts_ns=int(rows.ts_ns.max()) if rows.n else None,
        name=name,
    )


def feed_detectors(
    rows: PreparedRows,
    baseline: PerformanceBaseline,
    config: PerformanceConfig,
    state: dict[str, Any] | None,
    feed: bool,
    why_not: str,
) -> tuple[dict[str, DetectorResult], dict[str, Any], bool, str]:
    """Run the enabled detectors over the window's new labeled rows.

    Returns the detector results, the new state to persist, whether rows were fed, and the status.
    """
    stream = error_stream(rows, baseline) if feed else None
    return consume_stream(stream, baseline.fingerprint(), config, state, feed, why_not)


def consume_stream(
    stream: DetectorStream | None,
    fingerprint: str,
    config: PerformanceConfig,
    state: dict[str, Any] | None,
    feed: bool,
    why_not: str,
) -> tuple[dict[str, DetectorResult], dict[str, Any], bool, str]:
    """Feed a window's stream to the detectors from `state` (the previous window's): the rows after
    the state's watermark, in time order. Same returns as `feed_detectors`."""
    st, reset_note = _current_state(state, fingerprint)
    names = [
        n for n, on in (("ddm", config.ddm.enabled), ("page_hinkley", config.page_hinkley.enabled)) if on
    ]
    if not feed or stream is None:
        status = reset_note + (
            why_not if feed is False else "not run: no timestamp column to order the error stream"
        )
        return {n: _empty_detector(n, status) for n in names}, st, False, status
    ddm_stream, z, n_fed = stream.ddm, stream.z, stream.ts_ns.size
    if st["watermark_ns"] is not None:
        # Rows at or before the watermark were consumed by an earlier window (a re-evaluation).
        new = stream.ts_ns > st["watermark_ns"]
        ddm_stream, z, n_fed = ddm_stream[new], z[new], int(new.sum())
    results: dict[str, DetectorResult] = {}
    skipped = int((stream.labeled_ts_ns <= (st["watermark_ns"] or np.iinfo(np.int64).min)).sum())
    status = f"{reset_note}fed {n_fed} labeled row(s) in time order ({stream.name})" + (
        f"; {skipped} row(s) at or before the watermark skipped (already consumed)" if skipped else ""
    )
    if config.ddm.enabled:
        results["ddm"], st["ddm"] = update_ddm(
            ddm_stream,
            st["ddm"],
            warning_level=config.ddm.warning_level,
            drift_level=config.ddm.drift_level,
            min_samples=config.ddm.min_samples,
        )
    if config.page_hinkley.enabled:
        ph = config.page_hinkley
        results["page_hinkley"], st["page_hinkley"] = update_page_hinkley(
            z,
            st["page_hinkley"],
            delta=ph.delta,
            lambda_=ph.lambda_,
            alpha=ph.alpha,
            min_samples=ph.min_samples,
        )
    if stream.max_ts_ns is not None:
        # The whole window is consumed, labeled or not: labels that arrive for it later are not
        # streamed (they reach the realized figures and the gap test instead).
        st["watermark_ns"] = max(stream.max_ts_ns, st["watermark_ns"] or np.iinfo(np.int64).min)
    st["rows_consumed"] = int(st["rows_consumed"] + n_fed)
    results = {n: DetectorResult(r.name, r.drift, r.warning, r.drift_positions, r.n_consumed, r.statistic,
                                 r.threshold, status) for n, r in results.items()}  # fmt: skip
    return results, st, True, status


def _current_state(state: dict[str, Any] | None, fingerprint: str) -> tuple[dict[str, Any], str]:
    """A copy of the saved state if it belongs to this baseline, else a fresh one (and a note)."""
    if state and state.get("version") == STATE_VERSION and state.get("baseline") == fingerprint:
        return dict(state), ""
    # A new reference or model makes the old error stream meaningless: start over.
    reset_note = "detector state reset (baseline or state format changed); " if state else ""
    fresh = {
        "version": STATE_VERSION,
        "baseline": fingerprint,
        "watermark_ns": None,
        "rows_consumed": 0,
        "ddm": ddm_initial_state(),
        "page_hinkley": page_hinkley_initial_state(),
    }
    return fresh, reset_note


def _error_stream(
    rows: PreparedRows, baseline: PerformanceBaseline, idx: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """(rows kept, DDM's stream, Page-Hinkley's standardized stream, the stream's name) for `idx`."""
    if not is_classification(baseline.task):
        err = np.abs(rows.yhat[idx] - rows.y[idx])
        ddm_stream = (err > (baseline.ddm_abs_threshold or 0.0)).astype(np.float64)
        return idx, ddm_stream, (err - baseline.stream_mean) / baseline.stream_std, "absolute error"
    err = (rows.yhat[idx] != rows.y[idx]).astype(np.float64)
    cbpe = baseline.cbpe
    if cbpe is None or rows.proba is None or rows.proba_issue is not None:
        return idx, err, (err - baseline.stream_mean) / baseline.stream_std, "error indicator"
    # Subtract each row's expected error under the reference's P(y|x): covariate shift that moves
    # traffic into harder regions leaves this stream's mean unchanged, concept drift does not. Rows
    # without a usable score cannot be adjusted and are left out.
    assert rows.proba_ok is not None
    has_score = rows.proba_ok[idx] & (rows.yhat[idx] < rows.n_classes)
    idx, err = idx[has_score], err[has_score]
    cal = cbpe.calibrate(rows.proba[idx]) if rows.calibrated is None else rows.calibrated[idx]
    expected_err = 1.0 - cal[np.arange(idx.size), rows.yhat[idx]]
    excess = err - expected_err
    return idx, excess + baseline.stream_mean, excess / baseline.stream_std, "error minus CBPE-expected error"


def _empty_detector(name: str, status: str) -> DetectorResult:
    return DetectorResult(name, False, False, (), 0, None, None, status)
