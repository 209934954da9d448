"""Labels as of a time: a window is judged with the labels that had arrived by its run's time.

The ground truth is read with the label-timestamp filter pushed down (date partitions outside the
range are never opened, SQL gets a WHERE), then cut exactly at the evaluation time; a backfill's
views (`Labels.as_of`) equal what each day's own read gives.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from watchkeeper.config import MonitorConfig, parse_config
from watchkeeper.schema import ColumnsConfig
from watchkeeper.sources import register_memory_frame, unregister_memory_frame
from watchkeeper.sources.files import FileSource
from watchkeeper.windows import (
    HINDSIGHT_NOTE,
    NO_ARRIVAL_TIME_NOTE,
    Labels,
    count_labels,
    labels_read_end,
    load_window,
    read_labels,
)

D1 = datetime(2026, 3, 1, tzinfo=UTC)
COLUMNS = ColumnsConfig(
    request_id="request_id",
    timestamp="timestamp",
    numerical_features=["x"],
    score="score",
    target="target",
    label_timestamp="label_timestamp",
)


def _at(day: int, hour: int = 0) -> datetime:
    return D1 + timedelta(days=day - 1, hours=hour)


# Four labels: "a" labeled twice (corrected on day 4), "b" on day 2, "c" on day 3 at noon.
LABELS = pd.DataFrame(
    {
        "request_id": ["a", "c", "a", "b"],
        "target": [0, 1, 1, 1],
        "label_timestamp": [_at(2), _at(3, 12), _at(4), _at(2, 6)],
    }
)
IDS = pd.Series(["a", "b", "c", "d"])


def _lookup(labels: Labels) -> list[Any]:
    return [None if pd.isna(v) else int(v) for v in labels.lookup(IDS)]


def test_as_of_keeps_the_labels_that_had_arrived_latest_first() -> None:
    labels = Labels.from_frame(LABELS, COLUMNS)
    # Before any label: nothing joins.
    assert _lookup(labels.as_of(_at(1))) == [None, None, None, None]
    # A label arriving exactly at the cut counts (<= as_of): "a" at day 2 00:00.
    assert _lookup(labels.as_of(_at(2))) == [0, None, None, None]
    assert _lookup(labels.as_of(_at(3))) == [0, 1, None, None]
    # Day 4: "a"'s correction replaces its first label, and the first one is a duplicate ignored.
    day4 = labels.as_of(_at(4))
    assert _lookup(day4) == [1, 1, 1, None]
    assert day4.for_window(IDS)[1] == 1
    assert labels.as_of(_at(3)).for_window(IDS)[1] == 0  # the correction had not arrived yet
    # `since` drops labels that arrived before it ("a" and "b" on day 2).
    assert _lookup(labels.as_of(_at(4), since=_at(3))) == [1, None, 1, None]
    # Uncut labels (every label read): the latest per id, as before as-of existed.
    assert _lookup(labels) == [1, 1, 1, None]
    assert labels.as_of(_at(3)).cutoff == _at(3)


def test_a_view_cannot_claim_labels_it_does_not_hold() -> None:
    view = Labels.from_frame(LABELS, COLUMNS).as_of(_at(3), since=_at(2))
    with pytest.raises(ValueError, match="read up to"):
        view.as_of(_at(4))
    with pytest.raises(ValueError, match="read from"):
        view.as_of(_at(3), since=_at(1))
    # A narrower view of a view is fine, and equals the same view of the whole.
    assert _lookup(view.as_of(_at(2, 12))) == [0, 1, None, None]


def test_labels_without_arrival_time_are_never_cut() -> None:
    columns = COLUMNS.model_copy(update={"label_timestamp": None})
    labels = Labels.from_frame(LABELS.drop(columns="label_timestamp"), columns)
    # Without arrival times the last row of an id wins, and as_of cannot cut anything.
    assert labels.arrived is None
    assert _lookup(labels.as_of(_at(1))) == [1, 1, 1, None]


def test_a_label_without_its_arrival_time_never_counts_as_of_a_time() -> None:
    frame = LABELS.assign(label_timestamp=LABELS["label_timestamp"].where(LABELS["request_id"] != "b"))
    labels = Labels.from_frame(frame, COLUMNS)
    assert _lookup(labels.as_of(_at(9))) == [1, None, 1, None]
    assert _lookup(labels) == [1, 1, 1, None]  # uncut: every label read, as before


def test_labels_read_end_holds_the_as_of_instant_in_any_unit() -> None:
    # [start, end) reads: the end is the next whole second, so a label at as_of itself is read.
    assert labels_read_end(_at(5)) == _at(5) + timedelta(seconds=1)
    assert labels_read_end(_at(5) + timedelta(microseconds=250)) == _at(5) + timedelta(seconds=1)


def _memory_config(*, label_timestamp: str | None = "label_timestamp") -> MonitorConfig:
    return parse_config(
        {
            "model": {"name": "m", "task": "binary_classification"},
            "columns": {
                "numerical_features": ["x"],
                "score": "score",
                "prediction": None,
                "label_timestamp": label_timestamp,
            },
            "window": {"size": "1d", "label_lag": "2d"},
            "sources": {
                "inference_logs": {"type": "memory", "name": "as-of-logs"},
                "ground_truth": {"type": "memory", "name": "as-of-labels"},
                "reference": {"type": "memory", "name": "as-of-ref"},
            },
        }
    )


@pytest.fixture
def memory_sources() -> Iterator[None]:
    logs = pd.DataFrame(
        {
            "request_id": ["a", "b", "c", "d"],
            "timestamp": [_at(1, 1), _at(1, 2), _at(1, 3), _at(2, 1)],
            "x": [1.0, 2.0, 3.0, 4.0],
            "score": [0.1, 0.9, 0.5, 0.2],
        }
    )
    register_memory_frame("as-of-logs", logs)
    register_memory_frame("as-of-labels", LABELS)
    yield
    for name in ("as-of-logs", "as-of-labels"):
        unregister_memory_frame(name)


def test_a_window_replayed_as_of_a_day_joins_the_labels_known_then(memory_sources: None) -> None:
    config = _memory_config()
    window = (_at(1), _at(2))
    coverage = {}
    for day in (2, 3, 4):
        labels = read_labels(config, since=_at(1), as_of=_at(day))
        data = load_window(config, *window, labels=labels)
        coverage[day] = data.report.labeled
        assert data.report.notes == ()
        assert count_labels(config, [window], labels=labels) == {_at(2): data.report.labeled}
    assert coverage == {2: 1, 3: 2, 4: 3}  # a on day 2, b by day 3 (06:00 on day 2), c at noon day 3
    latest = load_window(config, *window, labels=read_labels(config, since=_at(1), as_of=_at(4)))
    assert latest.frame["target"].tolist()[:3] == [1.0, 1.0, 1.0]  # "a" corrected by day 4


def test_hindsight_and_missing_arrival_times_join_everything_and_say_so(memory_sources: None) -> None:
    config = _memory_config()
    window = (_at(1), _at(2))
    hindsight = load_window(config, *window, labels=read_labels(config, as_of=_at(2), hindsight=True))
    assert hindsight.report.labeled == 3 and hindsight.report.notes == (HINDSIGHT_NOTE,)

    no_arrival = _memory_config(label_timestamp=None)
    register_memory_frame("as-of-labels", LABELS.drop(columns="label_timestamp"))
    data = load_window(no_arrival, *window, labels=read_labels(no_arrival, since=_at(1), as_of=_at(2)))
    assert data.report.labeled == 3 and data.report.notes == (NO_ARRIVAL_TIME_NOTE,)
    # Asked for every label (no as_of: analyses, training data): no note.
    assert load_window(no_arrival, *window, labels=read_labels(no_arrival)).report.notes == ()


def _write_days(root: Path, key: str, days: dict[int, pd.DataFrame]) -> None:
    for day, frame in days.items():
        target = root / f"{key}={_at(day):%Y-%m-%d}"
        target.mkdir(parents=True)
        frame.to_parquet(target / "part-0.parquet")


def _arrivals() -> dict[int, pd.DataFrame]:
    return {
        day: LABELS[LABELS["label_timestamp"].dt.floor("D") == pd.Timestamp(_at(day))].reset_index(drop=True)
        for day in (2, 3, 4)
    }


def _parquet_config(root: Path) -> MonitorConfig:
    return parse_config(
        {
            "model": {"name": "m", "task": "binary_classification"},
            "columns": {"numerical_features": ["x"], "score": "score", "label_timestamp": "label_timestamp"},
            "sources": {
                "inference_logs": {"type": "memory", "name": "as-of-logs"},
                "ground_truth": {"type": "parquet", "path": str(root), "partitioning": "hive"},
                "reference": {"type": "memory", "name": "as-of-ref"},
            },
        }
    )


def test_date_partitions_after_as_of_are_never_opened(tmp_path: Path) -> None:
    root = tmp_path / "labels"
    _write_days(root, "date", _arrivals())
    # Labels that arrive later (day 9) in a file that cannot be read: a replay of day 3 never opens
    # it, the partition `date=2026-03-09` lies after the read's range.
    (root / f"date={_at(9):%Y-%m-%d}").mkdir()
    (root / f"date={_at(9):%Y-%m-%d}" / "part-0.parquet").write_bytes(b"not parquet at all")
    labels = read_labels(_parquet_config(root), since=_at(2), as_of=_at(3))
    assert labels is not None and labels.error is None
    assert _lookup(labels) == [0, 1, None, None]
    source = FileSource(str(root), format="parquet", partitioning="hive")
    frame = source.read(time_column="label_timestamp", start=_at(2), end=labels_read_end(_at(3)))
    assert "skipped_files" not in frame.attrs  # not even tried file by file


def test_other_partition_keys_are_filtered_by_the_parquet_statistics_only(tmp_path: Path) -> None:
    # `arrived=` (the demo's key) is not a date partition the sources prune (date, day, dt, ds):
    # every file is opened, and the label-timestamp filter selects the rows. A damaged file is then
    # opened and skipped (the read goes file by file), never joined.
    root = tmp_path / "labels"
    _write_days(root, "arrived", _arrivals())
    (root / f"arrived={_at(9):%Y-%m-%d}").mkdir()
    (root / f"arrived={_at(9):%Y-%m-%d}" / "part-0.parquet").write_bytes(b"not parquet at all")
    labels = read_labels(_parquet_config(root), since=_at(2), as_of=_at(3))
    assert labels is not None and _lookup(labels) == [0, 1, None, None]
    source = FileSource(str(root), format="parquet", partitioning="hive")
    frame = source.read(time_column="label_timestamp", start=_at(2), end=labels_read_end(_at(3)))
    assert [s["path"].rsplit("/", 2)[-2] for s in frame.attrs["skipped_files"]] == ["arrived=2026-03-09"]


def test_sql_ground_truth_is_read_with_the_range_in_the_where_clause(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'labels.db'}"
    engine = sa.create_engine(url)
    LABELS.assign(label_timestamp=LABELS["label_timestamp"].dt.tz_localize(None)).to_sql(
        "labels", engine, index=False
    )
    engine.dispose()
    config = parse_config(
        {
            "model": {"name": "m", "task": "binary_classification"},
            "columns": {"numerical_features": ["x"], "score": "score", "label_timestamp": "label_timestamp"},
            "sources": {
                "inference_logs": {"type": "memory", "name": "as-of-logs"},
                "ground_truth": {"type": "sql", "url": url, "table": "labels"},
                "reference": {"type": "memory", "name": "as-of-ref"},
            },
        }
    )
    statements: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        statements.append((statement, parameters))

    sa.event.listen(sa.Engine, "before_cursor_execute", record)
    try:
        with pytest.warns(UserWarning, match="no timezone"):
            labels = read_labels(config, since=_at(2, 3), as_of=_at(3, 12))
    finally:
        sa.event.remove(sa.Engine, "before_cursor_execute", record)
    assert labels is not None and _lookup(labels) == [None, 1, 1, None]  # "a" arrived before `since`
    selects = [(s, p) for s, p in statements if s.lstrip().upper().startswith("SELECT") and "labels" in s]
    statement, parameters = selects[-1]
    assert "WHERE labels.label_timestamp >= ? AND labels.label_timestamp < ?" in " ".join(statement.split())
    assert [str(p) for p in parameters] == ["2026-03-02 03:00:00.000000", "2026-03-03 12:00:01.000000"]


def test_arrival_times_read_as_text_are_parsed_and_garbage_never_arrives() -> None:
    # A CSV read without a time filter hands the label timestamps over as text.
    text = LABELS.assign(
        label_timestamp=["2026-03-02T00:00Z", "2026-03-03T12:00Z", "2026-03-04T00:00Z", "soon"]
    )
    labels = Labels.from_frame(text, COLUMNS)
    assert _lookup(labels.as_of(_at(3, 12))) == [0, None, 1, None]
    assert _lookup(labels) == [1, 1, 1, None]  # uncut: "b" is still read, as before


def test_training_rows_use_the_labels_known_when_the_retraining_ran(memory_sources: None) -> None:
    """A retraining during a backfill trains on the labels its run had, not on later ones."""
    from watchkeeper.retraining.data import _labeled_window_rows  # the rows a retraining trains on

    config = _memory_config()
    by_day = {
        day: _labeled_window_rows(config, [_at(2)], as_of=_at(day))["target"].tolist() for day in (2, 3, 4)
    }
    # "a" first as 0, corrected to 1 on day 4; "b" by day 3, "c" at noon on day 3
    assert by_day == {2: [0], 3: [0, 1], 4: [1, 1, 1]}
    assert _labeled_window_rows(config, [_at(2)], as_of=None)["target"].tolist() == [1, 1, 1]
