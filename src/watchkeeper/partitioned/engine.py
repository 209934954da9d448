"""The engines: a window's partitions mapped in a thread pool or on a Dask cluster, then merged.

    source = plan_window(config, execution, start, end)          # None: the window fits the budget
    with open_mapper(execution) as mapper:
        result = evaluate_partitioned(fitted, source, mapper, config=..., start=..., end=..., ...)

`evaluate_partitioned` makes two passes over the partitions: the key columns first (duplicates
across partitions, `watchkeeper.partitioned.keys`), then every check's partial state
(`watchkeeper.partitioned.state`, GX in `watchkeeper.partitioned.validation`). Each pass hands the
mapper partition descriptions only; whoever runs one reads it from the source itself, so the Dask
engine never ships a frame from the driver, and memory on any machine is bounded by the partitions
in flight plus the fixed-size states. The report is the one a window in memory gets (the same
sections, built by the same code) plus a ``partitioned`` section naming every approximate figure
with its bound, and every fitted check it could not evaluate with the reason
(`not_evaluated_checks`: a WARNING finding, so a check never vanishes from a window silently).

- `LocalMapper`: a thread pool (`execution.workers` threads, default the CPU count). Reading
  Parquet, NumPy and pandas' kernels release the GIL; GX holds one lock per process.
- `DaskMapper`: a `distributed.Client` on `execution.dask.address`, or on a `LocalCluster` built
  from `execution.dask.cluster_kwargs`. Workers read the labels from the ground-truth source once
  per process.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from watchkeeper.checks import assess_fits
from watchkeeper.config import MonitorConfig
from watchkeeper.execution import ExecutionConfig
from watchkeeper.footprint import StepFootprint
from watchkeeper.guards import ReferenceTooSmall
from watchkeeper.monitoring import FittedChecks, WindowEvaluation, assemble_window
from watchkeeper.partitioned.keys import KeyCounts, count_duplicates, scan_keys
from watchkeeper.partitioned.multivariate import MultivariatePlan, classifier_positions, finalize_multivariate
from watchkeeper.partitioned.partitions import (
    FrameSlice,
    Partition,
    arrow_filesystem,
    plan_row_groups,
    read_partition,
    slice_frame,
)
from watchkeeper.partitioned.reset import (
    ResetSample,
    assemble_sample,
    gather_rows,
    joined_deferred,
    plan_reset_sample,
)
from watchkeeper.partitioned.segments import finalize_segments, plan_segments
from watchkeeper.partitioned.state import (
    ApproximateFigure,
    SketchPlan,
    WindowState,
    finalize_drift,
    finalize_performance,
    finalize_serving,
    finalize_window,
    map_deferred,
    map_rows,
    merge_states,
    plan_sketches,
)
from watchkeeper.partitioned.validation import SuiteState, finalize_validation, validate_partition
from watchkeeper.schema import ColumnsConfig
from watchkeeper.sources import SourceError
from watchkeeper.sources.config import ParquetSourceConfig, SourceConfig
from watchkeeper.verdict import NOTHING_TO_PUBLISH, Finding, Publication, SectionReport, Severity
from watchkeeper.windows import Labels, as_category, inference_columns, normalize_logs, read_labels

STRING_BYTES = 64  # a Python string object and its pointer, per row and string column
NUMBER_BYTES = 8


@dataclass(frozen=True)
class PartitionedSource:
    """Where a window's partitions are read from: the source, the partitions, and (FrameSlice only)
    the frame in memory."""

    source: SourceConfig
    partitions: tuple[Partition, ...]
    estimated_bytes: int
    frame: pd.DataFrame | None = field(default=None, compare=False)


def _row_bytes(schema: pa.Schema, columns: Sequence[str]) -> int:
    total = 0
    for name in columns:
        if name not in schema.names:
            continue
        kind = schema.field(name).type
        string = pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_dictionary(kind)
        total += STRING_BYTES if string else NUMBER_BYTES
    return total


def plan_window(
    config: MonitorConfig,
    execution: ExecutionConfig,
    start: datetime,
    end: datetime,
    *,
    frame: pd.DataFrame | None = None,
    force: bool = False,
) -> PartitionedSource | None:
    """The window's partitions, or None when it fits the memory budget (evaluated in memory).

    `frame` partitions a window already in memory (slices; local engine only). Parquet sources are
    planned from file metadata (row groups, row counts) without reading a value; other sources are
    read in memory. `force` partitions whatever the estimate.
    """
    cols = config.columns
    columns = inference_columns(cols)
    source = config.sources.inference_logs
    if frame is not None:
        estimated = int(frame.memory_usage(deep=False).sum())
        if estimated <= execution.memory_budget and not force:
            return None
        n = max(1, math.ceil(len(frame) / execution.partition_rows))
        return PartitionedSource(source, tuple(slice_frame(len(frame), n)), estimated, frame)
    if not isinstance(source, ParquetSourceConfig):
        return None
    try:
        parts = plan_row_groups(
            source,
            time_column=cols.timestamp,
            start=start,
            end=end,
            rows_per_partition=execution.partition_rows,
        )
    except SourceError:
        return None  # reading the window in memory reports what is wrong with the source
    if not parts:
        return None
    fs, _ = arrow_filesystem(source.path, dict(source.storage_options))
    per_row = _row_bytes(pq.read_schema(parts[0].path, filesystem=fs), columns)
    estimated = sum(p.rows for p in parts) * per_row
    if estimated <= execution.memory_budget and not force:
        return None
    return PartitionedSource(source, tuple(parts), estimated)


class Mapper(Protocol):
    """Runs `fn(job, partition)` for every partition; results in partition order."""

    name: str

    def map(
        self, fn: Callable[[Any, Partition], Any], job: Any, partitions: Sequence[Partition]
    ) -> list[Any]: ...


class LocalMapper:
    """A thread pool on this machine; at most `workers` partitions are read at a time."""

    name = "local"

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or os.cpu_count() or 1

    def map(
        self, fn: Callable[[Any, Partition], Any], job: Any, partitions: Sequence[Partition]
    ) -> list[Any]:
        if self.workers == 1 or len(partitions) == 1:
            return [fn(job, p) for p in partitions]
        with ThreadPoolExecutor(self.workers, thread_name_prefix="partition") as pool:
            return list(pool.map(lambda p: fn(job, p), partitions))


class DaskMapper:
    """A Dask cluster: each partition is one task; workers read their partitions themselves."""

    name = "dask"

    def __init__(self, client: Any) -> None:
        self.client = client

    def map(
        self, fn: Callable[[Any, Partition], Any], job: Any, partitions: Sequence[Partition]
    ) -> list[Any]:
        if any(isinstance(p, FrameSlice) for p in partitions):
            raise ValueError(
                "the dask engine reads partitions from a source; a frame in memory cannot be sliced"
            )
        [job_future] = self.client.scatter([job], broadcast=True)
        futures = self.client.map(fn, [job_future] * len(partitions), list(partitions), pure=False)
        return list(self.client.gather(futures))


@contextlib.contextmanager
def open_mapper(execution: ExecutionConfig) -> Iterator[Mapper]:
    """The engine `execution` names, opened for one run (a LocalCluster is closed after it)."""
    if execution.engine == "local":
        yield LocalMapper(execution.workers)
        return
    from distributed import Client, LocalCluster

    if execution.dask.address:
        with Client(execution.dask.address) as client:
            yield DaskMapper(client)
        return
    with LocalCluster(**execution.dask.cluster_kwargs) as cluster, Client(cluster) as client:
        yield DaskMapper(client)


@dataclass(frozen=True)
class ReadJob:
    """What a partition's reader needs: the source, the columns, the window's bounds."""

    config: MonitorConfig
    source: SourceConfig
    columns: tuple[str, ...]
    start: datetime
    end: datetime
    frame: pd.DataFrame | None = field(default=None, compare=False)

    def read(self, partition: Partition, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """The partition's rows as `load_window` gives a window's (`columns`: only those, as read)."""
        cols = self.config.columns
        try:
            frame = read_partition(
                partition,
                source=self.source,
                columns=self.columns if columns is None else columns,
                time_column=cols.timestamp,
                start=self.start,
                end=self.end,
                frame=self.frame,
                dictionary=partition_dictionary_columns(cols),
            )
            if columns is not None:
                return frame
            return normalize_partition(frame, cols, source=partition.label)
        except Exception as exc:
            raise type(exc)(f"partition {partition.index} ({partition.label}): {exc}") from exc


def partition_dictionary_columns(cols: ColumnsConfig) -> tuple[str, ...]:
    """The low-cardinality text columns, read as categoricals."""
    return tuple(c for c in (*cols.categorical_features, cols.status, cols.model_version) if c)


def normalize_partition(frame: pd.DataFrame, cols: ColumnsConfig, *, source: str) -> pd.DataFrame:
    """`normalize_logs` for a partition, with the status column a categorical too: the same values,
    so every count and expectation is the one a window in memory gets."""
    frame = normalize_logs(frame, cols, source=source)
    if cols.status and cols.status in frame.columns:
        frame[cols.status] = as_category(frame[cols.status])
    return frame


@dataclass(frozen=True)
class ScanJob:
    read: ReadJob
    keys: tuple[str, ...]


def scan_partition(job: ScanJob, partition: Partition) -> dict[str, np.ndarray]:
    frame = job.read.read(partition, columns=[c for c in job.keys if c != job.read.config.columns.timestamp])
    return {**scan_keys(frame, job.keys), "__rows__": np.array([len(frame)], dtype=np.uint64)}


@dataclass(frozen=True)
class MapJob:
    read: ReadJob
    plan: SketchPlan
    labels: Labels | None  # None with `read_labels_on_worker`: the worker reads them once
    read_labels_on_worker: bool = False
    # The range of arrival times the driver's labels hold, for the worker's own read of them.
    labels_since: datetime | None = None
    labels_as_of: datetime | None = None


_worker_labels: dict[str, Labels | None] = {}
_worker_lock = threading.Lock()


def _labels_for(job: MapJob) -> Labels | None:
    if not job.read_labels_on_worker:
        return job.labels
    key = f"{job.plan.config.model_dump_json()}|{job.labels_since}|{job.labels_as_of}"
    with _worker_lock:
        if key not in _worker_labels:
            _worker_labels.clear()  # one model's labels per worker process at a time
            _worker_labels[key] = read_labels(job.plan.config, since=job.labels_since, as_of=job.labels_as_of)
        return _worker_labels[key]


@dataclass(frozen=True)
class GatherJob:
    map: MapJob
    sample: ResetSample


def gather_partition(job: GatherJob, partition: Partition) -> tuple[pd.DataFrame, np.ndarray]:
    """The reset impact's sampled rows of one partition (`watchkeeper.partitioned.reset`)."""
    frame = job.map.read.read(partition)
    return gather_rows(job.map.plan, frame, partition.index, _labels_for(job.map), job.sample)


