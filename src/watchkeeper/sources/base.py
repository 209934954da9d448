"""The `Source` protocol and helpers shared by every implementation."""

from __future__ import annotations

import re
import warnings
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd

from watchkeeper.quoting import MAX_QUOTED_CHARS, cap_text
from watchkeeper.sources.errors import describe_read_error
from watchkeeper.timeutil import as_utc


class SourceError(RuntimeError):
    """A source is missing, unreadable, or lacks what was asked of it; the message names the source."""


class NoDataFilesError(SourceError):
    """The source's directory exists and holds no data file yet (labels that have not arrived): not
    a source that cannot be read, as a path that does not exist is."""


@runtime_checkable
class Source(Protocol):
    """Reads a slice of a table: some columns, rows whose `time_column` is in ``[start, end)``.

    Frames come back typed (`watchkeeper.sources.arrow`): the `categorical` string columns as
    pandas `category`, other strings Arrow-backed.
    """

    @property
    def description(self) -> str: ...

    def read(
        self,
        *,
        columns: Sequence[str] | None = None,
        time_column: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        categorical: Collection[str] = (),
    ) -> pd.DataFrame: ...


class NaiveTimestampWarning(UserWarning):
    """A time column had no timezone; Watchkeeper assumed UTC."""


def normalize_timestamps(frame: pd.DataFrame, column: str, *, source: str) -> pd.DataFrame:
    """Convert `column` to timezone-aware UTC in place of whatever the source gave.

    Strings and epoch-free datetimes are parsed; naive values are assumed UTC (with a warning, since a
    producer writing local time without a zone would shift every window). Unparseable values are an
    error naming the source, the column and the position of the first (its text is not quoted).
    """
    if column not in frame.columns:
        return frame
    series = frame[column]
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        if str(series.dt.tz) != "UTC":
            frame[column] = series.dt.tz_convert("UTC")
        return frame
    if pd.api.types.is_datetime64_dtype(series.dtype):
        warnings.warn(
            f"{source}: column {column!r} has no timezone; assuming UTC",
            NaiveTimestampWarning,
            stacklevel=2,
        )
        frame[column] = series.dt.tz_localize("UTC")
        return frame
    try:
        parsed = pd.to_datetime(series, utc=True, format="mixed")
    except (ValueError, TypeError) as exc:
        raise SourceError(
            f"{source}: column {column!r} holds values that are not timestamps ({describe_read_error(exc)})"
        ) from None
    if _has_naive_text(series):
        # Text without a zone ("2026-03-01 12:00") is as naive as a naive datetime column.
        warnings.warn(
            f"{source}: column {column!r} holds times without a timezone; assuming UTC",
            NaiveTimestampWarning,
            stacklevel=2,
        )
    frame[column] = parsed
    return frame


_ZONE_SUFFIX = r"(?:[Zz]|[+-]\d{2}(?::?\d{2})?|UTC|GMT)\s*$"


def _has_naive_text(series: pd.Series) -> bool:
    """Whether any text value lacks a zone suffix (numbers, epoch-based, are UTC by definition)."""
    if not (pd.api.types.is_string_dtype(series.dtype) or series.dtype == object):
        return False
    text = series.dropna()
    if text.empty or (series.dtype == object and pd.api.types.infer_dtype(text, skipna=True) != "string"):
        return False
    return not bool(text.astype("string").str.contains(_ZONE_SUFFIX, regex=True).all())


# A column name as people write them. A CSV's "columns" are its first line: a file that is not the
# data (a reference path pointing at a system file) would have that line quoted back otherwise.
_PLAIN_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_ .\-]{0,63}$")


def describe_available(available: Sequence[str]) -> str:
    """The columns a source has, for an error: plain names listed, any other counted (not quoted)."""
    plain = sorted(c for c in available if _PLAIN_NAME.match(c))
    other = len(available) - len(plain)
    listed = cap_text(f"{plain}", MAX_QUOTED_CHARS * 5)
    return listed + (f" and {other} column name(s) not shown (not plain names)" if other else "")


def check_columns(available: Sequence[str], wanted: Sequence[str] | None, *, source: str) -> None:
    if wanted is None:
        return
    missing = [c for c in wanted if c not in set(available)]
    if missing:
        raise SourceError(
            f"{source}: missing column(s) {missing}; available: {describe_available(available)}"
        )


def columns_to_read(
    available: Sequence[str], columns: Sequence[str] | None, time_column: str | None, *, source: str
) -> list[str]:
    """The asked columns (all when None) plus the time column, after checking they all exist."""
    check_columns(available, columns, source=source)
    wanted = list(columns) if columns is not None else list(available)
    if time_column is not None:
        check_columns(available, [time_column], source=source)
        if time_column not in wanted:
            wanted.append(time_column)
    return wanted


def filter_time_range(
    frame: pd.DataFrame,
    time_column: str | None,
    start: datetime | None,
    end: datetime | None,
    *,
    source: str,
) -> pd.DataFrame:
    """Rows with ``start <= time < end`` (after normalizing the time column to UTC)."""
    if time_column is None:
        return frame
    frame = normalize_timestamps(frame, time_column, source=source)
    if start is None and end is None:
        return frame
    # Compare as int64 nanoseconds since the epoch (UTC): no per-row Timestamp objects.
    ts = frame[time_column].dt.as_unit("ns").array.asi8
    mask = np.ones(len(frame), dtype=bool)
    if start is not None:
        mask &= ts >= pd.Timestamp(as_utc(start)).as_unit("ns").value
    if end is not None:
        mask &= ts < pd.Timestamp(as_utc(end)).as_unit("ns").value
    if mask.all():  # the usual case: the filter was pushed down to the storage already
        return frame
    return frame.loc[mask].reset_index(drop=True)
