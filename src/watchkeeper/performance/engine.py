"""Performance of one window: realized and estimated quality, reference bands and concept drift.

Two entry points:

- `fit_performance_baseline(reference, ...)` — once per reference: the label set, the reference band
  of every metric, the fitted CBPE estimator and the error-stream scale for the sequential
  detectors. The result is plain data: it pickles, and `to_dict()` / `from_dict()` round-trip it
  through JSON, so the flow can cache it.
- `evaluate_performance(window, baseline, ...)` — per window: a frozen `PerformanceReport`
  (section ``perf``) carrying the new detector state for the flow to persist.

Reference bands: the reference is cut into chunks the size of a monitoring window — by timestamp
when the reference has one (chunks aligned to multiples of the window size since the Unix epoch,
like the monitoring windows; chunks with fewer than half the median chunk's rows, i.e. partial
edges, are left out), otherwise by row count (`PerformanceConfig.reference_chunk_rows`, default a
tenth of the reference; a trailing chunk under half that size is left out). Each metric is computed
per chunk; band = mean ± k·std (sample std) clipped to the metric's range. A band describes
windows of about the chunk's size: a much smaller window varies more than its band says.

Sequential detectors. For classification with a fitted CBPE, the stream is each row's error minus
its CBPE-expected error (1 − calibrated probability of the predicted class), so the detectors react
to P(y|x) changing, not to traffic moving into regions where the model is known to be weaker
(covariate shift); without CBPE, and for regression, it is the raw error (regression: |error|,
and for DDM the indicator |error| > the reference's 90th percentile). Page-Hinkley sees the stream
standardized by the reference error's mean and standard deviation.

Late labels. Labels arrive late, and a window is evaluated several times
as they do; the error stream must still see every labeled row at most once. The rule:

1. a window feeds the detectors only when its labels are complete — the caller says so with
   ``labels_complete`` (the flow knows whether ``window_end + label_lag`` has passed), or, when it
   does not, when the label coverage reaches `detector_min_label_coverage`;
2. rows are fed in timestamp order, and only rows later than the state's watermark (the latest
   timestamp consumed so far); the watermark is saved with the state.

So windows must be fed in time order, a re-evaluated window (backfill, late labels) leaves the state
unchanged, and labels that arrive after their window was fed are not streamed (they still count in
the realized figures and the gap test). The state also records the baseline's fingerprint: a new
reference or model version (a new baseline) starts the detectors afresh. Windows are ``[start, end)`` by timestamp, so rows sharing
a timestamp never straddle two windows. Without a timestamp column the detectors do not run.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd

from watchkeeper.config import ColumnsConfig, TaskType
from watchkeeper.performance.cbpe import CBPEEstimator, Estimate, fit_cbpe
from watchkeeper.performance.concept import (
    DetectorResult,
    ddm_initial_state,
    page_hinkley_initial_state,
    update_ddm,
    update_page_hinkley,
)
from watchkeeper.performance.config import (
    CLASSIFICATION_METRICS,
    ESTIMATED_METRICS,
    REGRESSION_METRICS,
    PerformanceConfig,
)
from watchkeeper.performance.metrics import (
    HIGHER_IS_BETTER,
    METRIC_RANGES,
    ConfusionMatrix,
    MetricValue,
    canonical_label,
    classification_metrics,
    encode_labels,
    proba_problem,
    regression_metrics,
)
from watchkeeper.verdict import Finding, Severity

STATE_VERSION = 1
_DEFAULT_PRIMARY = {TaskType.BINARY: "roc_auc", TaskType.MULTICLASS: "f1", TaskType.REGRESSION: "mae"}


# -- data preparation ------------------------------------------------------------------------------
@dataclass
class _Prepared:
    """The window's columns as arrays; classification labels as codes into `labels`."""

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
    calibrated: np.ndarray | None = None  # CBPE-calibrated probabilities, set by evaluate_performance


def _is_classification(task: TaskType) -> bool:
    return task is not TaskType.REGRESSION