def map_partition(job: MapJob, partition: Partition) -> WindowState:
    frame = job.read.read(partition)
    labels = _labels_for(job)
    suite = job.plan.suite
    validation = None
    if suite is not None:
        from watchkeeper.windows import join_labels

        joined, _, _ = join_labels(frame, labels, job.plan.config.columns)
        # Only the suite's columns, in one block per dtype: GX hashes the frame it is given and
        # copies it for every expectation (an unconsolidated frame merges its blocks each time).
        present = set(joined.columns)
        joined = joined.loc[:, [c for c in suite.columns if c in present]].copy()
        validation = validate_partition(joined, suite)
        del joined
    state = map_rows(job.plan, frame, partition.index, labels)
    columns = tuple(map(str, frame.columns))
    if validation is not None:
        validation.columns = columns  # the window's columns, for expectations on absent ones
    state.validation = validation if validation is not None else SuiteState(columns=columns)
    del frame
    pa.default_memory_pool().release_unused()
    return state


@dataclass(frozen=True)
class PartitionedReport:
    """Section ``partitioned``: how the window was cut and run, and which figures are approximate.

    Every approximate figure carries the interval that holds its exact value; `decision_exact` is
    False where a threshold falls inside that interval (the decision could differ from the exact one).
    """

    engine: str
    partitions: int
    rows: int
    estimated_bytes: int
    memory_budget: int
    approximate: tuple[ApproximateFigure, ...] = ()
    # Checks (or parts of one) that ran in memory but not here, with the reason: never silently absent.
    not_evaluated: Mapping[str, str] = field(default_factory=dict)

    @property
    def uncertain(self) -> tuple[ApproximateFigure, ...]:
        return tuple(a for a in self.approximate if a.decision_exact is False)

    def figures(self) -> dict[str, float]:
        return {
            "partitions": float(self.partitions),
            "approximate_figures": float(len(self.approximate)),
            "uncertain_decisions": float(len(self.uncertain)),
            "not_evaluated": float(len(self.judging_not_evaluated)),
        }

    @property
    def judging_not_evaluated(self) -> dict[str, str]:
        """The checks not evaluated that would have judged the window (pages for people excluded)."""
        return {k: v for k, v in self.not_evaluated.items() if k not in INFORMATIONAL_CHECKS}

    def findings(self) -> list[Finding]:
        missing = self.judging_not_evaluated
        if not missing:
            return []
        named = "; ".join(f"{k} ({v})" for k, v in missing.items())
        # A warning: the window's verdict must not read "ok" for checks that did not run.
        return [
            Finding(
                "partitioned",
                Severity.WARNING,
                f"Not evaluated on this partitioned window: {named}.",
                rule=NOT_EVALUATED_RULE,
            )
        ]

    def publish(self) -> Publication:
        tables: dict[str, list[dict[str, Any]]] = {}
        if self.approximate:
            tables["approximate-figures"] = [a.to_dict() for a in self.approximate]
        if self.not_evaluated:
            tables["not-evaluated"] = [
                {"check": k, "reason": f"not evaluated on partitioned windows: {v}"}
                for k, v in self.not_evaluated.items()
            ]
        return Publication(tables=tables) if tables else NOTHING_TO_PUBLISH

    def to_dict(self) -> dict[str, Any]:
        return {
            "engine": self.engine,
            "partitions": self.partitions,
            "rows": self.rows,
            "estimated_bytes": self.estimated_bytes,
            "memory_budget": self.memory_budget,
            "approximate": [a.to_dict() for a in self.approximate],
            "not_evaluated": {
                k: f"not evaluated on partitioned windows: {v}" for k, v in self.not_evaluated.items()
            },
        }


