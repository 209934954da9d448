"""Time helpers shared by the whole library: one meaning of "UTC instant" and one text form of it.

Every instant Watchkeeper stores or compares is timezone-aware UTC. Naive values (SQLite returns
wall-clock text without a zone; users write naive ISO strings) are taken as UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import overload


@overload
def as_utc(value: datetime) -> datetime: ...
@overload
def as_utc(value: None) -> None: ...
def as_utc(value: datetime | None) -> datetime | None:
    """Naive datetimes are taken as UTC; aware ones are converted to UTC; None stays None."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso_z(value: datetime | None) -> str:
    """``2026-03-05T00:00:00Z`` (second precision, UTC): the form used in tags, keys and payloads;
    the empty string for None."""
    return "" if value is None else as_utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")


@overload
def parse_utc(text: str) -> datetime: ...
@overload
def parse_utc(text: None) -> None: ...
def parse_utc(text: str | None) -> datetime | None:
    """An ISO 8601 time (``2026-03-05T00:00:00Z``, an offset, or naive = UTC) as aware UTC."""
    return None if text is None else as_utc(datetime.fromisoformat(text))


def format_progress(done: int, total: int, elapsed_s: float, *, what: str = "windows") -> str:
    """``12/30 windows, 4.0/min, ETA 4:30`` (rate and ETA from what was done so far)."""
    rate = done / elapsed_s * 60 if elapsed_s > 0 else 0.0
    left = (total - done) * elapsed_s / done if done and elapsed_s > 0 else None
    eta = "-" if left is None else str(timedelta(seconds=round(left)))
    return f"{done}/{total} {what}, {rate:.1f}/min, ETA {eta}"
