"""Monitoring windows: their bounds, and loading one window's data with its late labels.

A window is ``[start, end)`` in UTC. The inference logs are read for that range only; ground truth
(which arrives late, from another source) is joined on the request id, as of the run's time: only
labels that had arrived by then (`Labels.as_of`, `read_labels`). Rows whose label has not arrived
stay in the window with a missing target and are counted in the label coverage: nothing is dropped
silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from watchkeeper.schema import ColumnsConfig
from watchkeeper.sources import SourceError, build_source
from watchkeeper.sources.arrow import release_arrow_memory
from watchkeeper.sources.base import NoDataFilesError
from watchkeeper.sources.perfile import SkippedFile, TypeChange
from watchkeeper.timegrid import WindowCalendar, as_calendar
from watchkeeper.timeutil import as_utc
from watchkeeper.verdict import NOTHING_TO_PUBLISH, Finding, Publication, Severity

if TYPE_CHECKING:  # annotations only: the retraining package, which the config imports, reads windows
    from watchkeeper.config import MonitorConfig, WindowConfig


class _Unread:
    """Marks an argument the caller did not give (None is a value: "no labels")."""


_UNREAD = _Unread()


class DataError(ValueError):
    """The data is there but cannot be used as configured (wrong types, …); says which column where."""


def window_bounds(
    window_end: datetime | None,
    window: WindowConfig | WindowCalendar | timedelta,
    *,
    now: datetime | None = None,
) -> tuple[datetime, datetime]:
    """The window ``[start, end)`` ending at `window_end`; without one, the last complete window
    before now.

    `window` is the model's `window:` config (its calendar: size, origin, time zone, week start;
    `watchkeeper.timegrid`), a `WindowCalendar`, or a bare size (epoch-aligned UTC windows: a `1d`
    window ends at 00:00 UTC), so every scheduled run and backfill agree on the same boundaries.
    An explicit end that is not a boundary is an error that names the nearest ones.
    """
    calendar = as_calendar(window)
    if window_end is None:
        return calendar.last_complete(as_utc(now or datetime.now(UTC)))
    return calendar.window_ending(as_utc(window_end))


def windows_between(
    start: datetime, end: datetime, window: WindowConfig | WindowCalendar | timedelta
) -> list[tuple[datetime, datetime]]:
    """Consecutive windows whose ends fall in ``(start, end]`` (`window` as in `window_bounds`)."""
    return as_calendar(window).between(as_utc(start), as_utc(end))


def read_model_versions(config: MonitorConfig, start: datetime, end: datetime) -> tuple[str, ...]:
    """The model versions that scored the window's rows (only that column is read); () when the
    logs do not say."""
    col = config.columns.model_version
    if col is None:
        return ()
    source = build_source(config.sources.inference_logs)
    frame = source.read(
        columns=list(dict.fromkeys([col, config.columns.timestamp])),
        time_column=config.columns.timestamp,
        start=start,
        end=end,
    )
    if frame.empty:
        return ()
    return tuple(sorted(str(v) for v in frame[col].dropna().astype("string").unique()))


def describe_uncovered_tail(config: MonitorConfig, start: datetime, end: datetime) -> str | None:
    """One line on the rows a run over ``(start, end]`` leaves out, if any.

    Only complete windows are monitored: when `end` falls inside a window, the rows from the last
    complete window's end to `end` wait for that window to end. None when nothing is left out.
    """
    calendar = as_calendar(config.window)
    start, end = as_utc(start), as_utc(end)
    last_end = calendar.shift(end, 0)
    if last_end == end:
        return None
    tail_start = max(last_end, start)
    source = build_source(config.sources.inference_logs)
    ts = config.columns.timestamp
    rows = len(source.read(columns=[ts], time_column=ts, start=tail_start, end=end))
    if rows == 0:
        return None
    window_end = calendar.shift(end, 1)
    return (
        f"{rows} row(s) from {tail_start.isoformat()} to {end.isoformat()} were left out: they belong to the "
        f"window ending {window_end.isoformat()}, which ends after {end.isoformat()}; backfill to "
        f"{window_end.isoformat()} once it has ended to cover them"
    )


def inference_columns(columns: ColumnsConfig) -> list[str]:
    wanted: list[str] = [columns.request_id, columns.timestamp, *columns.features]
    for name in (
        columns.prediction,
        columns.score,
        columns.latency_ms,
        columns.status,
        columns.model_version,
    ):
        if name is not None:
            wanted.append(name)
    if columns.probabilities:
        wanted.extend(columns.probabilities.values())
    return list(dict.fromkeys(wanted))


def window_columns(config: MonitorConfig) -> list[str]:
    """Columns read for a window in memory: the inference columns and the embedding columns."""
    return list(dict.fromkeys([*inference_columns(config.columns), *embedding_columns(config)]))


def embedding_columns(config: MonitorConfig) -> list[str]:
    """The vector columns embedding drift compares (none when drift is off)."""
    return list(config.drift.embeddings.columns) if config.drift.enabled else []


def reference_columns(config: MonitorConfig) -> list[str]:
    """Columns read from the reference: features, target, model outputs and embedding columns."""
    cols = config.columns
    wanted: list[str] = [*cols.features, *embedding_columns(config)]
    for name in (cols.target, cols.prediction, cols.score):
        if name is not None:
            wanted.append(name)
    if cols.probabilities:
        wanted.extend(cols.probabilities.values())
    return list(dict.fromkeys(wanted))


def categorical_columns(columns: ColumnsConfig) -> list[str]:
    """Columns sources dictionary-encode when they hold strings: categories, status, version, labels."""
    wanted = [*columns.categorical_features]
    for name in (columns.status, columns.model_version, columns.target, columns.prediction):
        if name is not None:
            wanted.append(name)
    return list(dict.fromkeys(wanted))


def as_category_strings(series: pd.Series) -> pd.Series:
    """One representation for categories whatever the file said: strings, missing as None.

    Integer codes stored as floats (because of a null) keep their integer spelling ("1", not "1.0"),
    so the same category compares equal across sources.
    """
    if pd.api.types.is_float_dtype(series):
        values = series.dropna()
        if len(values) and bool(np.all(np.isfinite(values)) and np.all(values == np.round(values))):
            series = series.astype("Int64")
    out = series.astype("string").astype(object)
    out[series.isna().to_numpy()] = None
    return out


def _has_string_categories(dtype: pd.CategoricalDtype) -> bool:
    return pd.api.types.infer_dtype(dtype.categories, skipna=True) in ("string", "empty")


def as_category(series: pd.Series) -> pd.Series:
    """`as_category_strings` as a pandas `category`: the same strings, held once per category.

    Only the distinct values are converted (the spelling of a value does not depend on the rows
    around it), then values that read the same (3 and "3") are merged into one category.
    """
    if isinstance(series.dtype, pd.CategoricalDtype):
        if _has_string_categories(series.dtype):
            return series
        series = series.astype(series.dtype.categories.dtype)  # rare: numbers held as categories
    codes, uniques = pd.factorize(series, sort=False, use_na_sentinel=True)
    spelled = as_category_strings(pd.Series(uniques)).to_numpy(dtype=object)
    merged, categories = pd.factorize(spelled, sort=False)
    valid = codes >= 0
    out = np.full(codes.shape, -1, dtype=np.int64)
    out[valid] = merged[codes[valid]]
    return pd.Series(
        pd.Categorical.from_codes(out, categories=pd.Index(categories, dtype=object)),  # type: ignore[arg-type]  # stubs: any int array
        index=series.index,
        name=series.name,
    )


def check_types(frame: pd.DataFrame, columns: ColumnsConfig, *, source: str) -> None:
    """Numerical features and model outputs must be numeric; categorical ones become strings."""
    numeric = [*columns.numerical_features]
    numeric += [c for c in (columns.score, columns.latency_ms) if c is not None]
    if columns.probabilities:
        numeric += list(columns.probabilities.values())
    bad = [
        f"{c} ({frame[c].dtype})"
        for c in numeric
        if c in frame.columns and not (pd.api.types.is_numeric_dtype(frame[c]) or frame[c].isna().all())
    ]
    if bad:
        raise DataError(f"{source}: expected numeric column(s), got {', '.join(bad)}")


@dataclass(frozen=True)
class WindowReport:
    """Section "window": what was read, and the data's own problems (duplicates, late labels)."""

    start: datetime
    end: datetime
    rows: int
    labeled: int
    duplicate_request_ids: int
    duplicate_labels: int
    notes: tuple[str, ...] = ()
    # Files of the window that could not be read ("path (N rows): why"): the window is incomplete.
    skipped_files: tuple[str, ...] = ()
    # Columns whose type differed between the window's files (`TypeChange.describe`): read as one.
    type_changes: tuple[str, ...] = ()
    # Rows of the inference logs stamped after the evaluation time (None: not counted; see
    # `watchkeeper.bad_data.count_rows_after_evaluation`), and where they are.
    rows_after_evaluation: int | None = None
    after_evaluation: str | None = None

    @property
    def label_coverage(self) -> float | None:
        return self.labeled / self.rows if self.rows else None

    def figures(self) -> dict[str, float]:
        out = {
            "rows": float(self.rows),
            "no_data": float(self.rows == 0),
            "labeled": float(self.labeled),
            "duplicate_request_ids": float(self.duplicate_request_ids),
            "incomplete": float(bool(self.skipped_files)),
            "skipped_files": float(len(self.skipped_files)),
            "type_changed_columns": float(len(self.type_changes)),
        }
        if self.rows_after_evaluation is not None:
            out["rows_after_evaluation"] = float(self.rows_after_evaluation)
        if self.label_coverage is not None:
            out["label_coverage"] = self.label_coverage
        return out

    def findings(self) -> list[Finding]:
        out = []
        if self.rows == 0:
            out.append(
                Finding(
                    "window",
                    Severity.WARNING,
                    f"no data: the inference logs have no rows between {self.start:%Y-%m-%d %H:%M} and {self.end:%Y-%m-%d %H:%M} UTC",
                    rule="no_data",
                )
            )
        for skipped in self.skipped_files:
            out.append(
                Finding(
                    "window",
                    Severity.WARNING,
                    f"window incomplete: skipped {skipped}",
                    rule="incomplete_window",
                )
            )
        for change in self.type_changes:
            out.append(Finding("window", Severity.WARNING, change, rule="column_type_changed"))
        if self.rows_after_evaluation and self.after_evaluation:
            out.append(
                Finding("window", Severity.WARNING, self.after_evaluation, rule="rows_after_evaluation")
            )
        if self.duplicate_request_ids:
            out.append(
                Finding(
                    "window",
                    Severity.WARNING,
                    f"{self.duplicate_request_ids} duplicate request id(s) in the inference logs; labels join to the first occurrence",
                    rule="duplicate_request_ids",
                )
            )
        return out

    def publish(self) -> Publication:
        return NOTHING_TO_PUBLISH

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "rows": self.rows,
            "labeled": self.labeled,
            "label_coverage": self.label_coverage,
            "duplicate_request_ids": self.duplicate_request_ids,
            "duplicate_labels": self.duplicate_labels,
            "notes": list(self.notes),
            "skipped_files": list(self.skipped_files),
            "type_changes": list(self.type_changes),
            "rows_after_evaluation": self.rows_after_evaluation,
        }


