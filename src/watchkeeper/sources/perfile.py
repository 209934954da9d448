"""One bad file loses only itself: partition pruning and the file-by-file fallback of file sources.

A dataset read is one `to_table` call over every file, fast, but one file that cannot be read fails
the whole window with an error that names neither file nor column (strings in a numeric column,
naive timestamps among aware ones, a truncated Parquet file). So:

- files whose Hive partition says they lie outside the window (`date=2026-03-01`-style keys named
  `date`, `day`, `dt` or `ds`, holding ISO dates, one day of rows each) are never opened;
- when the one-call read fails, the files are read one by one: each with its own time filter (a
  naive time column compares as UTC), its columns cast to the type most files have, its naive
  timestamps taken as UTC; a file that still fails is skipped and described (`SkippedFile`: path,
  its row count from the Parquet footer when readable, the column and the error), so the window is
  reported `incomplete` instead of lost;
- a column whose type differs between the files read (ints in one file, numeric strings in another)
  is read as one type, and said so (`TypeChange`: the column, each type with its files).

Errors quote no content of a file (`watchkeeper.sources.errors`).
"""

from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from watchkeeper.quoting import cap_text
from watchkeeper.sources.base import NaiveTimestampWarning
from watchkeeper.sources.errors import describe_read_error
from watchkeeper.timeutil import as_utc

DATE_PARTITION_KEYS = ("date", "day", "dt", "ds")
ARROW_READ_ERRORS: tuple[type[Exception], ...] = (
    OSError,
    pa.ArrowInvalid,
    pa.ArrowTypeError,
    pa.ArrowNotImplementedError,
)


@dataclass(frozen=True)
class SkippedFile:
    """A file left out of a window: where, how many rows (None: unknown) and why."""

    path: str
    rows: int | None
    reason: str

    def describe(self) -> str:
        rows = "row count unknown" if self.rows is None else f"{self.rows} rows"
        return f"{self.path} ({rows}): {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "rows": self.rows, "reason": self.reason}


# Files named per type in a `TypeChange` description; the rest are counted.
FILES_NAMED = 3


@dataclass(frozen=True)
class TypeChange:
    """A column whose type differs between the files of one read: each type with the files that
    hold it, and the type the read gave the column (the others were cast to it)."""

    column: str
    types: tuple[tuple[str, tuple[str, ...]], ...]  # (type, files), the most files first
    read_as: str | None = None

    def describe(self) -> str:
        def files(paths: tuple[str, ...]) -> str:
            named = ", ".join(cap_text(p) for p in paths[:FILES_NAMED])
            more = len(paths) - FILES_NAMED
            return named + (f" and {more} more file(s)" if more > 0 else "")

        held = "; ".join(f"{kind} in {files(paths)}" for kind, paths in self.types)
        read = f": read as {self.read_as}" if self.read_as else ""
        return f"column {self.column!r} changed type between files ({held}){read}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "types": {kind: list(paths) for kind, paths in self.types},
            "read_as": self.read_as,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TypeChange:
        types = tuple((kind, tuple(paths)) for kind, paths in data["types"].items())
        return cls(data["column"], types, data.get("read_as"))


def type_kind(arrow_type: pa.DataType) -> str | None:
    """What a type means for a column's values: widths, units, zones and dictionary encoding aside
    (int32 and int64, ints and floats — pandas writes ints with a null as floats — are one kind).
    None for the null type: an all-null column in one file changes nothing."""
    if pa.types.is_dictionary(arrow_type):
        arrow_type = arrow_type.value_type
    if pa.types.is_null(arrow_type):
        return None
    if pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type) or pa.types.is_decimal(arrow_type):
        return "number"
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "string"
    if pa.types.is_timestamp(arrow_type):
        return "timestamp"
    if pa.types.is_boolean(arrow_type):
        return "boolean"
    return str(arrow_type)


def find_type_changes(
    fragments: list[ds.Fragment],
    columns: list[str],
    *,
    time_column: str | None,
    start: datetime | None,
    end: datetime | None,
) -> list[TypeChange]:
    """The columns whose kind of type (`type_kind`) differs between the files that hold rows of
    ``[start, end)``. Reads footers and schemas only; rows are counted (from Parquet statistics) only
    where the types differ, so a stray file outside the range is not reported with every read."""
    if len(fragments) < 2:
        return []
    schemas: list[tuple[ds.Fragment, pa.Schema]] = []
    for fragment in fragments:
        try:
            schemas.append((fragment, fragment.physical_schema))
        except ARROW_READ_ERRORS:
            continue  # an unreadable file is reported by the read itself
    differing = [
        col
        for col in columns
        if len({type_kind(s.field(col).type) for _, s in schemas if col in s.names} - {None}) > 1
    ]
    if not differing:
        return []
    holding = []
    for fragment, schema in schemas:
        try:
            rows = fragment.count_rows(filter=time_filter(schema, time_column, start, end))
        except ARROW_READ_ERRORS:
            continue
        if rows:
            holding.append((fragment, schema))
    out = []
    for col in differing:
        by_type: dict[str, list[str]] = {}
        kinds = set()
        for fragment, schema in holding:
            if col in schema.names and type_kind(schema.field(col).type) is not None:
                kinds.add(type_kind(schema.field(col).type))
                by_type.setdefault(str(schema.field(col).type), []).append(fragment.path)
        if len(kinds) > 1:
            ranked = sorted(by_type.items(), key=lambda item: (-len(item[1]), item[0]))
            out.append(TypeChange(col, tuple((kind, tuple(paths)) for kind, paths in ranked)))
    return out


