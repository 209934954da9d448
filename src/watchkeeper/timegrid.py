"""The window calendar: which windows exist, where each starts and ends.

    window:
      size: 1mo                  # 15m, 1h, 6h, 1d, 2d, 1w, 1mo, 3mo (s, m, h, d, w, mo)
      origin: 2019-01-01         # where windows are counted from, in `timezone` (date or date-time)
      timezone: Europe/Berlin    # IANA name; default UTC
      week_start: monday         # weeks only: the weekday a week starts on

Two kinds of sizes:

- *elapsed time* (`s`, `m`, `h`): every window lasts exactly its size, counted from the origin;
- *calendar* (`d`, `w`, `mo`): windows follow the local calendar of `timezone`. A day runs from the
  origin's time of day (midnight by default: `origin: 2019-01-01T06:00` for 06:00-to-06:00 days) to
  the same local time the next day, so a daylight-saving day lasts 23 or 25 hours; a week starts on
  `week_start`; a month starts on the origin's day of the month (1 to 28).

Every instant going in or out is timezone-aware UTC (`timeutil.as_utc`); only the arithmetic is
local. The default calendar (UTC, origin 1970-01-01) gives the epoch-aligned windows of earlier
versions: a `1d` window ends at 00:00 UTC.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from watchkeeper.timeutil import as_utc


class FutureWindowError(ValueError):
    """A window that ends after now: it would be judged on data that does not exist yet."""


_SIZE = re.compile(r"^\s*(\d+)\s*(mo|s|m|h|d|w)\s*$")
_ELAPSED_SECONDS = {"s": 1, "m": 60, "h": 3600}
# What a calendar window nominally lasts (sizing reference chunks, look-backs): a month is 31 days,
# so a look-back of one size always reaches the previous window's start.
_NOMINAL_DAYS = {"d": 1, "w": 7, "mo": 31}
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
EPOCH = datetime(1970, 1, 1)


def _parse_size(spec: str) -> tuple[int, str]:
    match = _SIZE.match(spec)
    if not match or int(match.group(1)) <= 0:
        raise ValueError(
            f"invalid window size {spec!r}: expected a positive whole number and a unit "
            "s, m, h (elapsed time) or d, w, mo (calendar), e.g. '15m', '1h', '1d', '1w', '1mo'"
        )
    return int(match.group(1)), match.group(2)


class WindowSize(timedelta):
    """A window size as written (`spec`: ``"1mo"``), usable where a timedelta is expected.

    As a timedelta it is the exact length for elapsed-time units and the nominal one for calendar
    units (a day 24 h, a month 31 days); boundaries come from `WindowCalendar`.
    """

    count: int
    unit: str
    spec: str

    def __new__(cls, spec: str) -> WindowSize:
        count, unit = _parse_size(spec)
        if unit in _ELAPSED_SECONDS:
            self = super().__new__(cls, seconds=count * _ELAPSED_SECONDS[unit])
        else:
            self = super().__new__(cls, days=count * _NOMINAL_DAYS[unit])
        self.count, self.unit, self.spec = count, unit, f"{count}{unit}"
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return (WindowSize, (self.spec,))

    def __repr__(self) -> str:
        return f"WindowSize({self.spec!r})"

    @property
    def calendar(self) -> bool:
        return self.unit not in _ELAPSED_SECONDS

    @classmethod
    def parse(cls, value: Any) -> WindowSize:
        """From YAML: ``"1mo"``, ``"15m"``; a timedelta or seconds become the same in elapsed
        units (whole days as ``Nd``)."""
        if isinstance(value, WindowSize):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = timedelta(seconds=float(value))
        if isinstance(value, timedelta):
            seconds = value.total_seconds()
            if seconds <= 0 or seconds != int(seconds):
                raise ValueError(f"invalid window size {value}: a positive whole number of seconds")
            secs = int(seconds)
            for unit, per in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
                if secs % per == 0:
                    return cls(f"{secs // per}{unit}")
        if not isinstance(value, str):
            raise ValueError(f"invalid window size {value!r}: expected text such as '1d' or '1mo'")
        return cls(value)


def parse_timezone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r}: expected an IANA name such as 'Europe/Berlin'"
        ) from None


def parse_origin(value: Any) -> datetime:
    """A local (naive) date-time: ``2019-01-01``, ``2019-01-01T06:00``; an aware value keeps its
    wall-clock reading (the calendar's time zone decides the instant)."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, date):
        return datetime.combine(value, time())
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"invalid origin {value!r}: expected an ISO date or date-time") from None
        return parsed.replace(tzinfo=None)
    raise ValueError(f"invalid origin {value!r}: expected an ISO date or date-time")