@dataclass(frozen=True)
class WindowData:
    """One window's inference rows (labels joined, NaN where not arrived yet) and its report."""

    frame: pd.DataFrame
    report: WindowReport
    extras: dict[str, Any] = field(default_factory=dict)


def join_labels(
    inference: pd.DataFrame,
    labels: Labels | pd.DataFrame | None,
    columns: ColumnsConfig,
    *,
    repeated: np.ndarray | None = None,
) -> tuple[pd.DataFrame, int, int]:
    """Left-join labels on the request id.

    Returns the joined frame, how many labeled rows, and how many duplicate labels were ignored
    (the latest label per request id wins). Duplicate request ids in the logs keep their rows; only
    the first occurrence gets the label. `repeated` is ``_repeated(ids, keep="first")`` of the
    inference rows when the caller already has it (one hash pass over the ids, not two).
    """
    target = columns.target
    frame = inference.copy(deep=False)  # only a column is added: the data is shared, not copied
    if target is None:
        return frame, 0, 0
    if isinstance(labels, pd.DataFrame):
        labels = Labels.from_frame(labels, columns)
    if labels is None or labels.empty:
        frame[target] = np.nan
        return frame, 0, 0
    rid = frame[columns.request_id]
    mapped, dup_labels = labels.for_window(rid)
    frame[target] = mapped.where(~(_repeated(rid, keep="first") if repeated is None else repeated))
    return frame, int(frame[target].notna().sum()), dup_labels