def _prepare(
    frame: pd.DataFrame, *, columns: ColumnsConfig, task: TaskType, classes: tuple[str, ...], threshold: float
) -> _Prepared:
    n = len(frame)
    notes: list[str] = []
    ts_ns: np.ndarray | None = None
    if columns.timestamp in frame.columns:
        ts = pd.to_datetime(frame[columns.timestamp], utc=True)
        ts_ns = ts.to_numpy(dtype="datetime64[ns]").astype(np.int64)
    has_target = columns.target is not None and columns.target in frame.columns
    if not has_target:
        notes.append(f"no target column {columns.target!r}: no labels")
    has_pred = columns.prediction is not None and columns.prediction in frame.columns

    if not _is_classification(task):
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
        return _Prepared(n, y, yhat, np.isfinite(y), None, None, [], 0, ts_ns, notes)

    binary = task is TaskType.BINARY
    k = len(classes)
    proba: np.ndarray | None = None
    proba_ok: np.ndarray | None = None
    issue: str | None = None
    if binary:
        if columns.score is None or columns.score not in frame.columns:
            issue = f"missing score column {columns.score!r}"
        else:
            s = pd.to_numeric(frame[columns.score], errors="coerce").to_numpy(dtype=np.float64)
            proba = np.column_stack([1.0 - s, s])
    else:
        mapping = columns.probabilities or {}
        absent = [c for c in mapping.values() if c not in frame.columns]
        if not mapping:
            issue = "no probability columns configured"
        elif absent:
            issue = f"missing probability column(s) {absent}"
        else:
            proba = np.column_stack(
                [
                    pd.to_numeric(frame[mapping[c]], errors="coerce").to_numpy(dtype=np.float64)
                    for c in classes
                ]
            )
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
        finite = proba_ok
        guess = (proba[:, 1] >= threshold).astype(np.int64) if binary else np.argmax(proba, axis=1)
        yhat = np.where(finite, guess, -1)
        notes.append("no prediction column: predictions derived from the scores")
    else:
        yhat = np.full(n, -1, dtype=np.int64)
        notes.append("no prediction column and no usable scores: label metrics not computable")
    missing_pred = int((yhat < 0).sum())
    if has_pred and missing_pred:
        notes.append(f"{missing_pred} row(s) have no prediction (NaN)")
    if len(labels) > k:
        notes.append(f"labels outside the model's classes {list(classes)}: {labels[k:]}")
    return _Prepared(n, y, yhat, y >= 0, proba, issue, labels, k, ts_ns, notes, proba_ok)


def _realized(
    p: _Prepared, idx: np.ndarray, task: TaskType
) -> tuple[dict[str, MetricValue], ConfusionMatrix | None]:
    sel = idx[p.labeled[idx]]
    if not _is_classification(task):
        return regression_metrics(p.y[sel], p.yhat[sel]), None
    return classification_metrics(
        p.y[sel],
        p.yhat[sel],
        None if p.proba is None else p.proba[sel],
        labels=p.labels,
        n_proba_classes=p.n_classes,
        binary=task is TaskType.BINARY,
        proba_unusable=p.proba_issue,
    )


# -- baseline --------------------------------------------------------------------------------------
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
    # Error-stream scale for the sequential detectors (see concept.py).
    stream_mean: float
    stream_std: float
    ddm_abs_threshold: float | None = None  # regression: |error| above this counts as an error for DDM

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