def _add_months(value: datetime, months: int) -> datetime:
    total = value.year * 12 + (value.month - 1) + months
    return value.replace(year=total // 12, month=total % 12 + 1)


@dataclass(frozen=True)
class WindowCalendar:
    """Window boundaries for one size, origin, time zone and week start (see the module docstring)."""

    size: WindowSize
    origin: datetime = EPOCH  # local wall-clock time in `timezone`
    timezone: str = "UTC"
    week_start: str = "monday"

    def __post_init__(self) -> None:
        if self.size.unit == "mo" and self.origin.day > 28:
            raise ValueError(
                f"monthly windows need an origin on day 1 to 28 of a month, got {self.origin:%Y-%m-%d}"
            )
        if self.week_start not in WEEKDAYS:
            raise ValueError(f"unknown week_start {self.week_start!r}; expected one of {', '.join(WEEKDAYS)}")

    @property
    def _zone(self) -> ZoneInfo:
        return parse_timezone(self.timezone)

    @property
    def _origin(self) -> datetime:
        """The origin, moved back to the week's first day for weekly windows."""
        if self.size.unit != "w":
            return self.origin
        back = (self.origin.weekday() - WEEKDAYS.index(self.week_start)) % 7
        return self.origin - timedelta(days=back)

    def boundary(self, k: int) -> datetime:
        """The k-th boundary from the origin (k may be negative), as UTC."""
        size, origin = self.size, self._origin
        if not size.calendar:
            return as_utc(origin.replace(tzinfo=self._zone)) + k * size
        if size.unit == "mo":
            local = _add_months(origin, k * size.count)
        else:
            local = origin + timedelta(days=k * size.count * _NOMINAL_DAYS[size.unit])
        return as_utc(local.replace(tzinfo=self._zone))

    def index(self, instant: datetime) -> int:
        """The k of the window containing `instant`: boundary(k) <= instant < boundary(k + 1)."""
        instant = as_utc(instant)
        size, origin = self.size, self._origin
        if not size.calendar:
            return math.floor((instant - self.boundary(0)) / size)
        local = instant.astimezone(self._zone).replace(tzinfo=None)
        if size.unit == "mo":
            months = (local.year - origin.year) * 12 + (local.month - origin.month)
            k = months // size.count
        else:
            k = math.floor((local - origin) / timedelta(days=size.count * _NOMINAL_DAYS[size.unit]))
        while self.boundary(k) > instant:
            k -= 1
        while self.boundary(k + 1) <= instant:
            k += 1
        return k

    def is_boundary(self, instant: datetime) -> bool:
        return self.boundary(self.index(instant)) == as_utc(instant)

    def window_ending(self, end: datetime) -> tuple[datetime, datetime]:
        """The window ``[start, end)`` that ends at `end`, which must be a boundary."""
        end = as_utc(end)
        k = self.index(end)
        if self.boundary(k) != end:
            before, after = self.boundary(k), self.boundary(k + 1)
            raise ValueError(
                f"{end.isoformat()} is not a window boundary of {self.describe()}; "
                f"the nearest are {before.isoformat()} and {after.isoformat()}"
            )
        return self.boundary(k - 1), end

    def last_complete(self, now: datetime) -> tuple[datetime, datetime]:
        """The last window that ended at or before `now`."""
        k = self.index(now)
        return self.boundary(k - 1), self.boundary(k)

    def between(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        """Consecutive windows whose ends fall in ``(start, end]``, oldest first."""
        first, last = self.index(start) + 1, self.index(end)
        return [(self.boundary(k - 1), self.boundary(k)) for k in range(first, last + 1)]

    def shift(self, boundary: datetime, windows: int) -> datetime:
        """The boundary `windows` windows after (negative: before) the one containing `boundary`."""
        return self.boundary(self.index(boundary) + windows)

    def describe(self) -> str:
        origin = f"{self._origin:%Y-%m-%d %H:%M}"
        week = f", weeks from {self.week_start}" if self.size.unit == "w" else ""
        return f"{self.size.spec} windows from {origin} {self.timezone}{week}"


def utc_calendar(size: timedelta) -> WindowCalendar:
    """Epoch-aligned UTC windows of a fixed size (what a bare timedelta means)."""
    return WindowCalendar(WindowSize.parse(size))


def as_calendar(window: Any) -> WindowCalendar:
    """A `WindowCalendar` from a calendar, a window config (anything with `.calendar`) or a size."""
    if isinstance(window, WindowCalendar):
        return window
    calendar = getattr(window, "calendar", None)
    if isinstance(calendar, WindowCalendar):
        return calendar
    if isinstance(window, timedelta):
        return utc_calendar(window)
    raise TypeError(f"expected a window config, a WindowCalendar or a timedelta, got {type(window).__name__}")