def _arrow(values: pd.Series) -> pa.Array | None:
    """`values` as one Arrow array; None where Arrow cannot hold them (mixed Python objects)."""
    try:
        array = pa.array(values, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return None
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


def _repeated(ids: pd.Series, *, keep: Literal["first", "last"]) -> np.ndarray:
    """`ids.duplicated(keep=...)` as a NumPy mask, hashed by Arrow (missing ids are one value)."""
    array = _arrow(ids)
    if array is None or not len(array):
        return ids.duplicated(keep=keep).to_numpy()
    return _repeated_array(array, keep=keep)


def _repeated_array(array: pa.Array, *, keep: Literal["first", "last"]) -> np.ndarray:
    """`_repeated` of ids already held as one Arrow array."""
    if not len(array):
        return np.zeros(0, dtype=bool)
    if keep == "last":
        array = array.take(pa.array(np.arange(len(array) - 1, -1, -1)))
    codes = pc.dictionary_encode(array, null_encoding="encode").indices.to_numpy()
    # Codes number the ids in order of first appearance: a row is a repeat unless its code is the
    # largest seen so far (a running maximum, no hash table over a million rows).
    seen = np.maximum.accumulate(codes)
    repeated = np.ones(codes.size, dtype=bool)
    repeated[0] = False
    repeated[1:] = seen[1:] <= seen[:-1]
    return repeated[::-1] if keep == "last" else repeated


def _positions(keys: pa.Array, ids: pa.Array) -> np.ndarray:
    """Where each key is in `ids` (which holds each id once), -1 where absent."""
    found = pc.index_in(keys, value_set=ids)
    return pc.fill_null(found, -1).to_numpy().astype(np.int64, copy=False)


# Why a window's labels are not cut at its evaluation time (`Labels.note`, in the window's notes).
NO_ARRIVAL_TIME_NOTE = (
    "labels carry no arrival time (columns.label_timestamp): every label on disk was joined, as in hindsight"
)
HINDSIGHT_NOTE = (
    "hindsight: every label on disk was joined, those that arrived after this evaluation's time included"
)
_NOT_ARRIVED = np.iinfo(np.int64).max  # a label without an arrival time sorts last and is never "as of"


def _ns(t: datetime) -> int:
    return int(pd.Timestamp(as_utc(t)).as_unit("ns").value)


@dataclass(frozen=True)
class _Latest:
    """The latest label per request id, and how many older labels each duplicated id had."""

    ids: Any  # pa.Array, or a NumPy object array when Arrow cannot hold the ids
    values: Any
    extra: pd.Series


@dataclass(frozen=True, eq=False)
class Labels:
    """The ground truth a run has read, cut at the time it judges as of, joined to windows from memory.

    Every label read is kept in arrival order (`ids`, `values`, `arrived`: the label timestamps as
    int64 UTC nanoseconds, ascending; None when the labels carry no arrival time). `as_of(t)` is the
    view of the labels that had arrived by `t` (a zero-copy slice of those arrays): a backfill reads
    its labels once and judges each window with the labels known at that window's end. Joins use the
    latest label per request id within the view (duplicates resolved by arrival time, else by row
    order), built once per view when first needed.

    `cutoff` is the view's time (None: not cut: hindsight, no arrival time, or every label asked
    for), `since` its first arrival time (None: from the first label). `error` says why no labels
    could be read (the source is unreachable): windows are still evaluated. `note` is what the
    window reports about these labels (`NO_ARRIVAL_TIME_NOTE`, `HINDSIGHT_NOTE`). Plain arrays are
    kept, not an indexed Series: a lookup builds its hash table for the call and frees it. Ids are
    held as an Arrow array when Arrow can hold them, so the join hashes them in Arrow.
    """

    ids: Any  # pa.Array, or a NumPy object array when Arrow cannot hold the ids
    values: Any  # the target column's array (NumPy or pandas extension array)
    arrived: np.ndarray | None = None
    since: datetime | None = None
    cutoff: datetime | None = None
    error: str | None = None
    note: str | None = None

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, columns: ColumnsConfig, *, note: str | None = None) -> Labels:
        """Labels from the ground truth's rows (request id, target, optional label timestamp)."""
        assert columns.target is not None
        arrived = None
        if columns.label_timestamp and columns.label_timestamp in frame.columns:
            stamps = frame[columns.label_timestamp]
            if not isinstance(stamps.dtype, pd.DatetimeTZDtype):
                # Text read without a time filter (every label asked for): what does not parse never
                # counts as arrived, as the filtered read leaves it out.
                stamps = pd.to_datetime(stamps, utc=True, format="mixed", errors="coerce")
            ns = stamps.dt.as_unit("ns").array.asi8.copy()
            ns[stamps.isna().to_numpy()] = _NOT_ARRIVED
            order = np.argsort(ns, kind="stable")
            arrived = ns[order]
            frame = frame.take(order)
        rid = frame[columns.request_id]
        array = _arrow(rid)
        return cls(
            ids=array if array is not None else rid.to_numpy(dtype=object),
            values=frame[columns.target].array,
            arrived=arrived,
            note=note,
        )

    @classmethod
    def none_yet(cls) -> Labels:
        """No label has arrived: the source exists and holds no file yet."""
        empty = pd.Series([], dtype="float64")
        return cls(ids=np.array([], dtype=object), values=empty.array)

    @classmethod
    def unavailable(cls, error: str) -> Labels:
        empty = pd.Series([], dtype="float64")
        return cls(ids=np.array([], dtype=object), values=empty.array, error=error)

    @property
    def empty(self) -> bool:
        return len(self.ids) == 0

    def as_of(self, t: datetime, *, since: datetime | None = None) -> Labels:
        """The labels that arrived in ``[since, t]`` (`since` None: from the first one held).

        Labels without an arrival time are returned whole (one cannot know when they arrived; their
        `note` says so). A view asks only for labels this one holds: `t` after this view's cutoff, or
        `since` before its start, is an error, not a silently shorter history.
        """
        if self.arrived is None or self.error is not None:
            return self
        if self.cutoff is not None and t > self.cutoff:
            raise ValueError(
                f"labels as of {t.isoformat()} asked of labels read up to {self.cutoff.isoformat()}"
            )
        if since is not None and self.since is not None and since < self.since:
            raise ValueError(
                f"labels since {since.isoformat()} asked of labels read from {self.since.isoformat()}"
            )
        lo = int(np.searchsorted(self.arrived, _ns(since), side="left")) if since is not None else 0
        hi = int(np.searchsorted(self.arrived, _ns(t), side="right"))
        hi = max(hi, lo)
        return replace(
            self,
            ids=self.ids[lo:hi],
            values=self.values[lo:hi],
            arrived=self.arrived[lo:hi],
            since=since if since is not None else self.since,
            cutoff=t,
        )

    @cached_property
    def _latest(self) -> _Latest:
        ids = self.ids
        array = ids if isinstance(ids, pa.Array) else None
        if array is not None:
            repeated = _repeated_array(array, keep="last")
        else:
            repeated = pd.Series(ids, dtype=object).duplicated(keep="last").to_numpy()
        extra: pd.Series = pd.Series([], dtype="int64")
        if not repeated.any():  # the usual case: the view's own arrays, no copy
            return _Latest(ids=ids, values=self.values, extra=extra)
        latest = ~repeated
        older = array.filter(pa.array(repeated)).to_pandas() if array is not None else ids[repeated]
        extra = pd.Series(older).value_counts()
        return _Latest(
            ids=array.filter(pa.array(latest)) if array is not None else ids[latest],
            values=self.values[latest],
            extra=extra,
        )

    def lookup(self, request_ids: pd.Series) -> pd.Series:
        """The latest label of each request id (NaN where none has arrived)."""
        latest = self._latest
        keys = _arrow(request_ids) if isinstance(latest.ids, pa.Array) else None
        if keys is None or keys.type != latest.ids.type:
            # Different id types on the two sides (or ids Arrow cannot hold): pandas' own matching.
            ids = latest.ids.to_pandas() if isinstance(latest.ids, pa.Array) else latest.ids
            return request_ids.map(pd.Series(latest.values, index=pd.Index(ids), copy=False))
        values = latest.values
        if isinstance(values, pd.arrays.NumpyExtensionArray):
            values = values.to_numpy()
        taken = pd.api.extensions.take(values, _positions(keys, latest.ids), allow_fill=True)
        return pd.Series(taken, index=request_ids.index, name=request_ids.name)

    def for_window(self, request_ids: pd.Series) -> tuple[pd.Series, int]:
        """The label of each request (NaN where none arrived) and the duplicate labels ignored."""
        mapped = self.lookup(request_ids)
        extra = self._latest.extra
        if extra.empty:
            return mapped, 0
        dups = request_ids.drop_duplicates().map(extra)
        return mapped, int(dups.sum()) if len(dups) else 0