NOT_EVALUATED_RULE = "not_evaluated"
INFORMATIONAL_CHECKS = frozenset({"evidently_report"})  # a page for people: decides nothing
# Sections the partitioned path builds (map → merge → finalize).
PARTITIONED_CHECKS = frozenset({"drift", "drift.multivariate", "perf", "serving", "validation", "segments"})
# Evaluated where the check itself is given (`checks=`): it holds what the fit does not (a model loader).
WITH_CHECK = frozenset({"drift.reset"})
# Why a check has no partitioned evaluation yet; a check not named here gets the generic reason.
NOT_PARTITIONED = {
    "drift.reset": "the reset impact scores a sample of rows with the model its check loads; the check "
    "(its ModelSource) was not given to the partitioned evaluation (`checks=`)",
    "evidently_report": "Evidently's HTML page is built from rows in memory (a page for people; it "
    "decides nothing)",
}
GENERIC_REASON = "this check has no partitioned (map → merge → finalize) evaluation yet"


# Per method (`watchkeeper.drift.embeddings`): `model` and `ratio` need every vector of the window and
# have no mergeable state; `mmd` samples at most `mmd_sample` vectors (gatherable, as the domain
# classifier's rows are) and `distance` needs the mean vectors (sums): possible, not implemented.
EMBEDDING_REASONS = {
    "model": "the `model` method (the default) trains a classifier on a random half of all the "
    "window's and the reference's vectors and scores the other half: it needs every vector, and a "
    "classifier's fit does not merge",
    "ratio": "the `ratio` method tests every component's whole distribution of the window's vectors "
    "(all of them, sorted): no mergeable state",
    "mmd": "the `mmd` method samples at most `mmd_sample` of the window's vectors: they could be "
    "gathered from the partitions (as the domain classifier's rows are), not implemented yet",
    "distance": "the `distance` method needs the window's mean vector: mergeable (sums, equal up to "
    "float rounding), not implemented yet",
}


