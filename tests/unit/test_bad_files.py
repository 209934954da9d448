"""One bad file loses only itself, and files outside the window are never opened.

Found by fault injection: strings in a numeric column of one file (`Failed to parse string:
'60590.84 USD' as a scalar of type double`, neither column nor file named), naive timestamps in one
file among aware ones (`Cannot compare timestamp with timezone to timestamp without timezone`) and
one corrupt Parquet file each failed the whole window — the corrupt one also every unrelated
window. Now the bad file is skipped and named with its row count, the window is `incomplete`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from watchkeeper.config import parse_config
from watchkeeper.sources.base import NaiveTimestampWarning
from watchkeeper.sources.files import FileSource
from watchkeeper.verdict import Severity
from watchkeeper.windows import load_window

D1 = datetime(2026, 3, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def _day(
    root: Path, day: int, *, income: list | None = None, naive: bool = False, name: str = "part-0"
) -> Path:
    start = D1 + (day - 1) * DAY
    times = pd.date_range(start + timedelta(hours=1), periods=4, freq="1h")
    if naive:
        times = times.tz_localize(None)
    frame = pd.DataFrame(
        {
            "request_id": [f"d{day}-{i}" for i in range(4)],
            "timestamp": times,
            "income": income if income is not None else [1000.0 * day + i for i in range(4)],
            "score": [0.1, 0.4, 0.6, 0.9],
        }
    )
    target = root / f"date={start:%Y-%m-%d}"
    target.mkdir(parents=True, exist_ok=True)
    path = target / f"{name}.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
    return path


def _read(root: Path, start: datetime, end: datetime) -> pd.DataFrame:
    source = FileSource(str(root), format="parquet", partitioning="hive")
    return source.read(
        columns=["request_id", "timestamp", "income", "score"], time_column="timestamp", start=start, end=end
    )


def test_strings_in_a_numeric_column_skip_only_that_file(tmp_path: Path) -> None:
    _day(tmp_path, 1)
    bad = _day(tmp_path, 2, income=["60590.84 USD", "1", "2", "3"])
    _day(tmp_path, 3)
    frame = _read(tmp_path, D1, D1 + 3 * DAY)
    assert sorted(frame["request_id"].str[:2].unique()) == ["d1", "d3"]
    assert frame["income"].dtype == "float64"
    (skipped,) = frame.attrs["skipped_files"]
    assert skipped["path"] == str(bad) and skipped["rows"] == 4
    # The column and the type asked for are named; the file's content is not quoted (issue 30).
    assert "'income'" in skipped["reason"] and "double" in skipped["reason"]
    assert "60590.84" not in skipped["reason"]


def test_naive_timestamps_in_one_file_are_taken_as_utc(tmp_path: Path) -> None:
    _day(tmp_path, 1)
    _day(tmp_path, 2, naive=True)
    with pytest.warns(NaiveTimestampWarning, match="date=2026-03-02"):
        frame = _read(tmp_path, D1, D1 + 2 * DAY)
    assert len(frame) == 8 and "skipped_files" not in frame.attrs
    assert str(frame["timestamp"].dt.tz) == "UTC"
    assert frame["timestamp"].max() == pd.Timestamp("2026-03-02 04:00", tz="UTC")


def test_corrupt_file_outside_the_window_is_never_opened(tmp_path: Path) -> None:
    _day(tmp_path, 1)
    _day(tmp_path, 2)
    corrupt = _day(tmp_path, 3)
    corrupt.write_bytes(b"PAR1 this is not a parquet file")
    # Day 1 and day 2: the corrupt day-3 partition is pruned by its date, without being opened.
    frame = _read(tmp_path, D1, D1 + 2 * DAY)
    assert len(frame) == 8 and "skipped_files" not in frame.attrs
    # Day 3 itself: the file is skipped and named, row count unknown (its footer is gone).
    frame3 = _read(tmp_path, D1 + DAY, D1 + 3 * DAY)
    assert len(frame3) == 4
    (skipped,) = frame3.attrs["skipped_files"]
    assert skipped["path"] == str(corrupt) and skipped["rows"] is None


def test_window_with_a_skipped_file_is_incomplete_naming_file_and_rows(tmp_path: Path) -> None:
    _day(tmp_path, 1)
    _day(tmp_path, 1, income=["60590.84 USD", "1", "2", "3"], name="part-bad")
    config = parse_config(
        {
            "model": {"name": "m", "task": "binary_classification"},
            "columns": {"numerical_features": ["income"], "score": "score", "prediction": None},
            "sources": {
                "inference_logs": {"type": "parquet", "path": str(tmp_path), "partitioning": "hive"},
                "reference": {"type": "parquet", "path": str(tmp_path), "partitioning": "hive"},
            },
        }
    )
    data = load_window(config, D1, D1 + DAY, labels=None)
    assert data.report.rows == 4
    assert data.report.figures()["incomplete"] == 1.0
    (finding,) = [f for f in data.report.findings() if "incomplete" in f.message]
    assert finding.severity is Severity.WARNING
    assert "part-bad.parquet (4 rows)" in finding.message and "'income'" in finding.message
