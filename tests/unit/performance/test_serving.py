"""Serving metrics on a tiny frame with exact expected values."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from watchkeeper.config import ColumnsConfig
from watchkeeper.performance.grouping import group_by_version
from watchkeeper.performance.serving import compute_serving_metrics
from watchkeeper.verdict import SectionReport, Severity

COLS = ColumnsConfig(latency_ms="latency_ms", status="status", model_version="model_version")
START = datetime(2026, 1, 1, tzinfo=UTC)
END = datetime(2026, 1, 1, 0, 10, tzinfo=UTC)  # a 10-minute window: 600 s


def _frame() -> pd.DataFrame:
    ts = pd.to_datetime(
        [
            "2026-01-01T00:00:10Z",
            "2026-01-01T00:00:20Z",
            "2026-01-01T00:00:30Z",
            "2026-01-01T00:05:00Z",
            "2026-01-01T00:09:59Z",
        ]
    )
    return pd.DataFrame(
        {
            "request_id": list("abcde"),
            "timestamp": ts,
            "latency_ms": [10.0, 20.0, 30.0, 40.0, np.nan],
            "status": ["ok", 200, "500", "ok", None],  # 200 (an int) is ok like "200"; None is an error
            "model_version": ["v1", "v1", "v2", "v2", "v2"],
        }
    )


def test_serving_figures_exact() -> None:
    report = compute_serving_metrics(_frame(), columns=COLS, window_start=START, window_end=END)
    assert isinstance(report, SectionReport)
    f = report.figures()
    assert f["request_count"] == 5
    assert f["throughput_rps"] == pytest.approx(5 / 600)
    assert f["peak_minute_rps"] == pytest.approx(3 / 60)  # three requests in minute 00:00
    assert f["latency_p50_ms"] == pytest.approx(25.0)  # NaN latency left out, counted below
    assert f["latency_p90_ms"] == pytest.approx(37.0)
    assert f["latency_p99_ms"] == pytest.approx(39.7)
    assert f["latency_max_ms"] == 40.0
    assert f["error_rate"] == pytest.approx(2 / 5)
    assert f["error_rate.500"] == pytest.approx(1 / 5)
    assert f["error_rate.missing"] == pytest.approx(1 / 5)
    assert f["version.v1.error_rate"] == 0.0
    assert f["version.v2.request_count"] == 3
    assert f["version.v2.latency_max_ms"] == 40.0
    assert report.overall.latency_missing == 1
    assert report.findings() == []
    json.dumps(report.to_dict(), allow_nan=False)
    assert "| latency p95 (ms) |" in report.to_markdown()


def test_empty_window_and_missing_columns() -> None:
    empty = _frame().iloc[:0]
    report = compute_serving_metrics(empty, columns=COLS, window_start=START, window_end=END)
    assert report.figures()["request_count"] == 0
    assert [f.severity for f in report.findings()] == [Severity.WARNING]
    bare = compute_serving_metrics(
        _frame()[["request_id", "timestamp"]], columns=COLS, window_start=START, window_end=END
    )
    assert "latency_p95_ms" not in bare.figures() and "error_rate" not in bare.figures()
    assert len(bare.notes) == 2
    status_only = compute_serving_metrics(
        _frame()[["status"]], columns=COLS, window_start=START, window_end=END
    )
    assert status_only.figures() == {
        "request_count": 5.0,
        "throughput_rps": pytest.approx(5 / 600),
        "error_rate": pytest.approx(2 / 5),
        "error_rate.500": pytest.approx(1 / 5),
        "error_rate.missing": pytest.approx(1 / 5),
    }


def test_versions_that_read_the_same_are_one_group() -> None:
    # A version column mixing 3 and "3" (two sources, one written as text) is one version: no row
    # of either spelling may drop out of the per-version figures.
    frame = pd.DataFrame({"v": pd.Series([3, "3", None, 3, "2"], dtype=object)})
    groups = {name: rows.tolist() for name, rows in group_by_version(frame, "v")}
    assert groups == {"3": [0, 1, 3], "2": [4], "unknown": [2]}
    assert list(groups) == ["3", "2", "unknown"]  # first appearance, unknown last