def labels_read_end(as_of: datetime) -> datetime:
    """The exclusive end of a ground-truth read that must hold every label of ``time <= as_of``.

    Sources read ``[start, end)``; the whole second after `as_of` casts exactly to any timestamp
    unit a file may store (seconds to nanoseconds), and `Labels.as_of` then cuts at `as_of` itself.
    """
    return as_utc(as_of).replace(microsecond=0) + timedelta(seconds=1)


def reevaluation_start(config: MonitorConfig, start: datetime) -> datetime:
    """The start of the earliest window a run of the window starting at `start` may look at: the
    windows within the label lag, re-evaluated when their labels grow (and one more window)."""
    return config.window.calendar.shift(start - config.window.label_lag, -1)


def read_labels(
    config: MonitorConfig,
    *,
    since: datetime | None = None,
    as_of: datetime | None = None,
    hindsight: bool = False,
) -> Labels | None:
    """The ground truth known at `as_of`; None when the model has no ground truth configured.

    With `as_of` and `columns.label_timestamp`, only labels that arrived in ``[since, as_of]`` are
    read: the source filters on the label timestamp (Parquet statistics and date partitions, SQL
    WHERE), reading ``[since, labels_read_end(as_of))``, then the labels are cut at `as_of` exactly.
    A label arrives after its request, so `since` (the earliest window the run looks at) loses no
    label a window of the run can join. Without a label timestamp every label on disk is read and
    the windows say so (`NO_ARRIVAL_TIME_NOTE`); with `hindsight` too (`HINDSIGHT_NOTE`); without
    `as_of`, every label is read with no note (analyses, training data).
    """
    cols = config.columns
    if config.sources.ground_truth is None or cols.target is None:
        return None
    wanted = [cols.request_id, cols.target]
    if cols.label_timestamp:
        wanted.append(cols.label_timestamp)
    cut = as_of is not None and not hindsight and cols.label_timestamp is not None
    note = None
    if hindsight:
        note = HINDSIGHT_NOTE
    elif as_of is not None and cols.label_timestamp is None:
        note = NO_ARRIVAL_TIME_NOTE
    try:
        source = build_source(config.sources.ground_truth)
        if cut:
            assert as_of is not None
            frame = source.read(
                columns=wanted,
                time_column=cols.label_timestamp,
                start=since,
                end=labels_read_end(as_of),
                categorical=categorical_columns(cols),
            )
        else:
            frame = source.read(columns=wanted, categorical=categorical_columns(cols))
    except NoDataFilesError:
        # The directory is there and holds no file yet: no label has arrived (a new model).
        return Labels.none_yet()
    except SourceError as exc:
        # Missing ground truth must not stop drift, validation and serving checks (the run's
        # `labels` section makes it a finding: `watchkeeper.bad_data`).
        return Labels.unavailable(str(exc))
    labels = Labels.from_frame(frame, cols, note=note)
    del frame
    release_arrow_memory()  # the ground truth's rows are read, sorted and hashed: done with them
    if cut:
        assert as_of is not None
        labels = replace(labels, since=since).as_of(as_of, since=since)
    return labels


