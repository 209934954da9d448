"""Generated suites know failed requests: outputs are judged on successful requests only.

A failed request (status not one of `columns.ok_statuses`) carries no prediction and no score. Its
share is the serving section's error rate; the suite must not call the window broken for it, in memory
or over partitions, while a successful request without its output still is. Real GX throughout.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from watchkeeper.config import ColumnsConfig
from watchkeeper.partitioned.keys import KeyCounts
from watchkeeper.partitioned.validation import finalize_validation, validate_partition
from watchkeeper.validation import ExpectationSuiteSpec, generate_suite, render_suite, validate_window
from watchkeeper.validation.files import parse_suite
from watchkeeper.validation.generate import null_share_bound
from watchkeeper.verdict import Severity

COLUMNS = ColumnsConfig(numerical_features=("x",), score="score", status="status")
OK = {
    "type": "comparison",
    "column": {"name": "status"},
    "operator": "IN",
    "parameter": ["ok", "200", "success"],
}


def requests(n: int, *, failed: float, seed: int, status_codes: bool = False) -> pd.DataFrame:
    """`n` requests; a share `failed` of them failed and carry neither prediction nor score."""
    rng = np.random.default_rng(seed)
    score = rng.random(n)
    bad = rng.random(n) < failed
    frame = pd.DataFrame(
        {
            "request_id": [f"r{seed}-{i}" for i in range(n)],
            "x": rng.normal(size=n),
            "score": np.where(bad, np.nan, score),
            "prediction": pd.array(np.where(bad, None, (score > 0.5).astype(int)), dtype="Int64"),
            "status": np.where(bad, 500, 200) if status_codes else np.where(bad, "error", "ok"),
        }
    )
    if not status_codes:
        frame["status"] = frame["status"].astype("category")  # as windows come typed
    return frame


@pytest.fixture(scope="module")
def suite() -> ExpectationSuiteSpec:
    # The reference holds a few failed requests too: the ok-row share sets the outputs' window size.
    return generate_suite(
        requests(20_000, failed=0.003, seed=0), columns=COLUMNS, model_name="m", window_rows=2_000
    )


def entries(spec: ExpectationSuiteSpec, column: str) -> list[dict]:
    return [dict(e.kwargs) for e in spec.expectations if e.column == column]


def test_output_expectations_apply_to_successful_requests_only(suite: ExpectationSuiteSpec) -> None:
    assert {e.get("row_condition") is not None for e in entries(suite, "x")} == {False}
    for column in ("score", "prediction"):
        kwargs = entries(suite, column)
        assert kwargs and all(k["row_condition"] == OK for k in kwargs)
    # The condition reads `status`, so a window must have it (a missing one is named, not a GX crash).
    score_null = next(e for e in suite.expectations if e.column == "score" and "mostly" in e.kwargs)
    assert score_null.columns == ("score", "status")
    assert score_null.scope == "status in ok, 200, success"


def test_mostly_is_a_binomial_bound_at_the_window_size(suite: ExpectationSuiteSpec) -> None:
    # No null among 19,938 successful reference requests; windows of 1,994 of them (2,000 rows at the
    # reference's 99.7 % ok share): at most 4 nulls, 0.20 %, floored to 4 decimals.
    score_null = next(e for e in suite.expectations if e.column == "score" and "mostly" in e.kwargs)
    assert score_null.kwargs["mostly"] == 0.9979
    assert "(0 of 19938 rows); at most 0.20% nulls in a healthy window of 1994 rows" in (
        score_null.notes or ""
    )
    # The bound grows with the reference's null rate and shrinks with the window's size.
    assert null_share_bound(0, 17_914, 2_000) == 0.0025
    assert null_share_bound(0, 17_914, 200_000) == 0.00053  # the reference rate bound: 0.039 %
    assert null_share_bound(179, 17_914, 2_000) == 0.021  # a 1 % null rate: up to 2.1 % in a window
    assert null_share_bound(5, 5, 10) == 1.0  # all null in the reference: nothing to expect


def test_the_condition_round_trips_through_the_suite_file(suite: ExpectationSuiteSpec) -> None:
    text = render_suite(suite)
    assert "row_condition: {type: comparison, column: {name: status}, operator: IN, parameter: [ok," in text
    assert "&id" not in text  # every entry reads on its own, no YAML anchors
    assert parse_suite(yaml.safe_load(text)) == suite


@pytest.mark.parametrize("seed", [1, 2, 3])  # three windows with 0.33 % failed requests each
def test_failed_requests_do_not_make_a_window_critical(suite: ExpectationSuiteSpec, seed: int) -> None:
    window = requests(2_000, failed=0.0033, seed=seed)
    assert window["score"].isna().sum() > 2  # more than the old 0.1 % slack allowed
    report = validate_window(window, suite)
    assert [r.message for r in report.failures] == []
    assert report.usable_for_training


def test_a_successful_request_without_output_is_critical_and_says_why(suite: ExpectationSuiteSpec) -> None:
    window = requests(2_000, failed=0.0033, seed=4)
    ok_rows = np.flatnonzero(window["status"].eq("ok").to_numpy())
    window.loc[ok_rows[:40], "score"] = np.nan  # 40 successful requests lost their score
    report = validate_window(window, suite)
    (failed,) = report.failures
    assert failed.severity is Severity.CRITICAL
    assert (failed.type, failed.column, failed.unexpected_count) == (
        "expect_column_values_to_not_be_null",
        "score",
        40,
    )
    n_ok = len(ok_rows)
    assert failed.unexpected_percent == pytest.approx(100 * 40 / n_ok)  # of the successful requests
    assert failed.message == (
        "expect_column_values_to_not_be_null on 'score' (rows where status in ok, 200, success): "
        f"40 of {n_ok} rows ({100 * 40 / n_ok:.2f}%) are null; at most 0.21% allowed"
    )
    assert failed.message in report.findings()[0].message


def test_partitioned_windows_honour_the_condition(suite: ExpectationSuiteSpec) -> None:
    window = requests(2_000, failed=0.0033, seed=5)
    ok_rows = np.flatnonzero(window["status"].eq("ok").to_numpy())
    window.loc[ok_rows[:40], "score"] = np.nan
    in_memory = validate_window(window, suite)
    state = None
    for part in np.array_split(np.arange(len(window)), 3):
        piece = validate_partition(window.iloc[part], suite)
        state = piece if state is None else state.merge(piece)
    keys = {"request_id": KeyCounts(np.array([], dtype=np.uint64), 0, 0, len(window))}
    merged = finalize_validation(suite, state, len(window), keys)
    assert [r.to_dict() for r in merged.results] == [r.to_dict() for r in in_memory.results]
    # And with failed requests alone, nothing fails over partitions either.
    clean = requests(2_000, failed=0.0033, seed=6)
    state = validate_partition(clean.iloc[:1000], suite).merge(validate_partition(clean.iloc[1000:], suite))
    assert finalize_validation(suite, state, len(clean), keys).failures == ()


def test_http_status_codes_are_matched_as_numbers() -> None:
    reference = requests(5_000, failed=0.003, seed=7, status_codes=True)
    spec = generate_suite(reference, columns=COLUMNS, model_name="m", window_rows=500)
    conditions = [e.kwargs["row_condition"] for e in spec.expectations if "row_condition" in e.kwargs]
    assert conditions and all(c["parameter"] == [200] for c in conditions)  # "ok", "success" dropped
    report = validate_window(requests(500, failed=0.01, seed=8, status_codes=True), spec)
    assert report.failures == ()


def test_a_window_without_the_status_column_names_it(suite: ExpectationSuiteSpec) -> None:
    report = validate_window(requests(500, failed=0.0, seed=9).drop(columns=["status"]), suite)
    messages = {r.message for r in report.failures}
    assert "expect_column_values_to_not_be_null: column 'status' is missing from the window" in messages
    assert all(r.error is None for r in report.results)