def _embeddings_reason(fit: Any) -> str:
    method = getattr(getattr(fit, "config", None), "method", None) or "model"
    return EMBEDDING_REASONS.get(method, GENERIC_REASON)


def not_evaluated_checks(fitted: FittedChecks, *, given: Sequence[str] = ()) -> dict[str, str]:
    """Every fitted check the partitioned path leaves out, with the reason (`given`: the checks
    passed to it, for those evaluated with their check)."""
    out: dict[str, str] = {}
    for name, fit in fitted.fitted.items():
        if fit is None or name in PARTITIONED_CHECKS or isinstance(fit, ReferenceTooSmall):
            continue
        if name in WITH_CHECK and name in given:
            continue
        if name == "drift.embeddings":
            out[name] = _embeddings_reason(fit)
            continue
        out[name] = NOT_PARTITIONED.get(name, GENERIC_REASON)
    # The sequential detectors are not listed: the perf section carries the window's error stream
    # (`watchkeeper.partitioned.streams`), pending for `feed_pending_detectors`.
    return out


def _gather_reset_sample(
    mapper: Mapper, job: MapJob, source: PartitionedSource, merged: WindowState, deferred: pd.DataFrame
) -> pd.DataFrame:
    """The rows the reset impact samples in memory, read again from their partitions."""
    counts = {index: (rows, labeled) for index, rows, labeled in merged.by_partition}
    sample = plan_reset_sample(
        job.plan,
        sample=job.plan.config.drift.reset_sample,
        # In partition order: the window's row order.
        part_rows={p.index: counts[p.index][0] for p in source.partitions},
        part_labeled={p.index: counts[p.index][1] for p in source.partitions},
        labeled=merged.labeled,
        deferred=deferred,
    )
    wanted = [p for p in source.partitions if p.index in sample.ranks]
    gathered = mapper.map(gather_partition, GatherJob(job, sample), wanted) if wanted else []
    return assemble_sample(gathered, deferred)