def normalize_logs(frame: pd.DataFrame, cols: ColumnsConfig, *, source: str) -> pd.DataFrame:
    """Inference rows as every check expects them: types checked, categories as one representation,
    sorted by time (a window in memory, or one partition of it)."""
    check_types(frame, cols, source=source)
    for name in cols.categorical_features:
        # One representation for categories whatever the file said (ints, strings, bools).
        frame[name] = as_category(frame[name])
    if cols.model_version and cols.model_version in frame.columns:
        frame[cols.model_version] = as_category(frame[cols.model_version])
    if not frame[cols.timestamp].is_monotonic_increasing:
        frame = frame.sort_values(cols.timestamp, kind="stable").reset_index(drop=True)
    return frame


def load_window(
    config: MonitorConfig, start: datetime, end: datetime, *, labels: Labels | _Unread | None = _UNREAD
) -> WindowData:
    """Read the window's inference logs and join the labels that have arrived.

    `labels` are the run's labels (`read_labels`, read once for every window of a run); by default
    they are read here.
    """
    cols = config.columns
    logs = build_source(config.sources.inference_logs)
    frame = logs.read(
        columns=window_columns(config),
        time_column=cols.timestamp,
        start=start,
        end=end,
        categorical=categorical_columns(cols),
    )
    skipped = tuple(SkippedFile(**s).describe() for s in frame.attrs.get("skipped_files", ()))
    changes = tuple(TypeChange.from_dict(c).describe() for c in frame.attrs.get("type_changes", ()))
    frame = normalize_logs(frame, cols, source=logs.description)
    repeated = _repeated(frame[cols.request_id], keep="first")
    duplicates = int(repeated.sum())
    notes: list[str] = []
    if not len(frame):
        labels = None
    elif isinstance(labels, _Unread):
        labels = read_labels(config)
    if labels is not None and labels.error is not None:
        notes.append(f"labels unavailable: {labels.error}")
    elif labels is not None and labels.note is not None:
        notes.append(labels.note)
    joined, labeled, dup_labels = join_labels(frame, labels, cols, repeated=repeated)
    del repeated, frame
    # Hashing the ids (duplicates, the label join) is done: Arrow's freed pages go back before the
    # block merge below allocates the merged copies (~90 MB at 1M rows), not after.
    release_arrow_memory()
    # The joined target is a block of its own, and the numeric columns Arrow handed over stay in
    # Arrow's pool. Merged once, here, where the frame is still ours alone: measured at 1M rows,
    # the unmerged window sat ~20 MB higher through every later check, and the peak with it.
    joined._consolidate_inplace()  # type: ignore[operator]  # pandas' own (private) block merge
    # The merged blocks are NumPy's: the columns Arrow handed over without a copy were freed into
    # Arrow's pool just now (~80 MB at 1M rows), which keeps freed pages for reuse.
    release_arrow_memory()
    report = WindowReport(
        start=start,
        end=end,
        rows=len(joined),
        labeled=labeled,
        duplicate_request_ids=duplicates,
        duplicate_labels=dup_labels,
        notes=tuple([*notes, *changes]),
        skipped_files=skipped,
        type_changes=changes,
    )
    return WindowData(frame=joined, report=report)


