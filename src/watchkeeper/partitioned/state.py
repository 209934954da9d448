"""Per-partition partial states of the checks: map a partition's rows, merge states, finalize.

    plan = plan_sketches(fitted, config, start, end, duplicated=...)   # small, shipped to workers
    state = map_rows(plan, frame, index)                                # one partition → WindowState
    merged = merge_states([state, ...])                                 # associative, in any grouping
    sections, approximations = finalize(plan, merged, fitted)           # the window's sections

A `WindowState` holds no rows: counts (window rows, labels, categorical drift, confusion matrices,
serving statuses, per-minute requests), fixed-grid histograms (`watchkeeper.partitioned.sketch`:
numerical drift, scores, latency), exact sums (CBPE, DLE and the gap rows:
`watchkeeper.partitioned.estimates`; PCA errors: `watchkeeper.partitioned.multivariate`), the
domain classifier's sampled rows (at most `classifier_sample`), and the same state per segment
(`watchkeeper.partitioned.segments`). Its size depends on the columns and the grids,
never on the rows, which is what bounds memory. Merging adds counts; dictionaries (categories,
labels, statuses, model versions) merge in order of first appearance, partition order kept, so the
merged state does not depend on how the window was cut.

Row-local facts are settled before or after the map so they do not depend on the cut either: the
time filter is applied by every partition's read; duplicate request ids are found by a first pass
over the ids (`watchkeeper.partitioned.keys`), and the rows of an id that occurs more than once are
not mapped with their partition but kept aside (`WindowState.deferred`, a handful of rows) and
mapped at finalize, once the first occurrence in time order is known: only it gets the label, as
`watchkeeper.windows.join_labels` does for a window in memory.

Accepts object strings, pandas ``category`` and Arrow dictionary columns alike: categories are
counted through `profile_categorical`, which factorizes whatever it is given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from watchkeeper.config import MonitorConfig
from watchkeeper.drift.engine import ColumnPlan, compare_profiles, summarize_drift
from watchkeeper.drift.engine import _not_testable as drift_not_testable
from watchkeeper.drift.engine import _resolve_method as resolve_drift_method
from watchkeeper.drift.engine import _resolve_threshold as resolve_drift_threshold
from watchkeeper.drift.kinds import type_family
from watchkeeper.drift.profile import CategoricalProfile, NumericalProfile, profile_categorical
from watchkeeper.drift.reference import ReferenceProfile
from watchkeeper.drift.registry import get_method
from watchkeeper.drift.report import ColumnDrift, DriftReport
from watchkeeper.partitioned.estimates import (
    CBPEState,
    DLEState,
    EstimateBounds,
    cbpe_state,
    dle_state,
    finalize_dle,
    finalize_estimates,
)
from watchkeeper.partitioned.multivariate import (
    MultivariatePlan,
    MultivariateState,
    local_positions,
    map_multivariate,
)
from watchkeeper.partitioned.sketch import (
    Bounded,
    LatencySketch,
    NumericSketch,
    ScoreSketch,
    ks_bounded,
    numeric_grid,
    ranking_bounded,
    wasserstein_bounded,
)
from watchkeeper.partitioned.streams import PARTITION_SHIFT, StreamPiece, finalize_stream, map_stream
from watchkeeper.performance.baseline import PerformanceBaseline
from watchkeeper.performance.cbpe import Estimate
from watchkeeper.performance.config import ESTIMATED_METRICS, REGRESSION_METRICS, default_primary_metric
from watchkeeper.performance.gap import GapResult
from watchkeeper.performance.grouping import group_by_version
from watchkeeper.performance.inputs import is_classification, prepare_rows
from watchkeeper.performance.judgement import judge_performance
from watchkeeper.performance.metrics import (
    PROBA_SUM_TOLERANCE,
    ConfusionMatrix,
    MetricValue,
    canonical_label,
    label_metrics,
)
from watchkeeper.performance.report import PerformanceReport, VersionPerformance
from watchkeeper.performance.serving import PERCENTILES, ServingReport, ServingStats
from watchkeeper.performance.streams import PendingDetectors, decide_feed
from watchkeeper.schema import TaskType
from watchkeeper.windows import Labels, WindowReport, join_labels

_EPS = float(np.finfo(np.float64).eps)
OVERALL = ""  # the group key of the whole window (versions use their names)
# Methods a numerical column can be tested with beyond the memory budget (from its sketch).
SKETCHED_NUMERICAL = ("wasserstein", "ks")
ORDER_COLUMN = "__wk_order"  # deferred rows: (partition, row) for a stable time order


@dataclass(frozen=True, eq=False)
class CountedCategories(CategoricalProfile):
    """A categorical profile from counts alone (merged partitions keep no row-order codes)."""

    @property
    def n(self) -> int:
        return int(self.counts.sum())


@dataclass
class CategoryState:
    """Category counts of one column, in order of first appearance."""

    categories: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=object))
    counts: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    n_rows: int = 0
    n_missing: int = 0

    def add(self, series: pd.Series) -> None:
        p = profile_categorical(series)
        self._absorb(p.categories, p.counts, p.n_rows, p.n_missing)

    def _absorb(self, categories: np.ndarray, counts: np.ndarray, n_rows: int, n_missing: int) -> None:
        idx = pd.Index(self.categories).get_indexer(pd.Index(categories)) if self.categories.size else None
        if idx is None:
            self.categories, self.counts = categories.copy(), counts.astype(np.int64)
        else:
            new = idx < 0
            mapping = idx.copy()
            mapping[new] = len(self.categories) + np.arange(int(new.sum()))
            self.categories = np.concatenate([self.categories, categories[new]])
            grown = np.zeros(len(self.categories), dtype=np.int64)
            grown[: self.counts.size] = self.counts
            np.add.at(grown, mapping, counts)
            self.counts = grown
        self.n_rows += n_rows
        self.n_missing += n_missing

    def merge(self, other: CategoryState) -> CategoryState:
        out = CategoryState(self.categories, self.counts, self.n_rows, self.n_missing)
        out._absorb(other.categories, other.counts, other.n_rows, other.n_missing)
        return out

    def to_profile(self) -> CountedCategories:
        return CountedCategories(
            self.categories, self.counts, np.empty(0, dtype=np.int8), self.n_rows, self.n_missing
        )


@dataclass
class DriftColumnState:
    """One drift column's window side: a numerical sketch or category counts, and its type family."""

    sketch: NumericSketch | None = None
    categories: CategoryState | None = None
    families: tuple[str, ...] = ()  # distinct type families seen (empty partitions say "empty")
    dtypes: tuple[str, ...] = ()

    def merge(self, other: DriftColumnState) -> DriftColumnState:
        return DriftColumnState(
            None if self.sketch is None or other.sketch is None else self.sketch.merge(other.sketch),
            None
            if self.categories is None or other.categories is None
            else self.categories.merge(other.categories),
            tuple(dict.fromkeys(self.families + other.families)),
            tuple(dict.fromkeys(self.dtypes + other.dtypes)),
        )


