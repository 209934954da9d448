"""Window boundaries, label joining and coverage: late labels are counted, never dropped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from watchkeeper.config import ColumnsConfig, parse_config
from watchkeeper.sources import register_memory_frame, unregister_memory_frame
from watchkeeper.verdict import Severity
from watchkeeper.windows import DataError, join_labels, load_window, window_bounds, windows_between

DAY = timedelta(days=1)
COLUMNS = ColumnsConfig(numerical_features=("x",), score="score")


def test_window_bounds_default_to_last_complete_window() -> None:
    now = datetime(2026, 3, 5, 13, 30, tzinfo=UTC)
    assert window_bounds(None, DAY, now=now) == (
        datetime(2026, 3, 4, tzinfo=UTC),
        datetime(2026, 3, 5, tzinfo=UTC),
    )
    # 15-minute windows align on the quarter hour.
    assert window_bounds(None, timedelta(minutes=15), now=now)[1] == datetime(2026, 3, 5, 13, 30, tzinfo=UTC)


def test_window_bounds_explicit_end_and_naive_input() -> None:
    start, end = window_bounds(datetime(2026, 3, 5), DAY)  # naive: taken as UTC
    assert (start, end) == (datetime(2026, 3, 4, tzinfo=UTC), datetime(2026, 3, 5, tzinfo=UTC))


def test_windows_between_covers_ends_in_range() -> None:
    got = windows_between(datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 4, tzinfo=UTC), DAY)
    assert [end.day for _, end in got] == [2, 3, 4]


def test_join_labels_counts_coverage_and_duplicates() -> None:
    logs = pd.DataFrame({"request_id": ["a", "b", "c", "c"], "x": [1.0, 2.0, 3.0, 3.0]})
    labels = pd.DataFrame(
        {
            "request_id": ["a", "c", "a", "zzz"],  # "a" twice (a correction), "zzz" unknown
            "target": [0, 1, 1, 0],
        }
    )
    joined, labeled, dup = join_labels(logs, labels, COLUMNS)
    # The later label for "a" wins; "b" has none yet; the duplicate "c" row gets no second label.
    assert joined["target"].iloc[0] == 1 and joined["target"].iloc[2] == 1
    assert np.isnan(joined["target"].iloc[1]) and np.isnan(joined["target"].iloc[3])
    assert labeled == 2
    assert dup == 1
    assert len(joined) == 4  # nothing dropped


def test_join_without_labels_keeps_every_row() -> None:
    logs = pd.DataFrame({"request_id": ["a", "b"], "x": [1.0, 2.0]})
    joined, labeled, _ = join_labels(logs, None, COLUMNS)
    assert len(joined) == 2 and labeled == 0 and joined["target"].isna().all()


def _config(tmp_path: Path) -> object:
    return parse_config(
        {
            "model": {"name": "m", "task": "binary_classification"},
            "columns": {
                "numerical_features": ["x"],
                "categorical_features": ["c"],
                "score": "score",
                "prediction": None,
            },
            "sources": {
                "inference_logs": {"type": "memory", "name": "logs"},
                "ground_truth": {"type": "memory", "name": "labels"},
                "reference": {"type": "memory", "name": "ref"},
            },
        }
    )


@pytest.fixture
def registered() -> object:
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    logs = pd.DataFrame(
        {
            "request_id": ["a", "b", "c", "d"],
            "timestamp": [t0 + timedelta(hours=h) for h in (1, 2, 3, 30)],  # "d" is the next day
            "x": [1.0, 2.0, 3.0, 4.0],
            "c": [1, 2, None, 1],  # categories written as numbers become strings
            "score": [0.1, 0.9, 0.5, 0.2],
        }
    )
    register_memory_frame("logs", logs)
    register_memory_frame("labels", pd.DataFrame({"request_id": ["a", "c", "d"], "target": [0, 1, 1]}))
    yield
    for name in ("logs", "labels"):
        unregister_memory_frame(name)


def test_load_window_joins_and_reports(tmp_path: Path, registered: object) -> None:
    config = _config(tmp_path)
    data = load_window(config, datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 2, tzinfo=UTC))  # type: ignore[arg-type]
    assert data.frame["request_id"].tolist() == ["a", "b", "c"]
    assert data.report.rows == 3 and data.report.labeled == 2
    assert data.report.label_coverage == pytest.approx(2 / 3)
    # Categories are strings whatever the source held (ints here), missing stays missing; typed as
    # `category`, so the strings are held once per category.
    assert data.frame["c"].dtype == "category"
    assert data.frame["c"].astype(object).where(data.frame["c"].notna(), None).tolist() == ["1", "2", None]
    assert data.report.findings() == []


def test_empty_window_is_a_no_data_warning(tmp_path: Path, registered: object) -> None:
    config = _config(tmp_path)
    data = load_window(config, datetime(2026, 4, 1, tzinfo=UTC), datetime(2026, 4, 2, tzinfo=UTC))  # type: ignore[arg-type]
    assert data.report.rows == 0
    (finding,) = data.report.findings()
    assert finding.severity is Severity.WARNING and "no data" in finding.message
    assert data.report.figures()["no_data"] == 1.0


def test_wrong_column_type_names_the_column(tmp_path: Path) -> None:
    logs = pd.DataFrame(
        {
            "request_id": ["a"],
            "timestamp": [datetime(2026, 3, 1, 1, tzinfo=UTC)],
            "x": ["not a number"],
            "c": ["u"],
            "score": [0.5],
        }
    )
    register_memory_frame("logs", logs)
    try:
        with pytest.raises(DataError, match=r"expected numeric column\(s\), got x \((object|string)\)"):
            load_window(_config(tmp_path), datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 2, tzinfo=UTC))  # type: ignore[arg-type]
    finally:
        unregister_memory_frame("logs")


@pytest.mark.parametrize(
    "ids",
    [
        ["a", "b", "a", None, "c", None, "b"],  # strings with repeats and missing ids
        [3, 1, 3, 3, 2],  # integer ids
        ["x"],  # a single row
    ],
)
@pytest.mark.parametrize("keep", ["first", "last"])
def test_repeated_ids_match_pandas_duplicated(ids: list[object], keep: str) -> None:
    from watchkeeper.windows import _repeated

    series = pd.Series(ids)
    expected = series.duplicated(keep=keep).tolist()  # type: ignore[arg-type]
    assert _repeated(series, keep=keep).tolist() == expected  # type: ignore[arg-type]
    if series.dtype == object:  # and as sources return strings now: Arrow-backed
        assert _repeated(series.astype("string[pyarrow]"), keep=keep).tolist() == expected  # type: ignore[arg-type]


def test_labels_join_across_id_types_falls_back_to_pandas_matching() -> None:
    # Integer ids in the logs, the same ids as floats in the ground truth: pandas matches 1 and 1.0.
    logs = pd.DataFrame({"request_id": [1, 2, 3], "x": [0.0, 0.0, 0.0]})
    labels = pd.DataFrame({"request_id": [1.0, 3.0], "target": [1, 0]})
    joined, labeled, _ = join_labels(logs, labels, COLUMNS)
    assert labeled == 2
    assert (
        joined["target"].iloc[0] == 1 and joined["target"].iloc[2] == 0 and np.isnan(joined["target"].iloc[1])
    )