def _chunk_indices(
    reference: pd.DataFrame, columns: ColumnsConfig, config: PerformanceConfig, window_size: timedelta | None
) -> tuple[list[np.ndarray], str]:
    n = len(reference)
    if window_size is not None and columns.timestamp in reference.columns:
        ts = (
            pd.to_datetime(reference[columns.timestamp], utc=True)
            .to_numpy(dtype="datetime64[ns]")
            .astype(np.int64)
        )
        chunk_id = ts // int(window_size.total_seconds() * 1e9)
        how = f"by timestamp, {window_size} per chunk (epoch-aligned)"
    else:
        rows = config.reference_chunk_rows or max(n // 10, 2)
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
    p = _prepare(reference, columns=columns, task=task, classes=classes, threshold=config.decision_threshold)
    metric_names = CLASSIFICATION_METRICS if _is_classification(task) else REGRESSION_METRICS
    if task is TaskType.BINARY:
        metric_names = tuple(m for m in metric_names if not m.endswith("_weighted"))

    chunks, chunking = _chunk_indices(reference, columns, config, window_size)
    per_chunk: dict[str, list[float]] = {m: [] for m in metric_names}
    for idx in chunks:
        chunk_values, _ = _realized(p, idx, task)
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

    # CBPE on labeled rows with valid probabilities and a known class.
    cbpe: CBPEEstimator | None = None
    if not _is_classification(task):
        cbpe_status = "not applicable: regression"
    elif not config.cbpe.enabled:
        cbpe_status = "disabled"
    elif p.proba is None or p.proba_issue is not None:
        cbpe_status = f"not fitted: {p.proba_issue or 'no probabilities'}"
    else:
        ok = p.labeled & (p.y < p.n_classes) & np.isfinite(p.proba).all(axis=1)
        present = np.unique(p.y[ok])
        if present.size < 2:
            cbpe_status = "not fitted: the reference labels contain a single class"
        else:
            cbpe = fit_cbpe(
                p.proba[ok],
                p.y[ok],
                classes=classes,
                binary=task is TaskType.BINARY,
                calibration=config.cbpe.calibration,
                cv_folds=config.cbpe.cv_folds,
                standard_errors=config.cbpe.standard_errors,
            )
            cbpe_status = (
                "fitted, isotonic calibration" if cbpe.calibrated else "fitted, scores used as they are"
            )

    # Scale of the per-row error stream.
    ddm_abs: float | None = None
    if _is_classification(task):
        valid = p.labeled & (p.yhat >= 0)
        rate = float((p.yhat[valid] != p.y[valid]).mean()) if valid.any() else 0.5
        mean, std = rate, max(float(np.sqrt(rate * (1 - rate))), 0.05)
    else:
        valid = p.labeled & np.isfinite(p.yhat)
        abs_err = np.abs(p.yhat[valid] - p.y[valid])
        if abs_err.size:
            mean, std = float(abs_err.mean()), max(float(abs_err.std()), 1e-12)
            ddm_abs = float(np.quantile(abs_err, 0.9))
        else:
            mean, std = 0.0, 1.0
    return PerformanceBaseline(
        task, classes, bands, chunking, len(reference), cbpe, cbpe_status, mean, std, ddm_abs
    )


# -- report ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GapResult:
    """Realized vs estimated on the same labeled rows; `drift` when outside the widened band."""

    metric: str
    realized: float | None
    estimated: float | None
    lower: float | None
    upper: float | None
    gap: float | None
    drift: bool
    judged: bool
    status: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class VersionPerformance:
    """One model version's rows in the window (canary, shadow or a promotion mid-window)."""

    n_rows: int
    n_labeled: int
    realized: dict[str, MetricValue]
    estimated: dict[str, Estimate] = field(default_factory=dict)

    @property
    def label_coverage(self) -> float:
        return self.n_labeled / self.n_rows if self.n_rows else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_rows": self.n_rows,
            "n_labeled": self.n_labeled,
            "label_coverage": self.label_coverage,
            "realized": {m: v.to_dict() for m, v in self.realized.items()},
            "estimated": {m: e.to_dict() for m, e in self.estimated.items()},
        }