@dataclass
class LabelSpace:
    """A confusion matrix over labels named in order of appearance (the model's classes first)."""

    labels: tuple[str, ...]
    matrix: np.ndarray  # int64, true × predicted

    def merge(self, other: LabelSpace) -> LabelSpace:
        labels = tuple(dict.fromkeys(self.labels + other.labels))
        out = np.zeros((len(labels), len(labels)), dtype=np.int64)
        for part in (self, other):
            pos = np.array([labels.index(x) for x in part.labels], dtype=np.int64)
            out[np.ix_(pos, pos)] += part.matrix
        return LabelSpace(labels, out)


@dataclass
class PerfGroupState:
    """Realized-quality counts and sums of one group of rows (the window or one model version)."""

    n_rows: int = 0
    n_labeled: int = 0
    confusion: LabelSpace | None = None
    scores: ScoreSketch | None = None  # per (true class, probability column) histograms
    log_loss_sum: float = 0.0
    n_scored: int = 0  # labeled rows with a finite score (the probability metrics' rows)
    n_unknown: int = 0  # labeled rows whose label has no probability column
    n_outside: int = 0  # rows with probabilities outside [0, 1]
    n_off_sum: int = 0  # multiclass rows whose probabilities do not sum to 1
    # Regression: labeled rows with a prediction, Σ|e|, Σe², Σe, zero targets, Σ|e|/|y|, Σy, Σy².
    sums: np.ndarray = field(default_factory=lambda: np.zeros(8))
    cbpe: CBPEState | None = None  # CBPE's sums over the group's rows (classification)
    read_issue: str | None = None  # why the probabilities could not be read (a missing column)
    dle: DLEState | None = None  # DLE's sums (regression; the window and the gap rows only)

    def merge(self, other: PerfGroupState) -> PerfGroupState:
        conf = self.confusion if other.confusion is None else other.confusion
        if self.confusion is not None and other.confusion is not None:
            conf = self.confusion.merge(other.confusion)
        scores = self.scores if other.scores is None else other.scores
        if self.scores is not None and other.scores is not None:
            scores = self.scores.merge(other.scores)
        return PerfGroupState(
            self.n_rows + other.n_rows,
            self.n_labeled + other.n_labeled,
            conf,
            scores,
            self.log_loss_sum + other.log_loss_sum,
            self.n_scored + other.n_scored,
            self.n_unknown + other.n_unknown,
            self.n_outside + other.n_outside,
            self.n_off_sum + other.n_off_sum,
            self.sums + other.sums,
            self.cbpe
            if other.cbpe is None
            else other.cbpe
            if self.cbpe is None
            else self.cbpe.merge(other.cbpe),
            self.read_issue or other.read_issue,
            self.dle if other.dle is None else other.dle if self.dle is None else self.dle.merge(other.dle),
        )


@dataclass
class ServingGroupState:
    """Request counts per window minute, latency histogram and status counts of one group."""

    n: int = 0
    minutes: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    latency: LatencySketch | None = None
    statuses: dict[str, int] = field(default_factory=dict)

    def merge(self, other: ServingGroupState) -> ServingGroupState:
        size = max(self.minutes.size, other.minutes.size)
        minutes = np.zeros(size, dtype=np.int64)
        minutes[: self.minutes.size] += self.minutes
        minutes[: other.minutes.size] += other.minutes
        latency = self.latency if other.latency is None else other.latency
        if self.latency is not None and other.latency is not None:
            latency = self.latency.merge(other.latency)
        statuses = dict(self.statuses)
        for k, v in other.statuses.items():
            statuses[k] = statuses.get(k, 0) + v
        return ServingGroupState(self.n + other.n, minutes, latency, statuses)


def _merge_groups(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = dict(a)
    for key, value in b.items():
        out[key] = out[key].merge(value) if key in out else value
    return out


@dataclass
class WindowState:
    """Everything the checks need from some of a window's rows; see the module docstring."""

    rows: int = 0
    labeled: int = 0
    duplicate_labels: int = 0
    drift: dict[str, DriftColumnState] = field(default_factory=dict)
    perf: dict[str, PerfGroupState] = field(default_factory=dict)
    serving: dict[str, ServingGroupState] = field(default_factory=dict)
    validation: Any = None  # `watchkeeper.partitioned.validation.SuiteState`
    gap: PerfGroupState | None = None  # the gap test's rows: labeled, predicted, known label, scored
    multivariate: MultivariateState | None = None
    segments: Any = None  # `watchkeeper.partitioned.segments.SegmentsState`
    stream: tuple[StreamPiece, ...] = ()  # the detectors' error stream, in partition order
    # (partition index, rows, labeled rows) without the deferred ones, and the model versions seen:
    # where the reset impact's sample is drawn (`watchkeeper.partitioned.reset`).
    by_partition: tuple[tuple[int, int, int], ...] = ()
    versions: tuple[str, ...] = ()
    deferred: pd.DataFrame | None = None  # rows of duplicated request ids, mapped at finalize
    partitions: int = 0
    errors: tuple[str, ...] = ()

    def merge(self, other: WindowState) -> WindowState:
        validation = self.validation if other.validation is None else other.validation
        if self.validation is not None and other.validation is not None:
            validation = self.validation.merge(other.validation)
        deferred = [d for d in (self.deferred, other.deferred) if d is not None and len(d)]
        gap = self.gap if other.gap is None else other.gap if self.gap is None else self.gap.merge(other.gap)
        mv = self.multivariate
        if other.multivariate is not None:
            mv = other.multivariate if mv is None else mv.merge(other.multivariate)
        segments = self.segments
        if other.segments is not None:
            segments = other.segments if segments is None else segments.merge(other.segments)
        return WindowState(
            rows=self.rows + other.rows,
            labeled=self.labeled + other.labeled,
            duplicate_labels=self.duplicate_labels + other.duplicate_labels,
            drift=_merge_groups(self.drift, other.drift),
            perf=_merge_groups(self.perf, other.perf),
            serving=_merge_groups(self.serving, other.serving),
            validation=validation,
            gap=gap,
            multivariate=mv,
            segments=segments,
            stream=self.stream + other.stream,
            by_partition=self.by_partition + other.by_partition,
            versions=tuple(dict.fromkeys(self.versions + other.versions)),
            deferred=pd.concat(deferred, ignore_index=True)
            if len(deferred) > 1
            else next(iter(deferred), None),
            partitions=self.partitions + other.partitions,
            errors=self.errors + other.errors,
        )


def merge_states(states: Sequence[WindowState]) -> WindowState:
    """Fold partial states left to right (merging is associative; partition order is kept)."""
    out = WindowState()
    for state in states:
        out = out.merge(state)
    return out


@dataclass(frozen=True)
class SketchPlan:
    """What every partition needs to map its rows: small, picklable, the same for all partitions."""

    config: MonitorConfig
    start: datetime
    end: datetime
    drift_columns: tuple[tuple[str, str], ...]  # (column, kind) the drift check tests
    grids: Mapping[str, np.ndarray]  # numerical drift columns' fixed grids
    classes: tuple[str, ...] | None  # the performance baseline's classes (None: no perf check)
    decision_threshold: float
    suite: Any = None  # the loaded `ExpectationSuiteSpec`, or None
    duplicated: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.uint64))
    cbpe: Any = None  # the baseline's `CBPEEstimator`, or None (not fitted, or regression)
    dle: Any = None  # the baseline's `DLEEstimator` (regression), or None
    gap: bool = False  # whether the gap test runs (CBPE or DLE fitted)
    multivariate: MultivariatePlan | None = None
    segments: Any = None  # `watchkeeper.partitioned.segments.SegmentsPlan`
    stream: bool = False  # keep the detectors' error stream (`watchkeeper.partitioned.streams`)
    reset: bool = False  # count what the reset impact's sample needs (`watchkeeper.partitioned.reset`)

    @property
    def minutes(self) -> int:
        return int(np.ceil((self.end - self.start).total_seconds() / 60.0))