def _suite_keys(suite: Any) -> tuple[str, ...]:
    if suite is None:
        return ()
    return tuple(
        e.column for e in suite.expectations if e.type == "expect_column_values_to_be_unique" and e.column
    )


def evaluate_partitioned(
    fitted: FittedChecks,
    source: PartitionedSource,
    mapper: Mapper,
    *,
    config: MonitorConfig,
    config_hash: str,
    start: datetime,
    end: datetime,
    labels: Labels | None,
    labels_complete: bool,
    memory_budget: int,
    state: Mapping[str, Any] | None = None,
    extra_sections: Mapping[str, SectionReport] | None = None,
    flow_run_id: str | None = None,
    checks: Sequence[Any] = (),
) -> WindowEvaluation:
    """One window, partitioned: see the module docstring. Fitted checks as `fit_checks` gives them.

    `state` is not read: the detectors are left pending on the perf section
    (`feed_pending_detectors`). `checks`: the checks themselves, for those that hold more than their
    fit (the reset impact's model loader); without them those are listed as not evaluated."""
    cols = config.columns
    footprint = StepFootprint()
    # A check whose reference is too small did not fit: it is that check's error, as in memory.
    too_small = {n: f.message for n, f in fitted.fitted.items() if isinstance(f, ReferenceTooSmall)}
    fitted = FittedChecks(
        fitted.reference_fingerprint, {n: f for n, f in fitted.fitted.items() if n not in too_small}
    )
    with_check = {c.name: c for c in checks if c.name in WITH_CHECK and fitted.get(c.name) is not None}
    suite = fitted.get("validation")
    read = ReadJob(config, source.source, tuple(inference_columns(cols)), start, end, source.frame)
    key_columns = tuple(dict.fromkeys([cols.request_id, *_suite_keys(suite)]))
    with footprint.measure("scan_keys"):
        scanned = mapper.map(scan_partition, ScanJob(read, key_columns), source.partitions)
        part_rows = [int(s.pop("__rows__")[0]) for s in scanned]
        rows = sum(part_rows)
        keys: dict[str, KeyCounts] = count_duplicates(scanned)
        del scanned
    request_keys = keys.get(cols.request_id)
    mv_fit = fitted.get("drift.multivariate")
    mv_plan = None
    if mv_fit is not None:
        offsets = dict(
            zip([p.index for p in source.partitions], np.cumsum([0, *part_rows[:-1]]).tolist(), strict=True)
        )
        mv_plan = MultivariatePlan(mv_fit, classifier_positions(mv_fit, rows), offsets)
    plan = plan_sketches(
        config,
        start=start,
        end=end,
        drift=fitted.get("drift"),
        perf=fitted.get("perf"),
        suite=suite,
        duplicated=None if request_keys is None or cols.target is None else request_keys.duplicated,
        multivariate=mv_plan,
        # The detectors' error stream, kept only where the window will feed them (labels complete).
        stream=labels_complete is not False,
        reset="drift.reset" in with_check,
    )
    seg_fit = fitted.get("segments")
    seg_plan = None
    if seg_fit is not None:
        seg_plan = plan_segments(seg_fit, config, start=start, end=end, labels_complete=labels_complete)
        plan = replace(plan, segments=seg_plan)
    dask = isinstance(mapper, DaskMapper)
    job = MapJob(
        read,
        plan,
        None if dask else labels,
        read_labels_on_worker=dask and labels is not None,
        labels_since=labels.since if labels is not None else None,
        labels_as_of=labels.cutoff if labels is not None else None,
    )
    with footprint.measure("map"):
        merged = merge_states(mapper.map(map_partition, job, source.partitions))
    samples: dict[str, list[Any]] = {}
    if merged.deferred is not None and cols.request_id in merged.deferred.columns:
        samples[cols.request_id] = merged.deferred[cols.request_id].tolist()
    deferred = joined_deferred(plan, merged.deferred, labels) if plan.reset else None
    with footprint.measure("finalize"):
        merged = map_deferred(plan, merged, labels)
        notes = [] if labels is None or labels.error is None else [f"labels unavailable: {labels.error}"]
        if labels is not None and labels.error is None and labels.note is not None and merged.rows:
            notes.append(labels.note)
        window_report = finalize_window(
            plan, merged, 0 if request_keys is None else request_keys.extra_occurrences, notes
        )
        sections: dict[str, SectionReport] = {"window": window_report}
        errors: dict[str, str] = dict(too_small)
        approximate: list[ApproximateFigure] = []
        include_target = cols.target is not None and merged.labeled > 0

        def finalize(name: str, fn: Callable[[], Any]) -> None:
            try:
                result = fn()
            except Exception as exc:  # one check's failure is reported; the others still finish
                errors[name] = f"{type(exc).__name__}: {exc}"
                return
            if result is None:
                return
            section, approx = result if isinstance(result, tuple) else (result, [])
            sections[name] = section
            approximate.extend(approx)

        if rows:
            drift = fitted.get("drift")
            perf = fitted.get("perf")
            if drift is not None:
                finalize("drift", lambda: finalize_drift(plan, drift, merged, include_target))
            if mv_fit is not None and merged.multivariate is not None:
                mv_state = merged.multivariate
                finalize("drift.multivariate", lambda: finalize_multivariate(mv_fit, mv_state, rows))
            if perf is not None:
                # The detectors are left pending, as `DEFER_DETECTORS` leaves them in memory:
                # `feed_pending_detectors` feeds them from the previous window's state.
                finalize(
                    "perf",
                    lambda: finalize_performance(plan, perf, merged, labels_complete=labels_complete),
                )
            finalize("serving", lambda: finalize_serving(plan, merged))
            if seg_plan is not None:
                plan_of_segments = seg_plan
                finalize("segments", lambda: finalize_segments(plan_of_segments, merged.segments))
            if deferred is not None:
                reset_check, reset_rows = with_check["drift.reset"], deferred

                def reset_impact() -> Any:
                    with footprint.measure("gather_reset_sample"):
                        rows_sample = _gather_reset_sample(mapper, job, source, merged, reset_rows)
                    # On the driver: the check loads the model (never on a worker).
                    return reset_check.measure(
                        fitted.get("drift.reset"), config, rows_sample, sorted(merged.versions)
                    )

                finalize("drift.reset", reset_impact)
        if suite is not None:
            nulls = {c: rows - k.values for c, k in keys.items()}
            finalize(
                "validation",
                lambda: finalize_validation(
                    suite, merged.validation, rows, keys, null_counts=nulls, samples=samples
                ),
            )
    missing = not_evaluated_checks(fitted, given=list(with_check))
    sections["partitioned"] = PartitionedReport(
        mapper.name,
        len(source.partitions),
        rows,
        source.estimated_bytes,
        memory_budget,
        tuple(approximate),
        missing,
    )
    sections["checks"] = assess_fits(fitted.fitted)
    sections.update(extra_sections or {})
    sections["footprint"] = footprint.report()
    publication = NOTHING_TO_PUBLISH
    for name in (
        "drift",
        "drift.multivariate",
        "perf",
        "serving",
        "validation",
        "segments",
        "drift.reset",
        "partitioned",
    ):
        if name in sections:
            publication = publication.merge(sections[name].publish())
    versions = tuple(sorted(k for k in merged.serving if k and k != "unknown"))
    return assemble_window(
        config, config_hash, start, end, sections, errors, publication, versions, flow_run_id
    )
