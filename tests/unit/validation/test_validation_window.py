"""Validating a window: per-expectation results, the report's figures and findings, and bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from watchkeeper.validation import (
    ExpectationSpec,
    ExpectationSuiteSpec,
    ValidationReport,
    validate_window,
)
from watchkeeper.validation import gx as validation
from watchkeeper.verdict import SectionReport, Severity

TINY = ExpectationSuiteSpec(
    name="tiny",
    expectations=(
        ExpectationSpec(
            "expect_column_values_to_be_between", {"column": "a", "min_value": 0, "max_value": 10}
        ),
        ExpectationSpec(
            "expect_column_values_to_be_in_set", {"column": "c", "value_set": ["x", "y"]}, Severity.WARNING
        ),
        ExpectationSpec("expect_column_values_to_not_be_null", {"column": "a"}, Severity.WARNING),
    ),
)


def test_unexpected_percent_is_over_all_rows() -> None:
    # 4 rows, one null and one out of range: GX says 1 of 3 non-null values (33 %); over all rows it
    # is 1 of 4 (25 %).
    window = pd.DataFrame({"a": [1.0, 2.0, np.nan, 50.0], "c": ["x", "y", "z", None]})
    report = validate_window(window, TINY)
    between, in_set, not_null = report.results
    assert (between.success, between.unexpected_count, between.unexpected_percent) == (False, 1, 25.0)
    assert between.unexpected_sample == (50.0,)
    assert (in_set.unexpected_count, in_set.unexpected_percent, in_set.unexpected_sample) == (1, 25.0, ("z",))
    # The null check's own sample would be all nulls: none is kept.
    assert (not_null.unexpected_count, not_null.unexpected_percent, not_null.unexpected_sample) == (
        1,
        25.0,
        (),
    )
    gx = json.loads(report.gx_result_json())
    gx_between = next(r for r in gx["results"] if r["expectation_config"]["type"].endswith("_between"))
    assert gx_between["result"]["unexpected_percent"] == pytest.approx(100 / 3)
    assert gx_between["expectation_config"]["meta"]["watchkeeper"] == {"index": 0, "severity": "critical"}


def test_report_is_a_section_report_with_project_figure_names() -> None:
    window = pd.DataFrame({"a": [1.0, 2.0, np.nan, 50.0], "c": ["x", "y", "z", None]})
    report = validate_window(window, TINY)
    assert isinstance(report, SectionReport)
    assert report.figures() == {
        "evaluated": 3.0,
        "failed": 3.0,
        "critical_failures": 1.0,
        "warning_failures": 2.0,
        "success_percent": 0.0,
    }
    findings = report.findings()
    assert [(f.check, f.severity) for f in findings] == [
        ("validation", Severity.CRITICAL),
        ("validation", Severity.WARNING),
    ]
    assert findings[0].message == (
        "1 critical expectation(s) of suite 'tiny' failed on 4 rows (not usable for retraining): "
        "expect_column_values_to_be_between on 'a': 1 of 4 rows (25.00%) outside [0, 10], e.g. 50."
    )
    assert not report.usable_for_training
    json.dumps(report.to_dict(), allow_nan=False)  # no NaN, no numpy scalars


def test_warnings_alone_keep_the_window_usable() -> None:
    window = pd.DataFrame({"a": [1.0, 2.0, 3.0], "c": ["x", "y", "new"]})
    report = validate_window(window, TINY)
    assert [f.severity for f in report.findings()] == [Severity.WARNING]
    assert report.usable_for_training


def test_table_lists_failures_first() -> None:
    window = pd.DataFrame({"a": [1.0, 2.0, 3.0], "c": ["x", "y", "new"]})
    table = validate_window(window, TINY).to_table()
    assert [(row["status"], row["expectation"]) for row in table] == [
        ("FAILED", "expect_column_values_to_be_in_set"),
        ("ok", "expect_column_values_to_be_between"),
        ("ok", "expect_column_values_to_not_be_null"),
    ]
    assert table[0] == {
        "status": "FAILED",
        "severity": "warning",
        "expectation": "expect_column_values_to_be_in_set",
        "column": "c",
        "unexpected_count": 1,
        "unexpected_percent": 33.3333,
        "sample": "'new'",
        "details": (
            "expect_column_values_to_be_in_set on 'c': 1 of 3 rows (33.33%) with values outside the "
            "expected set, e.g. 'new'"
        ),
    }


def test_missing_column_is_a_failed_expectation_not_a_crash(
    suite: ExpectationSuiteSpec, reference: pd.DataFrame
) -> None:
    report = validate_window(reference.drop(columns=["score"]), suite)
    failed = {(r.type, r.column): r.message for r in report.failures}
    assert failed == {
        ("expect_table_columns_to_match_set", None): (
            "expect_table_columns_to_match_set: column(s) 'score' missing from the window"
        ),
        (
            "expect_column_values_to_not_be_null",
            "score",
        ): "expect_column_values_to_not_be_null: column 'score' is missing from the window",
        (
            "expect_column_values_to_be_between",
            "score",
        ): "expect_column_values_to_be_between: column 'score' is missing from the window",
    }
    assert report.missing_columns == ("score",)
    gx = json.loads(report.gx_result_json())
    assert len(gx["results"]) == 14  # GX ran everything else
    assert [(e["index"], e["type"]) for e in gx["meta"]["watchkeeper"]["not_run"]] == [
        (14, "expect_column_values_to_not_be_null"),
        (15, "expect_column_values_to_be_between"),
    ]
    assert report.evaluated == 16 and report.critical_failures == 3
    assert not report.usable_for_training


def test_zero_rows_is_a_clear_report(suite: ExpectationSuiteSpec, reference: pd.DataFrame) -> None:
    report = validate_window(reference.iloc[:0], suite)
    assert report.rows == 0
    assert all(r.success is None for r in report.results)
    # Nothing evaluated: no success_percent rather than a made-up 0 % or 100 %.
    assert report.figures() == {
        "evaluated": 0.0,
        "failed": 0.0,
        "critical_failures": 0.0,
        "warning_failures": 0.0,
    }
    assert [(f.severity, f.message) for f in report.findings()] == [
        (
            Severity.WARNING,
            "The window has no rows: none of the 16 expectations of suite 'fixture-model' could be evaluated.",
        )
    ]
    assert not report.usable_for_training
    assert {row["status"] for row in report.to_table()} == {"not evaluated"}
    json.dumps(report.to_dict(), allow_nan=False)
    gx = json.loads(report.gx_result_json())
    assert gx["results"] == []
    assert gx["meta"]["watchkeeper"]["rows"] == 0
    assert len(gx["meta"]["watchkeeper"]["not_run"]) == 16


def test_gx_suite_is_built_once_per_suite(suite: ExpectationSuiteSpec, reference: pd.DataFrame) -> None:
    validate_window(reference, suite)
    runtime = validation._get_runtime()
    groups = validation.column_groups(suite, range(len(suite.expectations)))
    assert len(groups) > 1  # one GX suite per group of entries reading the same columns
    keys = [key for key in runtime.suites if key[0] == suite.fingerprint]
    assert sorted(key[1] for key in keys) == sorted(groups.values())
    built = {key: runtime.suites[key] for key in keys}
    # An equal spec loaded from elsewhere hits the same cache entries.
    again = ExpectationSuiteSpec(name=suite.name, expectations=suite.expectations, source="elsewhere.yaml")
    report = validate_window(reference.iloc[:100], again)
    assert all(runtime.suites[key] is suite_ for key, suite_ in built.items())
    assert report.rows == 100


def test_no_window_data_is_kept_after_validation(
    suite: ExpectationSuiteSpec, reference: pd.DataFrame
) -> None:
    """GX's engine caches every metric it resolves (a boolean mask per column expectation): they are
    dropped after each window, so a long backfill holds none of an earlier window's masks."""
    report = validate_window(reference, suite)
    assert report.rows == len(reference) and report.results
    assert len(validation._get_runtime().engine._metric_cache) == 0


def test_report_is_frozen(suite: ExpectationSuiteSpec, reference: pd.DataFrame) -> None:
    report = validate_window(reference.iloc[:10], suite)
    assert isinstance(report, ValidationReport)
    with pytest.raises(AttributeError):
        report.rows = 3  # type: ignore[misc]