def _is_iso_date(text: str) -> bool:
    try:
        datetime.strptime(text, "%Y-%m-%d")
    except ValueError:
        return False
    return True


def partition_window_filter(
    dataset: ds.Dataset, start: datetime | None, end: datetime | None
) -> pc.Expression | None:
    """A filter on a daily date partition that keeps only the days `[start, end)` touches, or None."""
    partitioning = getattr(dataset, "partitioning", None)
    if partitioning is None or (start is None and end is None):
        return None
    for field in partitioning.schema:
        if field.name not in DATE_PARTITION_KEYS:
            continue
        values = [
            ds.get_partition_keys(f.partition_expression).get(field.name) for f in dataset.get_fragments()
        ]
        if not values or not all(isinstance(v, str) and _is_iso_date(v) for v in values):
            return None
        expr: pc.Expression | None = None
        if start is not None:
            expr = ds.field(field.name) >= f"{as_utc(start):%Y-%m-%d}"
        if end is not None:
            # A day partition holds [d, d + 1 day): the last day touched is the one just before `end`.
            last = f"{as_utc(end) - timedelta(microseconds=1):%Y-%m-%d}"
            term = ds.field(field.name) <= last
            expr = term if expr is None else expr & term
        return expr
    return None


def _rows(fragment: ds.Fragment) -> int | None:
    # Parquet fragments know their row count from the footer; other formats (and a broken footer) do not.
    try:
        return int(fragment.metadata.num_rows)
    except AttributeError:
        return None
    except ARROW_READ_ERRORS:
        return None


def _target_types(
    schemas: list[pa.Schema], columns: list[str], time_column: str | None
) -> dict[str, pa.DataType]:
    out: dict[str, pa.DataType] = {}
    for col in columns:
        types = [s.field(col).type for s in schemas if col in s.names]
        if not types:
            continue
        if col == time_column and any(pa.types.is_timestamp(t) for t in types):
            out[col] = pa.timestamp("us", tz="UTC")
            continue
        out[col] = Counter(types).most_common(1)[0][0]
    return out


def time_filter(
    schema: pa.Schema, time_column: str | None, start: datetime | None, end: datetime | None
) -> pc.Expression | None:
    """The pushed-down `[start, end)` filter for a timestamp column of this schema (a naive column
    compares as UTC wall time); None for other column types, which are filtered after reading."""
    if time_column is None or time_column not in schema.names:
        return None
    field_type = schema.field(time_column).type
    if not pa.types.is_timestamp(field_type):
        return None
    expr: pc.Expression | None = None
    for bound, is_start in ((start, True), (end, False)):
        if bound is None:
            continue
        value = as_utc(bound)
        if field_type.tz is None:
            value = value.replace(tzinfo=None)
        scalar = pa.scalar(value, type=pa.timestamp("us", tz=field_type.tz)).cast(field_type)
        term = ds.field(time_column) >= scalar if is_start else ds.field(time_column) < scalar
        expr = term if expr is None else expr & term
    return expr


def read_file_by_file(
    dataset: ds.Dataset,
    columns: list[str],
    *,
    time_column: str | None,
    start: datetime | None,
    end: datetime | None,
    partition_filter: pc.Expression | None,
) -> tuple[pa.Table, list[SkippedFile]]:
    """Read every file of `dataset` on its own; the files that fail are skipped and described."""
    fragments = list(dataset.get_fragments(filter=partition_filter))
    skipped: list[SkippedFile] = []
    readable: list[tuple[ds.Fragment, pa.Schema]] = []
    for fragment in fragments:
        try:
            readable.append((fragment, fragment.physical_schema))
        except ARROW_READ_ERRORS as exc:
            reason = f"cannot read: {describe_read_error(exc)}"
            skipped.append(SkippedFile(fragment.path, _rows(fragment), reason))
    targets = _target_types([s for _, s in readable], columns, time_column)
    tables: list[pa.Table] = []
    for fragment, schema in readable:
        keys = ds.get_partition_keys(fragment.partition_expression)
        missing = [c for c in columns if c not in schema.names and c not in keys]
        if missing:
            skipped.append(SkippedFile(fragment.path, _rows(fragment), f"missing column(s) {missing}"))
            continue
        physical = [c for c in columns if c in schema.names]
        try:
            table = fragment.to_table(columns=physical, filter=time_filter(schema, time_column, start, end))
        except ARROW_READ_ERRORS as exc:
            skipped.append(
                SkippedFile(fragment.path, _rows(fragment), f"cannot read: {describe_read_error(exc)}")
            )
            continue
        problem = None
        for col in physical:
            target = targets.get(col)
            current = table.schema.field(col).type
            if target is None or current == target:
                continue
            if col == time_column and pa.types.is_timestamp(current) and current.tz is None:
                warnings.warn(
                    f"{fragment.path}: column {col!r} has no timezone; assuming UTC",
                    NaiveTimestampWarning,
                    stacklevel=2,
                )
            try:
                table = table.set_column(table.schema.get_field_index(col), col, pc.cast(table[col], target))
            except ARROW_READ_ERRORS as exc:
                problem = f"column {col!r} cannot be read as {target}: {describe_read_error(exc)}"
                break
        if problem is not None:
            skipped.append(SkippedFile(fragment.path, _rows(fragment), problem))
            continue
        for col in columns:
            if col not in table.column_names:  # a partition key asked for as a column
                table = table.append_column(col, pa.array([keys[col]] * table.num_rows))
        tables.append(table.select(columns))
    if not tables:
        schema = pa.schema([pa.field(c, targets.get(c, pa.null())) for c in columns])
        return schema.empty_table(), skipped
    return pa.concat_tables(tables, promote_options="permissive"), skipped
