"""The window calendar: calendar units, origin, time zone (daylight saving), week start."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from watchkeeper.config import WindowConfig
from watchkeeper.timegrid import WindowCalendar, WindowSize
from watchkeeper.windows import window_bounds, windows_between

BERLIN = "Europe/Berlin"


def cal(size: str, **kw: object) -> WindowCalendar:
    return WindowConfig.model_validate({"size": size, **kw}).calendar


def test_monthly_windows_with_origin_and_time_zone_across_daylight_saving() -> None:
    # Months start at local midnight on the origin's day; Berlin switches to summer time on
    # 2019-03-31 and back on 2019-10-27, so March lasts 31 days minus an hour, October plus one.
    c = cal("1mo", origin="2019-01-01", timezone=BERLIN)
    windows = windows_between(datetime(2019, 2, 1, tzinfo=UTC), datetime(2019, 11, 30, tzinfo=UTC), c)
    starts = [s for s, _ in windows]
    assert starts[0] == datetime(2019, 1, 31, 23, tzinfo=UTC)  # 2019-02-01 00:00 CET
    assert datetime(2019, 3, 31, 22, tzinfo=UTC) in starts  # 2019-04-01 00:00 CEST
    lengths = {f"{s.astimezone(c._zone):%Y-%m}": e - s for s, e in windows}
    assert lengths["2019-03"] == timedelta(days=31) - timedelta(hours=1)
    assert lengths["2019-10"] == timedelta(days=31) + timedelta(hours=1)
    assert lengths["2019-04"] == timedelta(days=30)
    # the window ending at the start of April is March, local midnight to local midnight
    start, end = window_bounds(datetime(2019, 3, 31, 22, tzinfo=UTC), c)
    assert start == datetime(2019, 2, 28, 23, tzinfo=UTC)
    # the default end is the last complete month before now
    assert window_bounds(None, c, now=datetime(2019, 4, 15, tzinfo=UTC)) == (start, end)


def test_monthly_windows_can_start_on_the_datas_first_day() -> None:
    c = cal("1mo", origin="2019-07-15")
    assert window_bounds(None, c, now=datetime(2019, 9, 20, tzinfo=UTC)) == (
        datetime(2019, 8, 15, tzinfo=UTC),
        datetime(2019, 9, 15, tzinfo=UTC),
    )
    quarters = cal("3mo", origin="2019-01-01")
    assert window_bounds(None, quarters, now=datetime(2019, 8, 1, tzinfo=UTC)) == (
        datetime(2019, 4, 1, tzinfo=UTC),
        datetime(2019, 7, 1, tzinfo=UTC),
    )


def test_days_in_a_time_zone_are_23_or_25_hours_on_daylight_saving_days() -> None:
    c = cal("1d", timezone=BERLIN)
    spring = window_bounds(datetime(2019, 3, 31, 22, tzinfo=UTC), c)  # ends 2019-04-01 00:00 CEST
    assert spring == (datetime(2019, 3, 30, 23, tzinfo=UTC), datetime(2019, 3, 31, 22, tzinfo=UTC))
    assert spring[1] - spring[0] == timedelta(hours=23)
    autumn = windows_between(
        datetime(2019, 10, 26, 22, tzinfo=UTC), datetime(2019, 10, 27, 23, tzinfo=UTC), c
    )
    assert [e - s for s, e in autumn] == [timedelta(hours=25)]


def test_origin_time_of_day_offsets_days() -> None:
    # 06:00-to-06:00 business days
    c = cal("1d", origin="2020-01-01T06:00")
    assert window_bounds(None, c, now=datetime(2020, 5, 5, 5, 59, tzinfo=UTC)) == (
        datetime(2020, 5, 3, 6, tzinfo=UTC),
        datetime(2020, 5, 4, 6, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("week_start", "expected_start"),
    [
        ("monday", datetime(2026, 3, 2, tzinfo=UTC)),  # the default, ISO weeks
        ("sunday", datetime(2026, 3, 1, tzinfo=UTC)),  # US weeks
    ],
)
def test_weeks_start_on_week_start(week_start: str, expected_start: datetime) -> None:
    c = cal("1w", week_start=week_start)
    start, end = window_bounds(None, c, now=datetime(2026, 3, 12, tzinfo=UTC))
    assert (start, end) == (expected_start, expected_start + timedelta(days=7))
    assert start.weekday() == (
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ).index(week_start)


def test_elapsed_units_keep_the_epoch_aligned_windows() -> None:
    c = cal("15m")
    assert window_bounds(None, c, now=datetime(2026, 3, 5, 13, 37, tzinfo=UTC))[1] == datetime(
        2026, 3, 5, 13, 30, tzinfo=UTC
    )
    # hours count elapsed time, also in a zone with daylight saving
    h = cal("1h", timezone=BERLIN)
    got = windows_between(datetime(2019, 3, 31, 0, tzinfo=UTC), datetime(2019, 3, 31, 3, tzinfo=UTC), h)
    assert [e - s for s, e in got] == [timedelta(hours=1)] * 3


def test_a_window_end_must_be_a_boundary() -> None:
    with pytest.raises(ValueError, match=r"not a window boundary of 1mo windows .* nearest are 2019-03-01"):
        window_bounds(datetime(2019, 3, 5, tzinfo=UTC), cal("1mo"))


@pytest.mark.parametrize(
    ("window", "message"),
    [
        ({"size": "1y"}, "invalid window size '1y'"),
        ({"size": "0d"}, "invalid window size"),
        ({"size": "1mo", "origin": "2019-01-31"}, "day 1 to 28"),
        ({"timezone": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
        ({"week_start": "funday"}, "week_start"),
        ({"origin": "yesterday"}, "invalid origin 'yesterday'"),
    ],
)
def test_bad_calendars_say_what_is_wrong(window: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        WindowConfig.model_validate(window)


def test_size_is_a_timedelta_that_round_trips() -> None:
    size = WindowSize("1mo")
    assert size == timedelta(days=31) and size.spec == "1mo" and size.calendar
    assert pickle.loads(pickle.dumps(size)).spec == "1mo"
    assert WindowSize.parse(timedelta(hours=2)).spec == "2h"
    config = WindowConfig.model_validate({"size": "2w", "origin": "2026-01-05", "timezone": BERLIN})
    assert WindowConfig.model_validate(config.model_dump()) == config
    assert config.model_dump()["size"] == "2w"


def test_backfill_progress_says_done_total_rate_and_eta() -> None:
    from watchkeeper.timeutil import format_progress

    assert format_progress(3, 12, 90.0) == "3/12 windows, 2.0/min, ETA 0:04:30"
    assert format_progress(0, 12, 0.0) == "0/12 windows, 0.0/min, ETA -"


def test_rows_after_the_last_complete_window_are_reported_in_one_line(tmp_path: Path) -> None:
    import pandas as pd

    from watchkeeper.config import parse_config
    from watchkeeper.windows import describe_uncovered_tail

    times = pd.date_range("2019-08-01", "2019-08-30 12:00", freq="6h", tz="UTC")
    pd.DataFrame({"request_id": range(len(times)), "timestamp": times, "x": 1.0}).to_parquet(
        tmp_path / "logs.parquet"
    )
    config = parse_config(
        {
            "model": {"name": "m", "task": "regression"},
            "columns": {"request_id": "request_id", "timestamp": "timestamp", "numerical_features": ["x"]},
            "sources": {
                "inference_logs": {"type": "parquet", "path": str(tmp_path / "logs.parquet")},
                "reference": {"type": "parquet", "path": str(tmp_path / "logs.parquet")},
            },
            "window": {"size": "1w", "origin": "2019-08-01"},
        }
    )
    # weeks from Monday 2019-07-29: the last complete one ends on 2019-08-26; 4 days are left
    line = describe_uncovered_tail(
        config, datetime(2019, 8, 1, tzinfo=UTC), datetime(2019, 8, 30, 12, tzinfo=UTC)
    )
    assert line is not None
    assert line.startswith(
        "18 row(s) from 2019-08-26T00:00:00+00:00 to 2019-08-30T12:00:00+00:00 were left out"
    )
    assert "window ending 2019-09-02T00:00:00+00:00" in line
    assert (
        describe_uncovered_tail(config, datetime(2019, 8, 1, tzinfo=UTC), datetime(2019, 8, 26, tzinfo=UTC))
        is None
    )