@dataclass(frozen=True)
class ReferenceData:
    """The reference a window is compared with, and a fingerprint of its stored data.

    `fingerprint` changes whenever the stored reference changes (from file metadata: no value is
    read for it); checks cache what they fit under it. None when the source cannot tell.
    """

    frame: pd.DataFrame
    fingerprint: str | None = None


def read_reference(config: MonitorConfig) -> ReferenceData:
    """The reference data (features, target, model outputs; timestamp too when the source has one)."""
    cols = config.columns
    source = build_source(config.sources.reference)
    wanted = reference_columns(config)
    categorical = categorical_columns(cols)
    try:
        frame = source.read(columns=[*wanted, cols.timestamp], categorical=categorical)
    except SourceError:
        frame = source.read(columns=wanted, categorical=categorical)
    check_types(frame, cols, source=source.description)
    for name in cols.categorical_features:
        frame[name] = as_category(frame[name])
    if len(frame) == 0:
        raise DataError(f"{source.description}: the reference data is empty")
    release_arrow_memory()  # the file's pages and the conversion's buffers: held for the whole run
    fingerprint = getattr(source, "fingerprint", None)
    return ReferenceData(frame, fingerprint() if callable(fingerprint) else None)


def load_reference(config: MonitorConfig) -> pd.DataFrame:
    """The reference frame alone (`read_reference` without the fingerprint)."""
    return read_reference(config).frame


