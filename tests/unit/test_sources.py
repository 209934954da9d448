"""Every source kind reads only the asked columns and rows, and says clearly what is wrong."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pytest
import sqlalchemy as sa

from watchkeeper.sources import (
    FileSource,
    MemorySource,
    SourceError,
    SqlSource,
    register_memory_frame,
    unregister_memory_frame,
)

T0 = datetime(2026, 3, 1, tzinfo=UTC)
START = datetime(2026, 3, 2, tzinfo=UTC)
END = datetime(2026, 3, 3, tzinfo=UTC)


@pytest.fixture
def frame() -> pd.DataFrame:
    # 72 hourly rows over three days: the middle day is the window.
    return pd.DataFrame(
        {
            "request_id": [f"r{i}" for i in range(72)],
            "timestamp": pd.date_range(T0, periods=72, freq="h"),
            "x": range(72),
            "extra": ["e"] * 72,
        }
    )


def check_window(out: pd.DataFrame) -> None:
    assert list(out.columns) == ["request_id", "x"]
    assert out["x"].tolist() == list(range(24, 48))


def test_parquet_file_reads_columns_and_window(tmp_path: Path, frame: pd.DataFrame) -> None:
    path = tmp_path / "logs.parquet"
    frame.to_parquet(path, row_group_size=24)
    out = FileSource(str(path), format="parquet").read(
        columns=["request_id", "x"], time_column="timestamp", start=START, end=END
    )
    check_window(out)


def test_parquet_hive_directory(tmp_path: Path, frame: pd.DataFrame) -> None:
    frame = frame.assign(date=frame["timestamp"].dt.strftime("%Y-%m-%d"))
    ds.write_dataset(
        pa.Table.from_pandas(frame, preserve_index=False),
        tmp_path / "logs",
        format="parquet",
        partitioning=["date"],
        partitioning_flavor="hive",
    )
    assert (tmp_path / "logs" / "date=2026-03-02").is_dir()
    source = FileSource(str(tmp_path / "logs"), format="parquet", partitioning="hive")
    check_window(source.read(columns=["request_id", "x"], time_column="timestamp", start=START, end=END))


def test_glob_and_fsspec_url(tmp_path: Path, frame: pd.DataFrame) -> None:
    frame.iloc[:36].to_parquet(tmp_path / "a.parquet")
    frame.iloc[36:].to_parquet(tmp_path / "b.parquet")
    out = FileSource(str(tmp_path / "*.parquet"), format="parquet").read(
        columns=["request_id", "x"], time_column="timestamp", start=START, end=END
    )
    check_window(out)
    url = f"file://{tmp_path}/a.parquet"
    assert len(FileSource(url, format="parquet").read(columns=["x"])) == 36


def test_memory_filesystem_url(frame: pd.DataFrame) -> None:
    # fsspec's in-memory filesystem stands in for s3:// and friends: the non-local code path.
    import fsspec

    fs = fsspec.filesystem("memory")
    with fs.open("/bucket/logs/part-0.parquet", "wb") as fh:
        frame.to_parquet(fh)
    out = FileSource("memory://bucket/logs", format="parquet").read(
        columns=["request_id", "x"], time_column="timestamp", start=START, end=END
    )
    check_window(out)


def test_csv_and_jsonl(tmp_path: Path, frame: pd.DataFrame) -> None:
    text = frame.assign(timestamp=frame["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
    text.to_csv(tmp_path / "logs.csv", index=False)
    text.to_json(tmp_path / "logs.jsonl", orient="records", lines=True)
    for path, fmt in ((tmp_path / "logs.csv", "csv"), (tmp_path / "logs.jsonl", "jsonl")):
        out = FileSource(str(path), format=fmt).read(
            columns=["request_id", "x"], time_column="timestamp", start=START, end=END
        )
        check_window(out)


def test_naive_timestamps_are_taken_as_utc(tmp_path: Path, frame: pd.DataFrame) -> None:
    frame = frame.assign(timestamp=frame["timestamp"].dt.tz_localize(None))
    frame.to_parquet(tmp_path / "naive.parquet")
    with pytest.warns(UserWarning, match="no timezone; assuming UTC"):
        out = FileSource(str(tmp_path / "naive.parquet"), format="parquet").read(
            columns=["request_id", "x", "timestamp"], time_column="timestamp", start=START, end=END
        )
    assert str(out["timestamp"].dt.tz) == "UTC"
    assert out["x"].tolist() == list(range(24, 48))


def test_missing_path_and_columns_are_clear(tmp_path: Path, frame: pd.DataFrame) -> None:
    with pytest.raises(SourceError, match="path does not exist"):
        FileSource(str(tmp_path / "nope"), format="parquet").read()
    with pytest.raises(SourceError, match="no files match"):
        FileSource(str(tmp_path / "*.parquet"), format="parquet").read()
    frame.to_parquet(tmp_path / "logs.parquet")
    with pytest.raises(SourceError, match=r"missing column\(s\) \['score'\]"):
        FileSource(str(tmp_path / "logs.parquet"), format="parquet").read(columns=["x", "score"])


def test_sql_table_binds_the_window(tmp_path: Path, frame: pd.DataFrame) -> None:
    url = f"sqlite:///{tmp_path / 'logs.db'}"
    engine = sa.create_engine(url)
    frame.assign(timestamp=frame["timestamp"].dt.tz_localize(None)).to_sql("logs", engine, index=False)
    engine.dispose()
    source = SqlSource(url=url, table="logs")
    check_window(source.read(columns=["request_id", "x"], time_column="timestamp", start=START, end=END))
    query = SqlSource(
        url=url,
        query="SELECT request_id, x, timestamp FROM logs WHERE timestamp >= :start AND timestamp < :end",
    )
    check_window(query.read(columns=["request_id", "x"], time_column="timestamp", start=START, end=END))
    with pytest.raises(SourceError, match="table does not exist"):
        SqlSource(url=url, table="nope").read()


def test_sql_url_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, frame: pd.DataFrame) -> None:
    url = f"sqlite:///{tmp_path / 'logs.db'}"
    engine = sa.create_engine(url)
    frame.to_sql("logs", engine, index=False)
    engine.dispose()
    source = SqlSource(url_env="WK_TEST_LOGS_URL", table="logs")
    with pytest.raises(SourceError, match="WK_TEST_LOGS_URL is not set"):
        source.read()
    monkeypatch.setenv("WK_TEST_LOGS_URL", url)
    assert len(source.read(columns=["x"])) == 72


def test_memory_source(frame: pd.DataFrame) -> None:
    register_memory_frame("logs", frame)
    try:
        check_window(
            MemorySource("logs").read(
                columns=["request_id", "x"], time_column="timestamp", start=START, end=END
            )
        )
    finally:
        unregister_memory_frame("logs")
    with pytest.raises(SourceError, match="not registered"):
        MemorySource("logs").read()


def test_file_fingerprint_follows_the_stored_data(tmp_path: Path, frame: pd.DataFrame) -> None:
    import os

    path = tmp_path / "ref.parquet"
    frame.to_parquet(path)
    source = FileSource(str(tmp_path), format="parquet")
    first = source.fingerprint()
    assert first is not None and first == source.fingerprint()  # stable while nothing changes
    frame.iloc[:10].to_parquet(path)
    os.utime(path, (1_900_000_000, 1_900_000_000))
    assert source.fingerprint() != first  # rewritten: caches keyed on it are not reused


@pytest.mark.parametrize(
    ("values", "warns"),
    [
        (["2026-03-01 12:00:00", "2026-03-01 13:00:00"], True),  # text without a zone: naive
        (["2026-03-01T12:00:00Z", "2026-03-01T13:00:00+02:00"], False),  # every value has a zone
        (["2026-03-01T12:00:00Z", "2026-03-01 13:00:00"], True),  # one naive value is enough
    ],
)
def test_naive_timestamps_stored_as_text_warn(values: list[str], warns: bool) -> None:
    import warnings

    from watchkeeper.sources.base import NaiveTimestampWarning, normalize_timestamps

    frame = pd.DataFrame({"ts": pd.Series(values, dtype="string")})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = normalize_timestamps(frame, "ts", source="logs.csv")
    assert any(issubclass(w.category, NaiveTimestampWarning) for w in caught) is warns
    assert str(out["ts"].dt.tz) == "UTC"