def plan_sketches(
    config: MonitorConfig,
    *,
    start: datetime,
    end: datetime,
    drift: ReferenceProfile | None,
    perf: PerformanceBaseline | None,
    suite: Any = None,
    duplicated: np.ndarray | None = None,
    multivariate: MultivariatePlan | None = None,
    stream: bool = False,
    reset: bool = False,
) -> SketchPlan:
    """The plan of a bounded-memory window from what the checks fitted on the reference."""
    columns: list[tuple[str, str]] = []
    grids: dict[str, np.ndarray] = {}
    if drift is not None:
        wanted = [*(drift.numerical or ()), *(drift.categorical or ()), *drift.prediction]
        if drift.target is not None:
            wanted.append(drift.target)
        for name in dict.fromkeys(wanted):
            ref = drift.columns.get(name)
            if name in (drift.numerical or ()):
                kind = "numerical"
            elif name in (drift.categorical or ()):
                kind = "categorical"
            else:
                kind = ref.inferred if ref is not None else "categorical"
            if kind not in ("numerical", "categorical"):
                continue
            columns.append((name, kind))
            profile = ref.profile_for(kind) if ref is not None else None  # type: ignore[arg-type]
            if kind == "numerical" and isinstance(profile, NumericalProfile):
                grids[name] = numeric_grid(profile.values)
    return SketchPlan(
        config=config,
        start=start,
        end=end,
        drift_columns=tuple(columns),
        grids=grids,
        classes=None if perf is None else tuple(perf.classes),
        decision_threshold=config.performance.decision_threshold,
        suite=suite,
        duplicated=np.zeros(0, dtype=np.uint64) if duplicated is None else duplicated,
        cbpe=None if perf is None or not is_classification(config.model.task) else perf.cbpe,
        dle=perf.dle if perf is not None and config.model.task is TaskType.REGRESSION else None,
        gap=perf is not None
        and (perf.cbpe is not None or perf.dle is not None)
        and config.performance.gap.enabled,
        multivariate=multivariate,
        stream=stream and perf is not None,
        reset=reset,
    )


def hash_values(series: pd.Series) -> np.ndarray:
    """A 64-bit hash per value, equal for equal values whatever the column's storage."""
    # categorize=False: ids are mostly distinct, so factorizing first would double the work.
    if isinstance(series.dtype, pd.CategoricalDtype):
        cats = pd.util.hash_array(np.asarray(series.cat.categories, dtype=object), categorize=False)
        return cats[series.cat.codes.to_numpy()]
    values = series.to_numpy()
    if values.dtype.kind in "iub":
        values = values.astype(np.int64)
    elif values.dtype.kind == "U":
        values = values.astype(object)
    return pd.util.hash_array(values, categorize=False)


def map_rows(plan: SketchPlan, frame: pd.DataFrame, index: int, labels: Labels | None) -> WindowState:
    """Map one partition's rows (normalized as `load_window` does, labels not yet joined)."""
    cols = plan.config.columns
    mv = None
    if plan.multivariate is not None:
        mp = plan.multivariate
        offset = mp.offsets.get(index, 0)
        mv = map_multivariate(mp.fitted, frame, local_positions(mp.positions, offset, len(frame)))
    deferred = None
    versions: tuple[str, ...] = ()
    if plan.reset and cols.model_version and cols.model_version in frame.columns:
        versions = tuple(str(v) for v in frame[cols.model_version].dropna().unique())
    order = (index << PARTITION_SHIFT) + np.arange(len(frame), dtype=np.int64)
    if plan.duplicated.size and len(frame):
        keys = hash_values(frame[cols.request_id])
        dup = np.isin(keys, plan.duplicated)
        if dup.any():
            deferred = frame.loc[dup].copy()
            deferred[ORDER_COLUMN] = order[dup]
            frame = frame.loc[~dup].reset_index(drop=True)
            order = order[~dup]
    state = map_joined(plan, *_join(plan, frame, labels), order=order)
    state.deferred = deferred
    state.multivariate = mv
    state.partitions = 1
    state.by_partition = ((index, state.rows, state.labeled),)
    state.versions = versions
    return state


def _join(plan: SketchPlan, frame: pd.DataFrame, labels: Labels | None) -> tuple[pd.DataFrame, int]:
    joined, _, dup_labels = join_labels(frame, labels, plan.config.columns)
    return joined, dup_labels


