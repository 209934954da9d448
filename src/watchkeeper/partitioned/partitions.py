"""Partitions of a window: small descriptions that whoever evaluates one reads on its own.

A partition is plain data (a path and row groups, a time range, a slice of rows), never rows, so the
Dask engine ships descriptions to workers and each worker reads its partition straight from the
source (dask#10644 and prefect#12967 describe what shipping frames from the driver does).

- `RowGroups`: row groups of one Parquet file (any fsspec URL). Planned from the files' metadata;
  row groups whose statistics fall outside the window are skipped without reading them.
- `TimeSlice`: a sub-range of the window's time range, for any source (a SQL table: a key range on
  the time column; CSV / JSON lines). Each row belongs to the one slice that holds its timestamp.
- `FrameSlice`: rows ``[start, stop)`` of a frame in memory (tests, notebooks; local engine only).

Every partition reads only the columns asked for and applies the window's time filter, so which
rows a window holds never depends on how it was cut.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import fsspec
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
from fsspec.implementations.local import LocalFileSystem

from watchkeeper.sources import SourceError, build_source
from watchkeeper.sources.arrow import table_to_frame
from watchkeeper.sources.base import filter_time_range
from watchkeeper.sources.config import ParquetSourceConfig, SourceConfig
from watchkeeper.sources.errors import describe_read_error
from watchkeeper.sources.files import FileSource


@dataclass(frozen=True)
class RowGroups:
    """Row groups `row_groups` of the Parquet file `path`; `rows` is their row count (metadata)."""

    index: int
    path: str
    row_groups: tuple[int, ...]
    rows: int
    storage_options: tuple[tuple[str, str], ...] = ()
    url: str = ""  # the source's URL, to open the file on the same filesystem

    @property
    def label(self) -> str:
        return f"{self.path} row groups {self.row_groups[0]}..{self.row_groups[-1]}"


@dataclass(frozen=True)
class TimeSlice:
    """Rows of the source whose time column is in ``[start, end)``."""

    index: int
    start: datetime
    end: datetime
    rows: int = 0  # unknown before reading

    @property
    def label(self) -> str:
        return f"[{self.start.isoformat()}, {self.end.isoformat()})"


@dataclass(frozen=True)
class FrameSlice:
    """Rows ``[start, stop)`` of an in-memory frame."""

    index: int
    start: int
    stop: int

    @property
    def rows(self) -> int:
        return self.stop - self.start

    @property
    def label(self) -> str:
        return f"rows {self.start}..{self.stop}"


Partition = RowGroups | TimeSlice | FrameSlice


def slice_frame(n_rows: int, n_partitions: int) -> list[FrameSlice]:
    """`n_partitions` contiguous slices of a frame of `n_rows` rows, sizes differing by at most one."""
    n_partitions = max(1, min(n_partitions, max(n_rows, 1)))
    bounds = [n_rows * i // n_partitions for i in range(n_partitions + 1)]
    return [FrameSlice(i, bounds[i], bounds[i + 1]) for i in range(n_partitions)]


def slice_time(start: datetime, end: datetime, n_partitions: int) -> list[TimeSlice]:
    """`n_partitions` consecutive time ranges covering ``[start, end)``."""
    span = end - start
    edges = [start + span * i / n_partitions for i in range(n_partitions)] + [end]
    return [TimeSlice(i, edges[i], edges[i + 1]) for i in range(n_partitions)]


def arrow_filesystem(url: str, storage_options: dict[str, Any]) -> tuple[pafs.FileSystem, str]:
    fs, root = fsspec.core.url_to_fs(url, **storage_options)
    if isinstance(fs, LocalFileSystem):
        return pafs.LocalFileSystem(), root
    return pafs.PyFileSystem(pafs.FSSpecHandler(fs)), root


def plan_row_groups(
    config: ParquetSourceConfig,
    *,
    time_column: str,
    start: datetime,
    end: datetime,
    rows_per_partition: int,
) -> list[RowGroups]:
    """Row-group partitions of a Parquet source for ``[start, end)``, about `rows_per_partition`
    rows each (whole row groups; a file's groups are never split across files' partitions)."""
    source = build_source(config)
    assert isinstance(source, FileSource)
    dataset = source._dataset()  # the source's own listing: same files, globbing and partitioning
    expr = source._time_filter(dataset.schema, time_column, start, end)
    options = tuple(sorted(config.storage_options.items()))
    out: list[RowGroups] = []
    for fragment in dataset.get_fragments():
        groups = fragment.split_by_row_group(expr) if expr is not None else fragment.split_by_row_group()
        pending: list[int] = []
        rows = 0
        for group in groups:
            (info,) = group.row_groups
            pending.append(info.id)
            rows += info.num_rows
            if rows >= rows_per_partition:
                out.append(RowGroups(len(out), fragment.path, tuple(pending), rows, options, config.path))
                pending, rows = [], 0
        if pending:
            out.append(RowGroups(len(out), fragment.path, tuple(pending), rows, options, config.path))
    return out


def read_partition(
    partition: Partition,
    *,
    source: SourceConfig,
    columns: Sequence[str],
    time_column: str,
    start: datetime,
    end: datetime,
    frame: pd.DataFrame | None = None,
    dictionary: Sequence[str] = (),
) -> pd.DataFrame:
    """The partition's rows of `columns` whose `time_column` is in ``[start, end)`` (UTC).

    `dictionary` columns are read dictionary-encoded where the format allows (Parquet), so they
    come back as pandas categoricals without a Python string per row.
    """
    if isinstance(partition, FrameSlice):
        if frame is None:
            raise ValueError("a FrameSlice partition needs the frame it slices (local engine only)")
        part = frame.iloc[partition.start : partition.stop]
        part = part.loc[:, [c for c in dict.fromkeys([*columns, time_column]) if c in part.columns]]
        return filter_time_range(part.copy(), time_column, start, end, source="frame")
    if isinstance(partition, TimeSlice):
        lo, hi = max(start, partition.start), min(end, partition.end)
        return build_source(source).read(columns=list(columns), time_column=time_column, start=lo, end=hi)
    fs, _ = arrow_filesystem(partition.url or partition.path, dict(partition.storage_options))
    wanted = set(dictionary) & set(columns)
    options = ds.ParquetReadOptions(dictionary_columns=wanted) if wanted else None
    file_format = ds.ParquetFileFormat(read_options=options) if options else ds.ParquetFileFormat()
    fragment = file_format.make_fragment(partition.path, filesystem=fs, row_groups=partition.row_groups)
    names = set(fragment.physical_schema.names)
    missing = [c for c in columns if c not in names]
    if missing:
        raise SourceError(f"parquet file {partition.path!r}: missing column(s) {missing}")
    try:
        table = fragment.to_table(columns=list(dict.fromkeys([*columns, time_column])))
    except (OSError, pa.ArrowInvalid) as exc:
        raise SourceError(
            f"parquet file {partition.path!r}: cannot read: {describe_read_error(exc)}"
        ) from None
    part = table_to_frame(table, wanted)  # the sources' own typing: categories, Arrow strings
    del table
    part = filter_time_range(part, time_column, start, end, source=f"parquet file {partition.path!r}")
    return part.loc[:, list(columns)]
