"""File sources: Parquet, CSV and JSON lines, local or on any fsspec filesystem (s3://, gs://, …).

`path` may be a file, a directory (read as one dataset; Hive-style ``key=value`` partitions when
`partitioning="hive"`), or a glob. Reading goes through `pyarrow.dataset`, so only the requested
columns are read and the time filter is pushed down (Parquet row groups whose statistics fall outside
the window are skipped). Daily date partitions outside the window are never opened, and when the
one-call read fails the files are read one by one, so one bad file loses only itself
(`watchkeeper.sources.perfile`); the skipped files are in the frame's `attrs["skipped_files"]`. A
column whose type differs between the files read is cast to one type and listed in
`attrs["type_changes"]` (`TypeChange.to_dict`). Errors name the file, never quote its contents.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

import fsspec
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs
from fsspec.implementations.local import LocalFileSystem

from watchkeeper.sources.arrow import dictionary_columns, release_arrow_memory, table_to_frame
from watchkeeper.sources.base import NoDataFilesError, SourceError, columns_to_read, filter_time_range
from watchkeeper.sources.errors import describe_read_error
from watchkeeper.sources.perfile import (
    ARROW_READ_ERRORS,
    SkippedFile,
    find_type_changes,
    partition_window_filter,
    read_file_by_file,
    time_filter,
)

_FORMATS = {"parquet", "csv", "jsonl"}


def _has_magic(path: str) -> bool:
    return any(ch in path for ch in "*?[")


class FileSource:
    def __init__(
        self,
        path: str,
        *,
        format: str,
        partitioning: str | None = None,
        storage_options: dict[str, Any] | None = None,
    ) -> None:
        if format not in _FORMATS:
            raise ValueError(f"unknown file format {format!r}; expected one of {sorted(_FORMATS)}")
        self.path = path
        self.format = format
        self.partitioning = partitioning
        self.storage_options = storage_options or {}

    @property
    def description(self) -> str:
        return f"{self.format} source {self.path!r}"

    def _file_format(self, dictionary: Sequence[str] = ()) -> ds.FileFormat:
        if self.format == "parquet":
            # Categorical strings straight from Parquet's dictionary pages (`read_dictionary`).
            return ds.ParquetFileFormat(read_options={"dictionary_columns": list(dictionary)})
        if self.format == "csv":
            return ds.CsvFileFormat()
        return ds.JsonFileFormat()

    def _dataset(self, dictionary: Sequence[str] = ()) -> ds.Dataset:
        try:
            fs, root = fsspec.core.url_to_fs(self.path, **self.storage_options)
        except (ImportError, ValueError) as exc:
            raise SourceError(
                f"{self.description}: cannot open filesystem: {describe_read_error(exc)}"
            ) from None
        # pyarrow's own local filesystem is faster than going through fsspec's handler.
        arrow_fs: pafs.FileSystem = (
            pafs.LocalFileSystem()
            if isinstance(fs, LocalFileSystem)
            else pafs.PyFileSystem(pafs.FSSpecHandler(fs))
        )
        target: str | list[str]
        try:
            if _has_magic(root):
                target = sorted(p for p in fs.glob(root) if fs.isfile(p))
                if not target:
                    raise SourceError(f"{self.description}: no files match the pattern")
            elif not fs.exists(root):
                raise SourceError(f"{self.description}: path does not exist")
            else:
                target = root
            dataset = ds.dataset(
                target,
                format=self._file_format(dictionary),
                filesystem=arrow_fs,
                partitioning="hive" if self.partitioning == "hive" else None,
                exclude_invalid_files=False,
            )
        except SourceError:
            raise
        except (OSError, pa.ArrowInvalid) as exc:
            raise SourceError(f"{self.description}: cannot read: {describe_read_error(exc)}") from None
        if not dataset.files:
            raise NoDataFilesError(f"{self.description}: no data files found")
        return dataset

    def _time_filter(
        self, schema: pa.Schema, time_column: str, start: datetime | None, end: datetime | None
    ) -> pc.Expression | None:
        return time_filter(schema, time_column, start, end)  # strings etc.: filtered after reading

    def fingerprint(self) -> str | None:
        """Identity of the data as stored now (file paths, sizes, modification times), cheap to take.

        Lets caches keyed on the reference (the drift engine's reference profiles) skip reading it.
        None when the filesystem does not report modification times.
        """
        import hashlib

        fs, _ = fsspec.core.url_to_fs(self.path, **self.storage_options)
        digest = hashlib.sha256(f"{self.format}:{self.path}".encode())
        for path in sorted(self._dataset().files):
            info = fs.info(path)
            mtime = (
                info.get("mtime") or info.get("LastModified") or info.get("updated") or info.get("created")
            )
            if mtime is None:
                return None
            digest.update(f"{path}|{info.get('size')}|{mtime}".encode())
        return digest.hexdigest()[:32]

    def read_window_partitions(
        self,
        *,
        time_column: str,
        window: tuple[datetime, datetime],
        start: datetime,
    ) -> pd.DataFrame | None:
        """The time column of the rows in the date partitions of `window` stamped from `start` on:
        rows a window's files hold but no window's read ever returns (each window opens only its
        own days). None when the source has no date partitions (its files do not say which window
        their rows belong to)."""
        dataset = self._dataset()
        partitions = partition_window_filter(dataset, *window)
        if partitions is None:
            return None
        columns_to_read(dataset.schema.names, [time_column], None, source=self.description)
        expr = self._time_filter(dataset.schema, time_column, start, None)
        try:
            table = dataset.to_table(
                columns=[time_column], filter=partitions if expr is None else partitions & expr
            )
        except ARROW_READ_ERRORS as exc:
            raise SourceError(f"{self.description}: cannot read: {describe_read_error(exc)}") from None
        frame = table_to_frame(table)
        return filter_time_range(frame, time_column, start, None, source=self.description)

    def read(
        self,
        *,
        columns: Sequence[str] | None = None,
        time_column: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        categorical: Collection[str] = (),
    ) -> pd.DataFrame:
        """Read `columns` for ``[start, end)``; `categorical` string columns come back as `category`."""
        dataset = self._dataset()
        wanted = columns_to_read(dataset.schema.names, columns, time_column, source=self.description)
        dictionary = dictionary_columns(dataset.schema, set(categorical) & set(wanted))
        if dictionary and self.format == "parquet":
            dataset = self._dataset(dictionary)
        expr = None
        if time_column is not None and (start is not None or end is not None):
            expr = self._time_filter(dataset.schema, time_column, start, end)
        partitions = partition_window_filter(dataset, start, end)
        changes = find_type_changes(
            list(dataset.get_fragments(filter=partitions)) if len(dataset.files) > 1 else [],
            [c for c in wanted if c in dataset.schema.names],
            time_column=time_column,
            start=start,
            end=end,
        )
        skipped: list[SkippedFile] = []
        try:
            both = partitions if expr is None else (expr if partitions is None else expr & partitions)
            table = dataset.to_table(columns=wanted, filter=both)
        except ARROW_READ_ERRORS:
            # Some file cannot be read with the others: read them one by one, skipping only the bad.
            table, skipped = read_file_by_file(
                dataset,
                wanted,
                time_column=time_column,
                start=start,
                end=end,
                partition_filter=partitions,
            )
            if skipped and table.num_rows == 0 and len(skipped) == len(dataset.files):
                raise SourceError(
                    f"{self.description}: no file could be read: " + "; ".join(s.describe() for s in skipped)
                ) from None
        read_as = {name: str(table.schema.field(name).type) for name in table.column_names}
        frame = table_to_frame(table, categorical)
        del table
        release_arrow_memory()  # a window's read is large and done
        # The pushed-down filter already selected the rows; this normalizes the time column to UTC and
        # applies the range for sources whose time column is text.
        frame = filter_time_range(frame, time_column, start, end, source=self.description)
        if skipped:
            frame.attrs["skipped_files"] = [s.to_dict() for s in skipped]
        if changes:
            frame.attrs["type_changes"] = [
                replace(c, read_as=read_as.get(c.column)).to_dict() for c in changes
            ]
        if columns is None or list(frame.columns) == list(columns):
            return frame  # `.loc` would copy every column
        return frame.loc[:, list(columns)]