@dataclass(frozen=True)
class PerformanceReport:
    """The ``perf`` section of a window's monitoring report."""

    task: TaskType
    primary_metric: str
    n_rows: int
    n_labeled: int
    realized: dict[str, MetricValue]
    confusion_matrix: ConfusionMatrix | None
    estimated: dict[str, Estimate]
    bands: dict[str, Band]
    gaps: dict[str, GapResult]
    detectors: dict[str, DetectorResult]
    detectors_fed: bool
    detector_status: str
    detector_state: dict[str, Any]
    by_version: dict[str, VersionPerformance]
    notes: tuple[str, ...]
    unmatched_labels: int = 0
    _findings: tuple[Finding, ...] = field(default=(), repr=False)

    @property
    def label_coverage(self) -> float:
        return self.n_labeled / self.n_rows if self.n_rows else 0.0

    @property
    def concept_drift(self) -> bool:
        return any(g.drift for g in self.gaps.values()) or any(d.drift for d in self.detectors.values())

    def figures(self) -> dict[str, float]:
        out: dict[str, float] = {"label_coverage": self.label_coverage, "n_labeled": float(self.n_labeled)}
        for m, v in self.realized.items():
            if v.value is not None:
                out[f"realized.{m}"] = v.value
        for m, e in self.estimated.items():
            if e.value is not None and e.lower is not None and e.upper is not None:
                out[f"estimated.{m}"] = e.value
                out[f"estimated.{m}.lower"] = e.lower
                out[f"estimated.{m}.upper"] = e.upper
        for m, b in self.bands.items():
            if b.lower is not None:
                out[f"band.{m}.lower"] = b.lower
            if b.upper is not None:
                out[f"band.{m}.upper"] = b.upper
        # Concept-drift figures exist only where there was evidence to judge (labels compared with the
        # estimate, or rows fed to the detectors): a window without labels says nothing about concept
        # drift, and an alert rule must see "unknown" there, not "no drift".
        has_gap = any(g.gap is not None for g in self.gaps.values())
        if self.detectors_fed or has_gap:
            out["concept_drift"] = float(self.concept_drift)
        if self.detectors_fed:
            for name, d in self.detectors.items():
                out[f"concept.{name}.drift"] = float(d.drift)
                if name == "ddm":
                    out["concept.ddm.warning"] = float(d.warning)
        for m, g in self.gaps.items():
            if g.gap is not None:
                out[f"concept.gap.{m}"] = g.gap
        for version, vp in self.by_version.items():
            out[f"version.{version}.label_coverage"] = vp.label_coverage
            out[f"version.{version}.n_labeled"] = float(vp.n_labeled)
            for m, v in vp.realized.items():
                if v.value is not None:
                    out[f"version.{version}.realized.{m}"] = v.value
            for m, e in vp.estimated.items():
                if e.value is not None:
                    out[f"version.{version}.estimated.{m}"] = e.value
        return out

    def findings(self) -> list[Finding]:
        return list(self._findings)

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task.value,
            "primary_metric": self.primary_metric,
            "n_rows": self.n_rows,
            "n_labeled": self.n_labeled,
            "label_coverage": self.label_coverage,
            "unmatched_labels": self.unmatched_labels,
            "realized": {m: v.to_dict() for m, v in self.realized.items()},
            "confusion_matrix": None if self.confusion_matrix is None else self.confusion_matrix.to_dict(),
            "estimated": {m: e.to_dict() for m, e in self.estimated.items()},
            "bands": {m: b.to_dict() for m, b in self.bands.items()},
            "gaps": {m: g.to_dict() for m, g in self.gaps.items()},
            "detectors": {n: d.to_dict() for n, d in self.detectors.items()},
            "detectors_fed": self.detectors_fed,
            "detector_status": self.detector_status,
            "concept_drift": self.concept_drift,
            "by_version": {v: p.to_dict() for v, p in self.by_version.items()},
            "notes": list(self.notes),
            "findings": [f.to_dict() for f in self._findings],
        }

    def table_rows(self) -> list[dict[str, Any]]:
        """One row per metric, for a Prefect table artifact (`create_table_artifact(table=...)`)."""
        rows = []
        names = [
            m
            for m in (*CLASSIFICATION_METRICS, *REGRESSION_METRICS)
            if m in self.realized or m in self.estimated
        ]
        for m in names:
            r = self.realized.get(m)
            e = self.estimated.get(m)
            b = self.bands.get(m)
            g = self.gaps.get(m)
            rows.append(
                {
                    "metric": m,
                    "realized": None if r is None else r.value,
                    "estimated": None if e is None else e.value,
                    "estimated_lower": None if e is None else e.lower,
                    "estimated_upper": None if e is None else e.upper,
                    "band_lower": None if b is None else b.lower,
                    "band_upper": None if b is None else b.upper,
                    "gap": None if g is None else g.gap,
                    "status": "; ".join(
                        s
                        for s in (
                            None if r is None else r.status,
                            None if e is None else f"estimate {e.status}",
                        )
                        if s
                    ),
                }
            )
        return rows

    def to_markdown(self) -> str:
        """A table for the Prefect UI: realized, estimated (with band), reference band, status."""
        lines = [
            f"**Performance** ({self.task.value}): {self.n_labeled} of {self.n_rows} rows labeled "
            f"({self.label_coverage:.1%}); primary metric `{self.primary_metric}`; "
            f"concept drift: **{'yes' if self.concept_drift else 'no'}**",
            "",
            "| metric | realized | estimated [band] | reference band | status |",
            "|---|---|---|---|---|",
        ]
        for row in self.table_rows():
            est = (
                "–"
                if row["estimated"] is None
                else (f"{row['estimated']:.4g} [{row['estimated_lower']:.4g}, {row['estimated_upper']:.4g}]")
            )
            band = (
                "–"
                if row["band_lower"] is None and row["band_upper"] is None
                else (f"[{_f(row['band_lower'])}, {_f(row['band_upper'])}]")
            )
            lines.append(f"| {row['metric']} | {_f(row['realized'])} | {est} | {band} | {row['status']} |")
        lines += ["", f"Sequential detectors: {self.detector_status}"]
        for d in self.detectors.values():
            lines.append(
                f"- {d.name}: {'DRIFT' if d.drift else 'warning' if d.warning else 'no drift'} ({d.status})"
            )
        for g in self.gaps.values():
            lines.append(f"- gap {g.metric}: {g.status}")
        lines += [f"- note: {n}" for n in self.notes]
        for f in self._findings:
            lines.append(f"- **{f.severity.label}**: {f.message}")
        return "\n".join(lines)


