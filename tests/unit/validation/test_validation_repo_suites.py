"""Every suite committed in `configs/expectations/` loads, and runs on a fixture window built from it.

The fixture is synthesized from the suite itself: a window that satisfies each expectation of the
kinds `generate_suite` writes (columns, row count, nulls, uniqueness, dtypes, ranges, value sets).
Expectations of other kinds, added by a reviewer, must at least run without GX raising. A copy with
nulls in every column a critical not-null expectation guards must then fail critically (a broken
upstream join must page someone). With no suite committed, the tests skip.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from watchkeeper.validation import ExpectationSuiteSpec, load_suite, validate_window
from watchkeeper.verdict import Severity

SUITES_DIR = Path(__file__).resolve().parents[3] / "configs" / "expectations"
SUITES = sorted(SUITES_DIR.glob("*.yaml"))
SYNTHESIZED = {
    "expect_table_columns_to_match_set",
    "expect_table_row_count_to_be_between",
    "expect_column_values_to_not_be_null",
    "expect_column_values_to_be_unique",
    "expect_column_values_to_be_in_type_list",
    "expect_column_values_to_be_between",
    "expect_column_values_to_be_in_set",
}
_NUMERIC_NAMES = ("int", "uint", "float", "Int64Dtype", "Float64Dtype")

suite_params = [pytest.param(p, id=p.stem) for p in SUITES] or [
    pytest.param(None, marks=pytest.mark.skip(reason=f"no suites in {SUITES_DIR}"), id="no-suites")
]


def _rows(spec: ExpectationSuiteSpec) -> int:
    n = 200
    for exp in spec.expectations:
        if exp.type == "expect_table_row_count_to_be_between":
            lo, hi = exp.kwargs.get("min_value"), exp.kwargs.get("max_value")
            n = max(n, int(lo or 0))
            n = min(n, int(hi)) if hi is not None else n
    return max(n, 1)


def conforming_window(spec: ExpectationSuiteSpec) -> pd.DataFrame:
    """A window that each synthesizable expectation of `spec` accepts."""
    n = _rows(spec)
    by_column: dict[str, dict[str, dict[str, Any]]] = {}
    for exp in spec.expectations:
        if exp.type == "expect_table_columns_to_match_set":
            for col in exp.kwargs.get("column_set") or []:
                by_column.setdefault(col, {})
        elif exp.column is not None:
            by_column.setdefault(exp.column, {})[exp.type] = dict(exp.kwargs)

    data: dict[str, Any] = {}
    for col, checks in by_column.items():
        value_set = checks.get("expect_column_values_to_be_in_set", {}).get("value_set")
        between = checks.get("expect_column_values_to_be_between")
        types = checks.get("expect_column_values_to_be_in_type_list", {}).get("type_list") or []
        numeric = any(t.startswith(_NUMERIC_NAMES) for t in types)
        if value_set:
            values: Any = np.resize(np.array(value_set, dtype=object), n)
            if all(isinstance(v, int | float) and not isinstance(v, bool) for v in value_set):
                values = values.astype("float64" if any(isinstance(v, float) for v in value_set) else "int64")
        elif between is not None:
            lo, hi = between.get("min_value"), between.get("max_value")
            lo = float(lo) if lo is not None else (float(hi) - 100.0 if hi is not None else 0.0)
            hi = float(hi) if hi is not None else lo + 100.0
            values = np.linspace(lo, hi, n)
            if isinstance(between.get("min_value"), int) and isinstance(between.get("max_value"), int):
                values = np.clip(np.round(values), math.ceil(lo), math.floor(hi)).astype("int64")
        elif numeric:
            values = np.arange(n, dtype="float64")
        else:
            values = np.array([f"{col}-{i}" for i in range(n)], dtype=object)  # unique, never null
        data[col] = values
    # A column read only by row conditions (the status of successful requests): every row selected.
    for exp in spec.expectations:
        condition = exp.kwargs.get("row_condition") or {}
        name = (condition.get("column") or {}).get("name")
        if name and name not in data and condition.get("operator") == "IN":
            data[name] = np.full(n, condition["parameter"][0], dtype=object)
    return pd.DataFrame(data)


@pytest.mark.parametrize("path", suite_params)
def test_committed_suite_passes_on_a_conforming_window(path: Path) -> None:
    spec = load_suite(path)
    report = validate_window(conforming_window(spec), spec)
    errors = [(r.index, r.type, r.error) for r in report.results if r.error]
    assert errors == [], "GX could not evaluate these expectations"
    failed = [(r.index, r.message) for r in report.results if r.failed and r.type in SYNTHESIZED]
    assert failed == []
    assert report.evaluated == len(spec.expectations)


@pytest.mark.parametrize("path", suite_params)
def test_committed_suite_catches_a_broken_join(path: Path) -> None:
    spec = load_suite(path)
    guarded = [
        e.column
        for e in spec.expectations
        if e.type == "expect_column_values_to_not_be_null" and e.severity is Severity.CRITICAL and e.column
    ]
    if not guarded:
        pytest.skip(f"{path.name} has no critical not-null expectation")
    window = conforming_window(spec)
    for col in guarded:
        window[col] = pd.Series([None] * len(window), dtype=object)
    report = validate_window(window, spec)
    nulls = {r.column for r in report.failures if r.type == "expect_column_values_to_not_be_null"}
    assert nulls == set(guarded)
    assert report.critical_failures >= len(guarded)
    assert not report.usable_for_training