def map_joined(
    plan: SketchPlan, frame: pd.DataFrame, duplicate_labels: int, *, order: np.ndarray | None = None
) -> WindowState:
    """The partial state of rows whose labels are joined (`order`: their places in the window)."""
    cols = plan.config.columns
    state = WindowState(rows=len(frame), duplicate_labels=duplicate_labels)
    groups = map_checks(plan, frame, state, order=order)
    ts_ns = frame[cols.timestamp].dt.as_unit("ns").array.asi8 if cols.timestamp in frame.columns else None
    for key, idx in groups:
        state.serving[key] = _serving_group(plan, frame, idx, ts_ns)
    if plan.segments is not None:
        state.segments = plan.segments.map(frame)
    return state


def map_checks(
    plan: SketchPlan, frame: pd.DataFrame, state: WindowState, *, order: np.ndarray | None = None
) -> list[tuple[str, Any]]:
    """Labels, drift and performance of `frame` into `state` (also per segment); the version groups."""
    cols = plan.config.columns
    target = cols.target
    if target is not None and target in frame.columns:
        state.labeled = int(frame[target].notna().sum())
    for name, kind in plan.drift_columns:
        if name not in frame.columns or (name == target and state.labeled == 0):
            continue
        series = frame[name] if name != target else frame[name].dropna()
        col = DriftColumnState(families=(type_family(series),), dtypes=(str(series.dtype),))
        if kind == "numerical":
            col.sketch = NumericSketch.empty(plan.grids.get(name, np.zeros(1)))
            if col.families[0] in ("number", "empty"):
                col.sketch.add(series.to_numpy(dtype=np.float64, na_value=np.nan))
        else:
            col.categories = CategoryState()
            col.categories.add(series)
        state.drift[name] = col
    groups = [(OVERALL, None), *group_by_version(frame, cols.model_version)]
    if plan.classes is not None:
        rows = prepare_rows(
            frame,
            columns=cols,
            task=plan.config.model.task,
            classes=plan.classes,
            threshold=plan.decision_threshold,
        )
        task = plan.config.model.task
        calibrated = None
        if plan.cbpe is not None and rows.proba is not None:
            calibrated = plan.cbpe.calibrate(rows.proba)
        if plan.stream:
            where = np.arange(rows.n, dtype=np.int64) if order is None else order
            state.stream = (map_stream(rows, task, where, calibrated),)
        for key, idx in groups:
            state.perf[key] = _perf_group(rows, idx, task, plan.cbpe, calibrated)
        if plan.gap and plan.cbpe is not None and rows.proba is not None and rows.proba_ok is not None:
            sel = rows.labeled & (rows.yhat >= 0) & (rows.y < rows.n_classes) & rows.proba_ok
            state.gap = _perf_group(rows, np.flatnonzero(sel), task, plan.cbpe, calibrated)
        if plan.dle is not None:
            state.perf[OVERALL].dle = dle_state(plan.dle, frame, rows.yhat)
            if plan.gap:
                idx = np.flatnonzero(rows.labeled & np.isfinite(rows.yhat) & np.isfinite(rows.y))
                state.gap = _perf_group(rows, idx, task)
                state.gap.dle = dle_state(plan.dle, frame.iloc[idx], rows.yhat[idx])
    return groups


def _perf_group(
    rows: Any,
    idx: np.ndarray | None,
    task: TaskType,
    cbpe: Any = None,
    calibrated: np.ndarray | None = None,
) -> PerfGroupState:
    sel = np.arange(rows.n) if idx is None else idx
    out = PerfGroupState(n_rows=int(sel.size))
    if rows.proba is None and is_classification(task):
        out.read_issue = rows.proba_issue
    lab = sel[rows.labeled[sel]]
    out.n_labeled = int(lab.size)
    if not is_classification(task):
        y, yhat = rows.y[lab], rows.yhat[lab]
        ok = np.isfinite(yhat)
        yt, err = y[ok], yhat[ok] - y[ok]
        with np.errstate(divide="ignore"):
            ape = np.abs(err) / np.abs(yt)
        out.sums = np.array(
            [
                ok.sum(),
                np.abs(err).sum(),
                (err * err).sum(),
                err.sum(),
                (yt == 0).sum(),
                ape[yt != 0].sum(),
                yt.sum(),
                (yt * yt).sum(),
            ],
            dtype=np.float64,
        )
        return out
    k = len(rows.labels)
    y, yhat = rows.y[lab], rows.yhat[lab]
    has = yhat >= 0
    cm = np.bincount(y[has] * k + yhat[has], minlength=k * k).reshape(k, k)
    out.confusion = LabelSpace(tuple(rows.labels), cm)
    if rows.proba is not None:
        proba = rows.proba[sel]
        finite_all = np.isfinite(proba).all(axis=1)
        inside = proba[finite_all]
        out.n_outside = int(((inside < 0) | (inside > 1)).any(axis=1).sum())
        if task is TaskType.MULTICLASS:
            out.n_off_sum = int((np.abs(inside.sum(axis=1) - 1.0) > PROBA_SUM_TOLERANCE).sum())
        pl = rows.proba[lab]
        known = y < rows.n_classes
        out.n_unknown = int((~known).sum())
        finite = np.isfinite(pl).all(axis=1) & known
        yp, pr = y[finite], np.clip(pl[finite], 0.0, 1.0)
        out.n_scored = int(yp.size)
        kc = rows.n_classes
        out.scores = ScoreSketch.empty(kc * kc)
        for c in range(kc if task is TaskType.MULTICLASS else 1):
            column = c if task is TaskType.MULTICLASS else 1
            out.scores.add(yp * kc + column, pr[:, column])
        p_true = np.clip(pr[np.arange(yp.size), yp], _EPS, 1 - _EPS)
        out.log_loss_sum = float(-np.sum(np.log(p_true)))
        if cbpe is not None and calibrated is not None:
            out.cbpe = cbpe_state(cbpe, rows.proba[sel], calibrated[sel], rows.yhat[sel])
    return out