def count_labels(
    config: MonitorConfig,
    windows: list[tuple[datetime, datetime]],
    *,
    labels: Labels | _Unread | None = _UNREAD,
) -> dict[datetime, int]:
    """How many of each window's requests have a label now, by window end.

    Reads the request ids of the whole span once (not once per window): this runs on every monitor
    run to find past windows whose late labels have landed. `labels` as in `load_window`.
    """
    cols = config.columns
    counts = {end: 0 for _, end in windows}
    if not windows or config.sources.ground_truth is None or cols.target is None:
        return counts
    logs = build_source(config.sources.inference_logs)
    span_start, span_end = min(s for s, _ in windows), max(e for _, e in windows)
    ids = logs.read(
        columns=[cols.request_id, cols.timestamp], time_column=cols.timestamp, start=span_start, end=span_end
    )
    if ids.empty:
        return counts
    if isinstance(labels, _Unread):
        labels = read_labels(config)
    if labels is None or labels.error is not None:
        return counts
    first = ids.drop_duplicates(cols.request_id)
    labeled = labels.lookup(first[cols.request_id]).notna().to_numpy()
    ts = first[cols.timestamp]
    for start, end in windows:
        in_window = ((ts >= start) & (ts < end)).to_numpy()
        counts[end] = int((labeled & in_window).sum())
    return counts