def _f(value: float | None) -> str:
    return "–" if value is None else f"{value:.4g}"


def _empty_detector(name: str, status: str) -> DetectorResult:
    return DetectorResult(name, False, False, (), 0, None, None, status)


def _run_detectors(
    p: _Prepared,
    baseline: PerformanceBaseline,
    config: PerformanceConfig,
    state: dict[str, Any] | None,
    feed: bool,
    why_not: str,
) -> tuple[dict[str, DetectorResult], dict[str, Any], bool, str]:
    fingerprint = baseline.fingerprint()
    reset_note = ""
    if state and state.get("version") == STATE_VERSION and state.get("baseline") == fingerprint:
        st: dict[str, Any] = dict(state)
    else:
        if state:
            # A new reference or model makes the old error stream meaningless: start over.
            reset_note = "detector state reset (baseline or state format changed); "
        st = {
            "version": STATE_VERSION,
            "baseline": fingerprint,
            "watermark_ns": None,
            "rows_consumed": 0,
            "ddm": ddm_initial_state(),
            "page_hinkley": page_hinkley_initial_state(),
        }
    names = [
        n for n, on in (("ddm", config.ddm.enabled), ("page_hinkley", config.page_hinkley.enabled)) if on
    ]
    if not feed or p.ts_ns is None:
        status = reset_note + (
            why_not if feed is False else "not run: no timestamp column to order the error stream"
        )
        return {n: _empty_detector(n, status) for n in names}, st, False, status
    if _is_classification(baseline.task):
        valid = p.labeled & (p.yhat >= 0)
    else:
        valid = p.labeled & np.isfinite(p.yhat)
    if st["watermark_ns"] is not None:
        valid &= p.ts_ns > st["watermark_ns"]
    idx = np.flatnonzero(valid)
    idx = idx[np.argsort(p.ts_ns[idx], kind="stable")]
    if _is_classification(baseline.task):
        err = (p.yhat[idx] != p.y[idx]).astype(np.float64)
        cbpe = baseline.cbpe
        if cbpe is not None and p.proba is not None and p.proba_issue is None:
            # Subtract each row's expected error under the reference's P(y|x): covariate shift that
            # moves traffic into harder regions leaves this stream's mean unchanged, concept drift
            # does not. Rows without a usable score cannot be adjusted and are left out.
            assert p.proba_ok is not None
            has_score = p.proba_ok[idx] & (p.yhat[idx] < p.n_classes)
            idx, err = idx[has_score], err[has_score]
            cal = cbpe.calibrate(p.proba[idx]) if p.calibrated is None else p.calibrated[idx]
            expected_err = 1.0 - cal[np.arange(idx.size), p.yhat[idx]]
            excess = err - expected_err
            ddm_stream = excess + baseline.stream_mean
            z = excess / baseline.stream_std
            stream = "error minus CBPE-expected error"
        else:
            ddm_stream = err
            z = (err - baseline.stream_mean) / baseline.stream_std
            stream = "error indicator"
    else:
        err = np.abs(p.yhat[idx] - p.y[idx])
        ddm_stream = (err > (baseline.ddm_abs_threshold or 0.0)).astype(np.float64)
        z = (err - baseline.stream_mean) / baseline.stream_std
        stream = "absolute error"
    results: dict[str, DetectorResult] = {}
    skipped = int((p.labeled & (p.ts_ns <= (st["watermark_ns"] or np.iinfo(np.int64).min))).sum())
    status = f"{reset_note}fed {idx.size} labeled row(s) in time order ({stream})" + (
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
    if p.n:
        # The whole window is consumed, labeled or not: labels that arrive for it later are not
        # streamed (they reach the realized figures and the gap test instead).
        st["watermark_ns"] = max(int(p.ts_ns.max()), st["watermark_ns"] or np.iinfo(np.int64).min)
    st["rows_consumed"] = int(st["rows_consumed"] + idx.size)
    results = {n: DetectorResult(r.name, r.drift, r.warning, r.drift_positions, r.n_consumed, r.statistic,
                                 r.threshold, status) for n, r in results.items()}  # fmt: skip
    return results, st, True, status


def _gaps(
    p: _Prepared,
    baseline: PerformanceBaseline,
    config: PerformanceConfig,
    task: TaskType,
    realized: dict[str, MetricValue],
) -> dict[str, GapResult]:
    cbpe = baseline.cbpe
    if cbpe is None or not config.gap.enabled or p.proba is None or p.proba_issue is not None:
        return {}
    assert p.proba_ok is not None
    sel_mask = p.labeled & (p.yhat >= 0) & (p.y < p.n_classes) & p.proba_ok
    sel = np.flatnonzero(sel_mask)
    # Estimate on exactly the rows the realized figure uses: late labels need not be a random sample.
    est = cbpe.estimate(
        p.proba[sel], p.yhat[sel], calibrated=None if p.calibrated is None else p.calibrated[sel]
    )
    if int(sel_mask.sum()) == int(p.labeled.sum()):
        real = realized
    else:
        real, _ = _realized(p, sel, task)
    out: dict[str, GapResult] = {}
    for m in config.gap.metrics:
        r, e = real.get(m), est.get(m)
        if r is None or e is None or r.value is None or e.value is None or e.std is None:
            why = (r.status if r is not None and r.value is None else None) or (
                e.status if e else "no estimate"
            )
            out[m] = GapResult(m, None, None, None, None, None, False, False, f"not judged: {why}")
            continue
        half = cbpe.standard_errors * e.std + config.gap.tolerance
        lower, upper = e.value - half, e.value + half
        gap = r.value - e.value
        judged = len(sel) >= config.gap.min_labeled
        drift = judged and not (lower <= r.value <= upper)
        if not judged:
            status = f"not judged: {len(sel)} labeled rows < {config.gap.min_labeled}"
        else:
            status = (
                f"realized {r.value:.4f} {'outside' if drift else 'within'} the estimate's band "
                f"[{lower:.4f}, {upper:.4f}] on {len(sel)} labeled rows"
            )
        out[m] = GapResult(m, r.value, e.value, lower, upper, gap, drift, judged, status)
    return out


def _judge(report_args: dict[str, Any], config: PerformanceConfig, primary: str) -> list[Finding]:
    findings: list[Finding] = []
    realized: dict[str, MetricValue] = report_args["realized"]
    estimated: dict[str, Estimate] = report_args["estimated"]
    bands: dict[str, Band] = report_args["bands"]
    band_sev = Severity.parse(config.band_severity)

    def judged_values(metric: str) -> list[tuple[str, float, str]]:
        out = []
        r = realized.get(metric)
        if r is not None and r.value is not None and r.n >= config.min_labeled:
            out.append(("Realized", r.value, f"on {r.n} labeled rows"))
        e = estimated.get(metric)
        if e is not None and e.value is not None and e.n >= config.min_labeled:
            out.append(("Estimated (CBPE)", e.value, f"on {e.n} rows, from the scores alone"))
        return out

    band = bands.get(primary)
    if band is not None and band.status == "ok":
        for kind, value, where in judged_values(primary):
            if not band.contains(value):
                side = "below" if band.lower is not None and value < band.lower else "above"
                worse = (side == "below") == HIGHER_IS_BETTER[primary]
                findings.append(
                    Finding(
                        "perf",
                        band_sev if worse else Severity.OK,
                        f"{kind} {primary} {value:.4f} is {side} its reference band "
                        f"[{_f(band.lower)}, {_f(band.upper)}] ({where}).",
                    )
                )
    for metric, limit in config.thresholds.items():
        sev = Severity.parse(limit.severity)
        for kind, value, where in judged_values(metric):
            if limit.lower is not None and value < limit.lower:
                findings.append(
                    Finding(
                        "perf",
                        sev,
                        f"{kind} {metric} {value:.4f} is below the threshold {limit.lower:g} ({where}).",
                    )
                )
            if limit.upper is not None and value > limit.upper:
                findings.append(
                    Finding(
                        "perf",
                        sev,
                        f"{kind} {metric} {value:.4f} is above the threshold {limit.upper:g} ({where}).",
                    )
                )
    concept_sev = Severity.parse(config.concept_drift_severity)
    for g in report_args["gaps"].values():
        if g.drift:
            findings.append(
                Finding(
                    "perf.concept",
                    concept_sev,
                    f"Concept drift: realized {g.metric} {g.realized:.4f} is outside CBPE's expectation "
                    f"[{g.lower:.4f}, {g.upper:.4f}] on the same rows — P(y|x) has changed since the reference.",
                )
            )
    for d in report_args["detectors"].values():
        if d.drift:
            label = {"ddm": "DDM", "page_hinkley": "Page-Hinkley"}[d.name]
            findings.append(
                Finding(
                    "perf.concept",
                    concept_sev,
                    f"Concept drift: {label} detected a rise of the model's error rate in the labeled error "
                    f"stream ({len(d.drift_positions)} alarm(s) in this window's {d.n_consumed} rows).",
                )
            )
    return findings


def evaluate_performance(
    window: pd.DataFrame,
    baseline: PerformanceBaseline,
    *,
    columns: ColumnsConfig,
    task: TaskType,
    config: PerformanceConfig,
    detector_state: dict[str, Any] | None = None,
    labels_complete: bool | None = None,
    unmatched_labels: int = 0,
) -> PerformanceReport:
    """Evaluate one window (inference rows LEFT-joined with their labels; missing label = NaN/None).

    `detector_state` is the state returned in the previous window's ``report.detector_state`` (None
    at the start); `labels_complete` says whether this window's labels are all in (None: judged
    from the label coverage). `unmatched_labels` is the number of labels whose request id matched
    no inference row, reported so nothing is dropped silently.
    """
    if baseline.task is not task:
        raise ValueError(f"baseline was fitted for {baseline.task.value}, not {task.value}")
    p = _prepare(
        window, columns=columns, task=task, classes=baseline.classes, threshold=config.decision_threshold
    )
    all_rows = np.arange(p.n)
    realized, cm = _realized(p, all_rows, task)
    n_labeled = int(p.labeled.sum())
    notes = list(p.notes)
    if unmatched_labels:
        notes.append(
            f"{unmatched_labels} label(s) matched no inference row in this window (unknown request id)"
        )

    # Estimates on every row of the window.
    estimated: dict[str, Estimate] = {}
    if _is_classification(task):
        if baseline.cbpe is None:
            estimated = {m: Estimate.missing(f"CBPE {baseline.cbpe_status}") for m in ESTIMATED_METRICS}
        elif p.proba is None or p.proba_issue is not None:
            estimated = {m: Estimate.missing(p.proba_issue or "no probabilities") for m in ESTIMATED_METRICS}
        else:
            p.calibrated = baseline.cbpe.calibrate(p.proba)  # once: estimates, gap and detectors share it
            estimated = baseline.cbpe.estimate(p.proba, p.yhat, calibrated=p.calibrated)

    gaps = _gaps(p, baseline, config, task, realized)

    coverage = n_labeled / p.n if p.n else 0.0
    if labels_complete is None:
        feed = n_labeled > 0 and coverage >= config.detector_min_label_coverage
        why_not = (
            f"waiting for labels (coverage {coverage:.1%} < {config.detector_min_label_coverage:.0%})"
            if not feed
            else ""
        )
    else:
        feed = labels_complete
        why_not = "waiting for labels (the window's labels are not complete)"
    detectors, new_state, fed, det_status = _run_detectors(p, baseline, config, detector_state, feed, why_not)

    by_version: dict[str, VersionPerformance] = {}
    if columns.model_version and columns.model_version in window.columns:
        vcodes, vnames = pd.factorize(window[columns.model_version], use_na_sentinel=True)
        names = [canonical_label(v) for v in vnames]
        if (vcodes < 0).any():
            names.append("unknown")
            vcodes = np.where(vcodes < 0, len(vnames), vcodes)
        order = np.argsort(vcodes, kind="stable")
        _, starts, counts = np.unique(vcodes[order], return_index=True, return_counts=True)
        for start, count in zip(starts, counts, strict=True):
            idx = order[start : start + count]
            vr, _ = _realized(p, idx, task)
            ve: dict[str, Estimate] = {}
            if baseline.cbpe is not None and p.proba is not None and p.proba_issue is None:
                ve = baseline.cbpe.estimate(
                    p.proba[idx], p.yhat[idx], calibrated=None if p.calibrated is None else p.calibrated[idx]
                )
            by_version[names[int(vcodes[idx[0]])]] = VersionPerformance(
                int(count), int(p.labeled[idx].sum()), vr, ve
            )

    primary = config.primary_metric or _DEFAULT_PRIMARY[task]
    bands = baseline.bands
    args = {
        "realized": realized,
        "estimated": estimated,
        "bands": bands,
        "gaps": gaps,
        "detectors": detectors,
    }
    findings = [f for f in _judge(args, config, primary) if f.severity > Severity.OK]
    return PerformanceReport(
        task=task,
        primary_metric=primary,
        n_rows=p.n,
        n_labeled=n_labeled,
        realized=realized,
        confusion_matrix=cm,
        estimated=estimated,
        bands=dict(bands),
        gaps=gaps,
        detectors=detectors,
        detectors_fed=fed,
        detector_status=det_status,
        detector_state=new_state,
        by_version=by_version,
        notes=tuple(notes),
        unmatched_labels=unmatched_labels,
        _findings=tuple(findings),
    )