def _serving_group(
    plan: SketchPlan, frame: pd.DataFrame, idx: np.ndarray | None, ts_ns: np.ndarray | None
) -> ServingGroupState:
    cols = plan.config.columns
    n = len(frame) if idx is None else int(idx.size)
    out = ServingGroupState(n=n)
    if ts_ns is not None:
        t = ts_ns if idx is None else ts_ns[idx]
        start_ns = int(pd.Timestamp(plan.start).value)
        out.minutes = np.bincount((t - start_ns) // 60_000_000_000, minlength=plan.minutes).astype(np.int64)
    if cols.latency_ms and cols.latency_ms in frame.columns:
        lat = pd.to_numeric(frame[cols.latency_ms], errors="coerce").to_numpy(dtype=np.float64)
        out.latency = LatencySketch.empty()
        out.latency.add(lat if idx is None else lat[idx])
    if cols.status and cols.status in frame.columns:
        status = frame[cols.status] if idx is None else frame[cols.status].iloc[idx]
        codes, uniques = pd.factorize(status, use_na_sentinel=True)
        counts = np.bincount(codes[codes >= 0], minlength=len(uniques))
        for u, c in zip(uniques, counts, strict=True):
            name = canonical_label(u)
            out.statuses[name] = out.statuses.get(name, 0) + int(c)
        missing = int((codes < 0).sum())
        if missing:
            out.statuses["missing"] = out.statuses.get("missing", 0) + missing
    return out


def map_deferred(plan: SketchPlan, state: WindowState, labels: Labels | None) -> WindowState:
    """Map the rows of duplicated request ids, in time order, labels joined to first occurrences."""
    if state.deferred is None or not len(state.deferred):
        return state
    cols = plan.config.columns
    rows = state.deferred.sort_values([cols.timestamp, ORDER_COLUMN], kind="stable").reset_index(drop=True)
    order = rows[ORDER_COLUMN].to_numpy(dtype=np.int64)
    rows = rows.drop(columns=[ORDER_COLUMN])
    extra = map_joined(plan, *_join(plan, rows, labels), order=order)
    merged = state.merge(extra)
    merged.deferred = None
    merged.partitions = state.partitions
    return merged


@dataclass(frozen=True)
class ApproximateFigure:
    """A figure computed from a sketch: its estimate, the interval holding the exact value, and
    whether the decision taken on it (if any) is the one the exact value would give."""

    figure: str
    value: float
    low: float
    high: float
    decision_exact: bool | None = None

    @property
    def bound(self) -> float:
        return max(self.value - self.low, self.high - self.value)

    def to_dict(self) -> dict[str, Any]:
        return {
            "figure": self.figure,
            "value": self.value,
            "low": self.low,
            "high": self.high,
            "bound": self.bound,
            "decision_exact": self.decision_exact,
        }


def _approx(figure: str, b: Bounded, threshold: float | None = None) -> ApproximateFigure:
    return ApproximateFigure(
        figure, b.value, b.low, b.high, None if threshold is None else b.decides(threshold)
    )


def finalize_drift(
    plan: SketchPlan, reference: ReferenceProfile, state: WindowState, include_target: bool
) -> tuple[DriftReport, list[ApproximateFigure]]:
    """The drift section from the merged state (categorical columns exact, numerical from sketches)."""
    config = reference.config
    approx: list[ApproximateFigure] = []
    results: list[ColumnDrift] = []
    roles = {c: "prediction" for c in reference.prediction}
    if reference.target is not None:
        roles[reference.target] = "target"
    for name, kind in plan.drift_columns:
        role = roles.get(name, "feature")
        if role == "target" and not include_target:
            continue
        col_plan = ColumnPlan(name, role, kind, None)  # type: ignore[arg-type]
        ref = reference.columns.get(name)
        cur = state.drift.get(name)
        if ref is None or cur is None:
            side = "reference" if ref is None else "current"
            results.append(drift_not_testable(col_plan, f"not testable: column missing from {side}"))
            continue
        families = [f for f in cur.families if f != "empty"]
        if len(set(families)) > 1:
            results.append(
                drift_not_testable(col_plan, f"not testable: type differs between partitions ({families})")
            )
            continue
        ref_profile = ref.profile_for(kind)  # type: ignore[arg-type]
        if isinstance(ref_profile, str):
            results.append(drift_not_testable(col_plan, f"not testable: {ref_profile}"))
            continue
        if families and ref.family != "empty" and families[0] != ref.family:
            results.append(
                drift_not_testable(
                    col_plan,
                    f"not testable: type differs between reference ({ref.dtype}, {ref.family}) "
                    f"and current ({cur.dtypes[0]}, {families[0]})",
                )
            )
            continue
        if kind == "categorical":
            assert cur.categories is not None
            result = compare_profiles(col_plan, config, ref_profile, cur.categories.to_profile())
            if result.method == "tvd":
                result = drift_not_testable(
                    col_plan, "not testable: tvd permutes rows; beyond the memory budget no rows are kept"
                )
            results.append(result)
            continue
        assert cur.sketch is not None and isinstance(ref_profile, NumericalProfile)
        result, figures = _sketched_numerical(col_plan, config, ref_profile, cur.sketch)
        results.append(result)
        approx.extend(figures)
    return summarize_drift(results, config, cache_hits=reference.cache_hits), approx


def _sketched_numerical(
    plan: ColumnPlan, config: Any, ref: NumericalProfile, sketch: NumericSketch
) -> tuple[ColumnDrift, list[ApproximateFigure]]:
    counts: dict[str, Any] = {
        "n_reference": ref.n,
        "n_current": sketch.n,
        "missing_share": sketch.missing_share,
    }
    if ref.n_rows == 0 or sketch.n_rows == 0:
        side = "reference" if ref.n_rows == 0 else "current"
        return drift_not_testable(plan, f"not testable: no rows in {side}", **counts), []
    if ref.n == 0 or sketch.n == 0:
        side = "reference" if ref.n == 0 else "current"
        return drift_not_testable(plan, f"not testable: all values are NaN or inf in {side}", **counts), []
    name = resolve_drift_method(config, plan.column, "numerical")
    if name is None:
        if ref.n <= 1000:
            name = "ks"
        else:
            from watchkeeper.drift.samples import n_unique_capped

            few = n_unique_capped(ref.values, 5) <= 5
            name = "jensenshannon" if few else "wasserstein"
    method = get_method(name)
    threshold = resolve_drift_threshold(config, plan.column, "numerical", method)
    if name not in SKETCHED_NUMERICAL:
        why = (
            f"not testable: {name} needs every value of the window, which is beyond the memory budget "
            f"(raise execution.memory_budget, or test this column with {' or '.join(SKETCHED_NUMERICAL)})"
        )
        return drift_not_testable(plan, why, method=name, threshold=threshold, **counts), []
    w = wasserstein_bounded(ref.values, sketch)
    score = w if name == "wasserstein" else ks_bounded(ref.values, sketch)
    # Named as `DriftReport.figures` names them (prediction and target columns under their role).
    key = {"prediction": f"prediction.{plan.column}", "target": "target"}.get(plan.role, plan.column)
    figures = [
        _approx(f"drift.{key}.score", score, threshold),
        _approx(f"drift.{key}.effect_size", w),
    ]
    p_value = score.value if method.is_p_value else None
    return (
        ColumnDrift(
            column=plan.column,
            role=plan.role,
            kind="numerical",
            method=name,
            score=score.value,
            threshold=threshold,
            drifted=method.is_drift(score.value, threshold),
            p_value=p_value,
            p_value_adjusted=p_value,
            effect_size=w.value,
            effect_size_method="wasserstein",
            status="ok",
            **counts,
        ),
        figures,
    )


def _classification_realized(
    group: PerfGroupState, task: TaskType, n_classes: int, prefix: str, approx: list[ApproximateFigure]
) -> dict[str, MetricValue]:
    binary = task is TaskType.BINARY
    prob_names = ["roc_auc", "pr_auc", "log_loss"]
    n = group.n_labeled
    if n == 0 or group.confusion is None:
        names = ["accuracy", "precision", "recall", "f1", *prob_names]
        if not binary:
            names += ["precision_weighted", "recall_weighted", "f1_weighted"]
        return {m: MetricValue.missing("no labeled rows (labels not arrived yet)") for m in names}
    out, _ = label_metrics(group.confusion.matrix, group.confusion.labels, binary=binary, n=n)
    issue = None
    if group.scores is None:
        issue = "no score/probability column"
    elif group.n_outside:
        issue = f"probabilities outside [0, 1] in {group.n_outside} row(s)"
    elif group.n_off_sum:
        issue = f"probabilities do not sum to 1 in {group.n_off_sum} row(s)"
    elif group.n_unknown:
        extra = ", ".join(group.confusion.labels[n_classes:])
        issue = f"{group.n_unknown} label(s) not among the probability classes ({extra})"
    elif group.n_scored == 0:
        issue = "no labeled row has a score"
    if issue is not None:
        out.update({m: MetricValue.missing(issue, 0) for m in prob_names})
        return out
    assert group.scores is not None
    mp = group.n_scored
    status = "ok" if n == mp else f"ok ({n - mp} labeled row(s) without a score excluded)"
    hist = group.scores.counts.reshape(n_classes, n_classes, -1)
    columns = range(n_classes) if not binary else [1]
    per_class: list[tuple[Bounded, Bounded]] = []
    present = [c for c in range(n_classes) if hist[c].sum() > 0]
    for c in columns:
        pos = hist[c if not binary else 1, c]
        neg = hist[:, c].sum(axis=0) - pos
        if pos.sum() == 0 or neg.sum() == 0:
            continue
        per_class.append(ranking_bounded(pos, neg))
    if binary and not per_class:
        out["roc_auc"] = MetricValue.missing("labels contain a single class", mp)
        positives = int(hist[1, 1].sum())
        out["pr_auc"] = (
            MetricValue.missing("labels contain a single class (no positives)", mp)
            if positives == 0
            else MetricValue(1.0, status, mp)
        )
    elif not binary and len(present) < 2:
        out["roc_auc"] = MetricValue.missing("labels contain a single class", mp)
        out["pr_auc"] = MetricValue.missing("labels contain a single class", mp)
    else:
        st = (
            status
            if binary or len(present) == n_classes
            else f"{status}; macro over {len(present)} classes present"
        )
        for i, name in enumerate(("roc_auc", "pr_auc")):
            values = [pair[i] for pair in per_class]
            b = Bounded(
                float(np.mean([v.value for v in values])),
                float(np.mean([v.low for v in values])),
                float(np.mean([v.high for v in values])),
            )
            out[name] = MetricValue(b.value, st, mp)
            approx.append(_approx(f"{prefix}realized.{name}", b))
    out["log_loss"] = MetricValue(group.log_loss_sum / mp, status, mp)
    return out


def _regression_realized(group: PerfGroupState) -> dict[str, MetricValue]:
    if group.n_labeled == 0:
        return {
            m: MetricValue.missing("no labeled rows (labels not arrived yet)") for m in REGRESSION_METRICS
        }
    m_f, abs_sum, sq_sum, err_sum, zeros, ape_sum, y_sum, y_sq = group.sums.tolist()
    m = int(m_f)
    if m == 0:
        return {name: MetricValue.missing("no labeled row has a prediction") for name in REGRESSION_METRICS}
    n = group.n_labeled
    status = "ok" if n == m else f"ok ({n - m} labeled row(s) without a prediction excluded)"
    out = {
        "mae": MetricValue(abs_sum / m, status, m),
        "rmse": MetricValue(float(np.sqrt(sq_sum / m)), status, m),
        "mean_error": MetricValue(err_sum / m, status, m),
    }
    out["mape"] = (
        MetricValue.missing(f"{int(zeros)} target(s) are 0 (percentage error undefined)", m)
        if zeros
        else MetricValue(ape_sum / m, status, m)
    )
    ss_tot = y_sq - y_sum * y_sum / m
    out["r2"] = (
        MetricValue.missing("target is constant (R² undefined)", m)
        if m < 2 or ss_tot <= 0
        else MetricValue(1 - sq_sum / ss_tot, status, m)
    )
    return out


def _proba_issue(group: PerfGroupState, task: TaskType) -> str | None:
    """The window's `PreparedRows.proba_issue`, from the merged counts."""
    if group.read_issue is not None:
        return group.read_issue
    if group.n_outside:
        return f"probabilities outside [0, 1] in {group.n_outside} row(s)"
    if task is TaskType.MULTICLASS and group.n_off_sum:
        return f"probabilities do not sum to 1 in {group.n_off_sum} row(s)"
    return None


def _estimate_decides(
    plan: SketchPlan, baseline: PerformanceBaseline, primary: str, estimate: Estimate, b: Bounded
) -> bool | None:
    """Whether every judgement on the estimated ROC AUC (its band, its thresholds) is certain."""
    config = plan.config.performance
    if estimate.n < config.min_labeled:
        return None
    edges: list[float] = []
    band = baseline.bands.get("roc_auc")
    if primary == "roc_auc" and band is not None and band.status == "ok":
        edges += [e for e in (band.lower, band.upper) if e is not None]
    limit = config.thresholds.get("roc_auc")
    if limit is not None:
        edges += [e for e in (limit.lower, limit.upper) if e is not None]
    return all(b.decides(e) for e in edges) if edges else None


def _add_estimate_bounds(
    approx: list[ApproximateFigure], prefix: str, bounds: EstimateBounds | None, decides: bool | None = None
) -> None:
    if bounds is None:
        return
    approx.append(_approx(f"{prefix}estimated.roc_auc", bounds.value))
    if decides is not None:
        approx[-1] = ApproximateFigure(
            approx[-1].figure, approx[-1].value, approx[-1].low, approx[-1].high, decides
        )


def _estimates(
    plan: SketchPlan, baseline: PerformanceBaseline, group: PerfGroupState, issue: str | None
) -> tuple[dict[str, Estimate], EstimateBounds | None]:
    """`evaluate._estimate_window` from merged state: CBPE's estimates of the group's rows."""
    if not is_classification(plan.config.model.task):
        return {}, None
    if baseline.cbpe is None:
        return {m: Estimate.missing(f"CBPE {baseline.cbpe_status}") for m in ESTIMATED_METRICS}, None
    if issue is not None or group.cbpe is None:
        why = issue or "no probabilities"
        return {m: Estimate.missing(why) for m in ESTIMATED_METRICS}, None
    return finalize_estimates(group.cbpe, baseline.cbpe)


def _gaps(
    plan: SketchPlan,
    baseline: PerformanceBaseline,
    state: WindowState,
    realized: dict[str, MetricValue],
    issue: str | None,
    n_classes: int,
    approx: list[ApproximateFigure],
) -> dict[str, GapResult]:
    """`gap.measure_gaps` from the gap rows' merged state; the ROC AUC gap with its bound."""
    config = plan.config.performance
    cbpe = baseline.cbpe
    g = state.gap
    if cbpe is None or not config.gap.enabled or issue is not None or g is None or g.cbpe is None:
        return {}
    task = plan.config.model.task
    n_sel = g.n_rows
    est, bounds = finalize_estimates(g.cbpe, cbpe)
    overall = state.perf.get(OVERALL, PerfGroupState())
    real_bounds: dict[str, Bounded] = {
        a.figure.removeprefix("perf.realized."): Bounded(a.value, a.low, a.high)
        for a in approx
        if a.figure.startswith("perf.realized.")
    }
    if n_sel != overall.n_labeled:
        own: list[ApproximateFigure] = []
        realized = _classification_realized(g, task, n_classes, "gap.", own)
        real_bounds = {a.figure.removeprefix("gap.realized."): Bounded(a.value, a.low, a.high) for a in own}
    out: dict[str, GapResult] = {}
    for m in config.gap.metrics:
        r, e = realized.get(m), est.get(m)
        if r is None or e is None or r.value is None or e.value is None or e.std is None:
            why = (r.status if r is not None and r.value is None else None) or (
                e.status if e else "no estimate"
            )
            out[m] = GapResult(m, None, None, None, None, None, False, False, f"not judged: {why}")
            continue
        half = cbpe.standard_errors * e.std + config.gap.tolerance
        lower, upper = e.value - half, e.value + half
        gap = r.value - e.value
        judged = n_sel >= config.gap.min_labeled
        drift = judged and not (lower <= r.value <= upper)
        if not judged:
            status = f"not judged: {n_sel} labeled rows < {config.gap.min_labeled}"
        else:
            status = (
                f"realized {r.value:.4f} {'outside' if drift else 'within'} the estimate's band "
                f"[{lower:.4f}, {upper:.4f}] on {n_sel} labeled rows"
            )
        out[m] = GapResult(m, r.value, e.value, lower, upper, gap, drift, judged, status)
        rb = real_bounds.get(m)
        eb = bounds if m == "roc_auc" else None
        if rb is None and eb is None:
            continue
        rb = rb or Bounded(r.value, r.value, r.value)
        ev = eb.value if eb is not None else Bounded(e.value, e.value, e.value)
        es = eb.std if eb is not None else Bounded(e.std, e.std, e.std)
        z, tol = cbpe.standard_errors, config.gap.tolerance
        lower_b = (ev.low - z * es.high - tol, ev.high - z * es.low - tol)
        upper_b = (ev.low + z * es.low + tol, ev.high + z * es.high + tol)
        surely_out = rb.high < lower_b[0] or rb.low > upper_b[1]
        surely_in = rb.low >= lower_b[1] and rb.high <= upper_b[0]
        approx.append(
            ApproximateFigure(
                f"perf.concept.gap.{m}",
                gap,
                min(rb.low - ev.high, gap),
                max(rb.high - ev.low, gap),
                (surely_out or surely_in) if judged else None,
            )
        )
    return out


def _regression_gaps(
    plan: SketchPlan, baseline: PerformanceBaseline, state: WindowState, realized: dict[str, MetricValue]
) -> dict[str, GapResult]:
    """`gap.measure_regression_gaps` from merged sums: exact (both sides are means)."""
    config = plan.config.performance.gap
    dle, g = baseline.dle, state.gap
    if dle is None or not config.enabled or g is None or g.dle is None or g.n_rows == 0:
        return {}
    n_sel = g.n_rows
    est = finalize_dle(g.dle, dle)
    overall = state.perf.get(OVERALL, PerfGroupState())
    real = realized if n_sel == overall.n_labeled else _regression_realized(g)
    out: dict[str, GapResult] = {}
    for m in config.regression_metrics:
        r, e = real.get(m), est.get(m)
        if r is None or e is None or r.value is None or e.value is None or e.std is None:
            out[m] = GapResult(m, None, None, None, None, None, False, False, "not judged: no estimate")
            continue
        half = dle.standard_errors * e.std + config.regression_tolerance * e.value
        lower, upper = e.value - half, e.value + half
        judged = n_sel >= config.min_labeled
        drift = judged and not (lower <= r.value <= upper)
        status = (
            f"not judged: {n_sel} labeled rows < {config.min_labeled}"
            if not judged
            else f"realized {r.value:.4g} {'outside' if drift else 'within'} DLE's band "
            f"[{lower:.4g}, {upper:.4g}] on {n_sel} labeled rows"
        )
        out[m] = GapResult(m, r.value, e.value, lower, upper, r.value - e.value, drift, judged, status)
    return out


def finalize_performance(
    plan: SketchPlan,
    baseline: PerformanceBaseline,
    state: WindowState,
    *,
    labels_complete: bool | None = None,
    segment_fed: bool | None = None,
) -> tuple[PerformanceReport, list[ApproximateFigure]]:
    """The perf section from merged state: realized figures, bands, CBPE's estimates and the gap
    test, and the detectors' error stream pending (`PerformanceReport.pending`, fed later by
    `feed_pending_detectors` from the previous window's state, as in memory). A segment
    (`segment_fed` not None) has no detectors."""
    config = plan.config
    task = config.model.task
    approx: list[ApproximateFigure] = []
    n_classes = len(baseline.classes)

    def realized(group: PerfGroupState, prefix: str) -> dict[str, MetricValue]:
        if is_classification(task):
            return _classification_realized(group, task, n_classes, prefix, approx)
        return _regression_realized(group)

    overall = state.perf.get(OVERALL, PerfGroupState())
    primary = config.performance.primary_metric or default_primary_metric(task)
    real = realized(overall, "perf.")
    issue = _proba_issue(overall, task) if is_classification(task) else None
    estimated, bounds = _estimates(plan, baseline, overall, issue)
    if bounds is not None:
        e = estimated["roc_auc"]
        _add_estimate_bounds(
            approx, "perf.", bounds, _estimate_decides(plan, baseline, primary, e, bounds.value)
        )
        approx.append(_approx("perf.estimated.roc_auc.lower", bounds.lower))
        approx.append(_approx("perf.estimated.roc_auc.upper", bounds.upper))
    gaps = _gaps(plan, baseline, state, real, issue, n_classes, approx)
    if task is TaskType.REGRESSION and baseline.dle is not None and overall.dle is not None:
        estimated = finalize_dle(overall.dle, baseline.dle)
        gaps = _regression_gaps(plan, baseline, state, real)
    by_version: dict[str, VersionPerformance] = {}
    for key, g in state.perf.items():
        if key == OVERALL:
            continue
        version_real = realized(g, f"perf.version.{key}.")
        version_est: dict[str, Estimate] = {}
        if baseline.cbpe is not None and issue is None and g.cbpe is not None:
            version_est, vb = finalize_estimates(g.cbpe, baseline.cbpe)
            _add_estimate_bounds(approx, f"perf.version.{key}.", vb)
        by_version[key] = VersionPerformance(g.n_rows, g.n_labeled, version_real, version_est)
    findings = judge_performance(
        realized=real,
        estimated=estimated,
        bands=baseline.bands,
        gaps=gaps,
        detectors={},
        config=config.performance,
        primary=primary,
    )
    # A segment's performance has no detectors (`segments._segment_performance_config`); in memory
    # it counts as fed once the labels are complete, which `segment_fed` says.
    pending = None
    if segment_fed is None:
        pc = config.performance
        feed, why_not = decide_feed(overall.n_rows, overall.n_labeled, labels_complete, pc)
        if feed and not plan.stream:
            raise ValueError("the window feeds the detectors but its error stream was not kept")
        stream = finalize_stream(state.stream, baseline, issue) if feed else None
        pending = PendingDetectors(stream, feed, why_not, baseline.fingerprint(), pc)
    notes: list[str] = []
    extra = [] if overall.confusion is None else list(overall.confusion.labels[n_classes:])
    if extra:
        notes.append(f"labels outside the model's classes {list(baseline.classes)}: {extra}")
    report = PerformanceReport(
        task=task,
        primary_metric=primary,
        n_rows=overall.n_rows,
        n_labeled=overall.n_labeled,
        realized=real,
        confusion_matrix=None
        if overall.confusion is None or overall.confusion.matrix.sum() == 0
        else ConfusionMatrix(
            overall.confusion.labels, tuple(tuple(int(c) for c in row) for row in overall.confusion.matrix)
        ),
        estimated=estimated,
        bands=dict(baseline.bands),
        gaps=gaps,
        detectors={},
        detectors_fed=bool(segment_fed),
        detector_status="pending: the detectors have not consumed this window yet"
        if segment_fed is None
        else "no detector (segments)",
        detector_state={},
        by_version=by_version,
        notes=tuple(notes),
        _findings=tuple(findings),
        pending=pending,
    )
    return report, approx


def _serving_stats(
    group: ServingGroupState, plan: SketchPlan, approx: list[ApproximateFigure], prefix: str
) -> ServingStats:
    cols = plan.config.columns
    seconds = (plan.end - plan.start).total_seconds()
    n = group.n
    throughput = n / seconds if seconds > 0 else None
    peak = float(group.minutes.max()) / 60.0 if group.minutes.size and n else None
    lat: dict[str, float | None] = {}
    missing = 0
    if group.latency is not None:
        missing = group.latency.n_missing
        if group.latency.counts.sum():
            for p in PERCENTILES:
                b = group.latency.percentile(p)
                lat[f"p{p}"] = b.value
                approx.append(_approx(f"serving.{prefix}latency_p{p}_ms", b))
            lat["max"] = group.latency.high
        else:
            lat = dict.fromkeys([*(f"p{p}" for p in PERCENTILES), "max"])
    error_rate = None
    by_status: dict[str, float] = {}
    if group.statuses and n:
        ok = set(cols.ok_statuses)
        errors = {k: v for k, v in group.statuses.items() if k not in ok}
        error_rate = sum(errors.values()) / n
        by_status = {k: v / n for k, v in errors.items() if v > 0}
    return ServingStats(n, throughput, peak, lat, missing, error_rate, by_status)


def finalize_serving(plan: SketchPlan, state: WindowState) -> tuple[ServingReport, list[ApproximateFigure]]:
    approx: list[ApproximateFigure] = []
    overall = _serving_stats(state.serving.get(OVERALL, ServingGroupState()), plan, approx, "")
    by_version = {
        key: _serving_stats(g, plan, approx, f"version.{key}.")
        for key, g in state.serving.items()
        if key != OVERALL
    }
    return ServingReport(plan.start, plan.end, overall, by_version, ()), approx


def finalize_window(
    plan: SketchPlan, state: WindowState, duplicates: int, notes: Sequence[str]
) -> WindowReport:
    return WindowReport(
        start=plan.start,
        end=plan.end,
        rows=state.rows,
        labeled=state.labeled,
        duplicate_request_ids=duplicates,
        duplicate_labels=state.duplicate_labels,
        notes=tuple(notes),
    )
