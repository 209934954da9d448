"""Suite generation from reference data, and writing suites without clobbering reviewed ones."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from watchkeeper.config import ColumnsConfig
from watchkeeper.validation import (
    ExpectationSuiteSpec,
    SuiteError,
    SuiteExistsError,
    default_suite_path,
    estimate_window_rows,
    generate_suite,
    load_suite,
    parse_suite,
    render_suite,
    validate_window,
    write_suite,
)
from watchkeeper.verdict import Severity


def entry(spec: ExpectationSuiteSpec, etype: str, column: str | None = None) -> tuple[dict, Severity]:
    found = [e for e in spec.expectations if e.type == etype and e.kwargs.get("column") == column]
    assert len(found) == 1, f"{etype} on {column}: {len(found)} entries"
    kwargs = {k: v for k, v in found[0].kwargs.items() if k not in ("column", "type_list")}
    return kwargs, found[0].severity


def test_generated_suite_has_every_kind_of_check(suite: ExpectationSuiteSpec) -> None:
    assert suite.name == "fixture-model"
    assert len(suite.expectations) == 16
    assert entry(suite, "expect_table_columns_to_match_set") == (
        {
            "column_set": ["request_id", "age", "income", "region", "prediction", "score"],
            "exact_match": False,
        },
        Severity.CRITICAL,
    )
    # 400 rows per window within a factor 3.
    assert entry(suite, "expect_table_row_count_to_be_between") == (
        {"min_value": 133, "max_value": 1200},
        Severity.WARNING,
    )
    assert entry(suite, "expect_column_values_to_not_be_null", "request_id") == ({}, Severity.CRITICAL)
    assert entry(suite, "expect_column_values_to_be_unique", "request_id") == ({}, Severity.WARNING)


def test_numerical_ranges_come_from_quantiles_with_a_margin(suite: ExpectationSuiteSpec) -> None:
    # age: quantiles 0.001/0.999 are 20 and 79; ±25 % of the span 59 → [5.25, 93.75], integers
    # outward; 1 % of rows may fall outside (the far tail of a drifted feature is drift, not bad data).
    assert entry(suite, "expect_column_values_to_be_between", "age") == (
        {"min_value": 5, "max_value": 94, "mostly": 0.99},
        Severity.CRITICAL,
    )
    # income (non-null 1010..4990): quantiles 1013.89 and 4986.11, ±993.055 → 20.835 / 5979.165,
    # rounded outward to 4 significant digits.
    assert entry(suite, "expect_column_values_to_be_between", "income") == (
        {"min_value": 20.83, "max_value": 5980.0, "mostly": 0.99},
        Severity.CRITICAL,
    )
    # A probability is bounded by [0, 1] whatever the reference shows.
    assert entry(suite, "expect_column_values_to_be_between", "score") == (
        {"min_value": 0.0, "max_value": 1.0},
        Severity.CRITICAL,
    )
    kwargs, _ = entry(suite, "expect_column_values_to_be_in_type_list", "age")
    assert kwargs == {}
    assert "int64" in suite.expectations[4].kwargs["type_list"]


def test_not_null_mostly_follows_the_reference_null_rate(suite: ExpectationSuiteSpec) -> None:
    # 10 nulls in 400 reference rows: the rate is at most 5.93 % (Clopper–Pearson, 0.999), and a
    # 400-row window at that rate holds at most 39 nulls (binomial 0.999 quantile): 1 - 39/400.
    assert entry(suite, "expect_column_values_to_not_be_null", "income") == (
        {"mostly": 0.9025},
        Severity.CRITICAL,
    )
    # Never null in 400 rows: the rate is still only known to be below 1.71 %, so up to 16 of 400.
    assert entry(suite, "expect_column_values_to_not_be_null", "age") == (
        {"mostly": 0.96},
        Severity.CRITICAL,
    )


def test_value_sets_for_categories_and_predicted_labels(suite: ExpectationSuiteSpec) -> None:
    assert entry(suite, "expect_column_values_to_be_in_set", "region") == (
        {"value_set": ["e", "n", "s", "w"]},
        Severity.WARNING,
    )
    assert entry(suite, "expect_column_values_to_be_in_set", "prediction") == (
        {"value_set": [0, 1]},
        Severity.CRITICAL,
    )


def test_generated_suite_passes_on_its_reference(
    suite: ExpectationSuiteSpec, reference: pd.DataFrame
) -> None:
    report = validate_window(reference, suite)
    assert [r.message for r in report.failures] == []
    assert report.figures() == {
        "evaluated": 16.0,
        "failed": 0.0,
        "critical_failures": 0.0,
        "warning_failures": 0.0,
        "success_percent": 100.0,
    }
    assert report.findings() == []
    assert report.usable_for_training


def test_generated_suite_fails_on_broken_copy(suite: ExpectationSuiteSpec, reference: pd.DataFrame) -> None:
    broken = reference.copy()
    broken.loc[:99, "income"] = np.nan  # a broken join: 100 more nulls (3 of those rows were null)
    broken.loc[200:209, "age"] = 1000  # out of range
    broken.loc[5, "region"] = "mars"  # unseen category
    report = validate_window(broken, suite)

    failed = {(r.type, r.column): r for r in report.failures}
    assert set(failed) == {
        ("expect_column_values_to_not_be_null", "income"),
        ("expect_column_values_to_be_between", "age"),
        ("expect_column_values_to_be_in_set", "region"),
    }
    nulls = failed["expect_column_values_to_not_be_null", "income"]
    assert (nulls.unexpected_count, nulls.unexpected_percent) == (107, pytest.approx(26.75))
    assert nulls.severity is Severity.CRITICAL
    out = failed["expect_column_values_to_be_between", "age"]
    assert (out.unexpected_count, out.unexpected_percent, out.unexpected_sample) == (10, 2.5, (1000,))
    unseen = failed["expect_column_values_to_be_in_set", "region"]
    assert (unseen.unexpected_count, unseen.unexpected_sample, unseen.severity) == (
        1,
        ("mars",),
        Severity.WARNING,
    )

    assert report.critical_failures == 2 and report.warning_failures == 1
    assert report.success_percent == pytest.approx(100 * 13 / 16)
    assert [f.severity for f in report.findings()] == [Severity.CRITICAL, Severity.WARNING]
    assert (
        "expect_column_values_to_not_be_null on 'income': 107 of 400 rows (26.75%) are null; "
        "at most 9.75% allowed" in report.findings()[0].message
    )
    assert not report.usable_for_training


def test_tails_beyond_the_quantiles_are_tolerated() -> None:
    # 1000 values 0..999 and one outlier at 1e6: the outlier is beyond the widened quantile range, so
    # `mostly` allows twice the reference's own share outside (2/1001) plus the 1 % tolerance.
    ref = pd.DataFrame({"request_id": range(1001), "x": np.append(np.arange(1000.0), 1e6)})
    spec = generate_suite(
        ref, columns=ColumnsConfig(numerical_features=("x",), prediction=None), model_name="m"
    )
    kwargs, _ = entry(spec, "expect_column_values_to_be_between", "x")
    assert kwargs["mostly"] == 0.988  # floor(1 - 2/1001 - 0.01, 4 decimals)
    assert validate_window(ref, spec).failures == ()


def test_window_rows_estimated_from_timestamps(reference: pd.DataFrame) -> None:
    # 400 rows one minute apart span 399 minutes: about 72 rows per 72 minutes.
    assert estimate_window_rows(reference, "timestamp", timedelta(minutes=72)) == 72
    assert estimate_window_rows(reference, "nope", timedelta(days=1)) is None
    assert estimate_window_rows(reference.iloc[:1], "timestamp", timedelta(days=1)) is None
    assert default_suite_path("credit-risk") == Path("configs/expectations/credit-risk.yaml")


def test_reference_missing_a_configured_feature_is_an_error(reference: pd.DataFrame) -> None:
    cols = ColumnsConfig(numerical_features=("age", "tenure"))
    with pytest.raises(SuiteError, match=r"lacks configured feature column\(s\): \['tenure'\]"):
        generate_suite(reference, columns=cols, model_name="m")


def test_without_window_rows_only_emptiness_is_checked(
    reference: pd.DataFrame, columns: ColumnsConfig
) -> None:
    spec = generate_suite(reference, columns=columns, model_name="m")
    assert entry(spec, "expect_table_row_count_to_be_between")[0] == {"min_value": 1, "max_value": None}


def test_regression_prediction_gets_a_range_not_a_value_set() -> None:
    # A float prediction with many distinct values is a regression output: range, warning.
    ref = pd.DataFrame({"request_id": range(200), "x": np.arange(200.0), "prediction": np.arange(200) / 7})
    spec = generate_suite(ref, columns=ColumnsConfig(numerical_features=("x",)), model_name="m")
    kwargs, severity = entry(spec, "expect_column_values_to_be_between", "prediction")
    assert severity is Severity.WARNING
    assert kwargs["min_value"] == 0.0  # the reference is never negative, so the margin stops at 0


def test_rendered_suite_round_trips(suite: ExpectationSuiteSpec) -> None:
    text = render_suite(suite)
    assert text.startswith("# Great Expectations suite for model 'fixture-model'")
    again = parse_suite(yaml.safe_load(text))
    assert again == suite
    assert again.fingerprint == suite.fingerprint


def test_write_suite_never_overwrites_a_reviewed_suite(suite: ExpectationSuiteSpec, tmp_path) -> None:
    path = tmp_path / "expectations" / "fixture-model.yaml"
    created = write_suite(suite, path)
    assert created.startswith("--- /dev/null\n")
    assert load_suite(path) == suite
    assert write_suite(suite, path) == ""  # regenerating an unchanged suite changes nothing

    reviewed = path.read_text().replace("mostly: 0.9025", "mostly: 0.9")
    assert reviewed != path.read_text()
    path.write_text(reviewed)
    with pytest.raises(SuiteExistsError) as info:
        write_suite(suite, path)
    assert "-    mostly: 0.9\n+    mostly: 0.9025\n" in info.value.diff
    assert path.read_text() == reviewed  # untouched

    forced = write_suite(suite, path, force=True)
    assert forced == info.value.diff
    assert load_suite(path) == suite


_WORDS = st.sampled_from(["a", "b", "c", "d"])


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    values=st.lists(
        st.one_of(st.none(), st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)),
        min_size=1,
        max_size=60,
    ),
    words=st.lists(_WORDS, min_size=1, max_size=60),
)
def test_any_reference_passes_its_own_suite(values: list[float | None], words: list[str]) -> None:
    # Whatever the reference looks like (nulls, ties, constants, outliers), the suite generated from it
    # must accept it: the margins, `mostly` and value sets are all derived to include it.
    n = min(len(values), len(words))
    ref = pd.DataFrame(
        {
            "request_id": np.arange(n),
            "x": pd.array(values[:n], dtype="Float64").astype("float64"),
            "w": np.array(words[:n], dtype=object),
        }
    )
    cols = ColumnsConfig(numerical_features=("x",), categorical_features=("w",), prediction=None)
    spec = generate_suite(ref, columns=cols, model_name="prop", window_rows=n)
    report = validate_window(ref, spec)
    assert [r.message for r in report.failures] == []
