"""Great Expectations over partitions: every partition validated by GX, the results merged.

`validate_partition` runs the suite on one partition with the same GX runtime as a window in memory
(`watchkeeper.validation.gx`), except the expectations that need the whole window. Per expectation
it keeps GX's counts (rows, nulls, unexpected rows), the first unexpected values, and GX's own
success. `SuiteState.merge` adds counts and keeps samples in partition order. `finalize_validation`
decides every expectation on the merged state:

- column map expectations (``not_be_null``, ``be_between``, ``be_in_set``, …): GX's rule on the
  merged counts, the unexpected share of non-null values against ``mostly``
  (``not_be_null``: of all rows);
- ``expect_column_values_to_be_unique``: from the first pass over the key columns, which finds
  values repeated across partitions (`watchkeeper.partitioned.keys`);
- ``expect_table_row_count_to_be_between``: the merged row count;
- other aggregate expectations (column types, the table's columns): they pass when every partition
  passes, which is exact for these two since every partition has the window's columns and types.

The result is the `ValidationReport` a window in memory gets, built by the same code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pandas as pd

from watchkeeper.partitioned.keys import KeyCounts
from watchkeeper.validation.gx import (
    _PARTIAL_UNEXPECTED,
    _get_runtime,
    _gx_document,
    _to_result,
    logical_type_substitutes,
)
from watchkeeper.validation.report import ExpectationResult, ValidationReport
from watchkeeper.validation.spec import ExpectationSuiteSpec

WHOLE_WINDOW = ("expect_column_values_to_be_unique", "expect_table_row_count_to_be_between")
ALL_ROWS_DENOMINATOR = ("expect_column_values_to_not_be_null",)


@dataclass
class ExpectationState:
    """GX's counts of one expectation over some partitions."""

    success: bool = True
    element_count: int = 0
    missing_count: int = 0
    unexpected_count: int | None = None
    sample: list[Any] = field(default_factory=list)
    observed: Any = None
    details: dict[str, Any] | None = None
    error: str | None = None

    def merge(self, other: ExpectationState) -> ExpectationState:
        unexpected = self.unexpected_count
        if other.unexpected_count is not None:
            unexpected = (unexpected or 0) + other.unexpected_count
        return ExpectationState(
            self.success and other.success,
            self.element_count + other.element_count,
            self.missing_count + other.missing_count,
            unexpected,
            (self.sample + other.sample)[:_PARTIAL_UNEXPECTED],
            self.observed if self.observed is not None else other.observed,
            self.details if self.details is not None or other.success else other.details,
            self.error or other.error,
        )


@dataclass
class SuiteState:
    """Per expectation index, its merged state; `columns` are the window's columns."""

    by_index: dict[int, ExpectationState] = field(default_factory=dict)
    columns: tuple[str, ...] = ()

    def merge(self, other: SuiteState) -> SuiteState:
        merged = dict(self.by_index)
        for i, state in other.by_index.items():
            merged[i] = merged[i].merge(state) if i in merged else state
        return SuiteState(merged, self.columns or other.columns)


def _runnable(spec: ExpectationSuiteSpec, present: set[str]) -> tuple[int, ...]:
    return tuple(
        i
        for i, exp in enumerate(spec.expectations)
        if exp.type not in WHOLE_WINDOW and all(c in present for c in exp.columns)
    )


def validate_partition(frame: pd.DataFrame, spec: ExpectationSuiteSpec) -> SuiteState:
    """GX on one partition's rows: the counts of every expectation it can decide in part."""
    columns = tuple(map(str, frame.columns))
    state = SuiteState(columns=columns)
    indices = _runnable(spec, set(columns))
    if not len(frame) or not indices:
        return state
    runtime = _get_runtime()
    # Type expectations on categorical / Arrow-string columns are judged on the logical type, as in memory.
    substitutes = logical_type_substitutes(spec, indices, frame)
    with runtime.lock:
        suite = runtime.get_suite(spec, indices, substitutes)
        batch = runtime.batch_definition.get_batch(batch_parameters={"dataframe": frame})
        result = batch.validate(
            suite, result_format={"result_format": "SUMMARY", "partial_unexpected_count": _PARTIAL_UNEXPECTED}
        )
    for gx_res in result.results:
        index = int(gx_res.expectation_config.meta["watchkeeper"]["index"])
        res = gx_res.result or {}
        info = gx_res.exception_info or {}
        error = None
        if info.get("raised_exception"):
            error = str(info.get("exception_message") or "Great Expectations raised an error")
        unexpected = res.get("unexpected_count")
        details = res.get("details")
        state.by_index[index] = ExpectationState(
            success=bool(gx_res.success),
            element_count=int(res.get("element_count") or 0),
            missing_count=int(res.get("missing_count") or 0),
            unexpected_count=None if unexpected is None else int(unexpected),
            sample=list(res.get("partial_unexpected_list") or []),
            observed=res.get("observed_value"),
            details=details if isinstance(details, dict) and not gx_res.success else None,
            error=error,
        )
    return state


def _map_success(exp_type: str, kwargs: Mapping[str, Any], s: ExpectationState) -> bool:
    denominator = s.element_count if exp_type in ALL_ROWS_DENOMINATOR else s.element_count - s.missing_count
    if denominator <= 0:
        return True
    mostly = float(kwargs.get("mostly", 1.0))
    return (denominator - (s.unexpected_count or 0)) / denominator >= mostly


def finalize_validation(
    spec: ExpectationSuiteSpec,
    state: SuiteState | None,
    rows: int,
    keys: Mapping[str, KeyCounts],
    *,
    null_counts: Mapping[str, int] | None = None,
    samples: Mapping[str, Sequence[Any]] | None = None,
) -> ValidationReport:
    """Decide every expectation on the merged state (see the module docstring)."""
    state = state or SuiteState()
    present = set(state.columns)
    if rows == 0:
        empty = tuple(
            ExpectationResult(i, e.type, e.severity, None, e.column, message="window has no rows")
            for i, e in enumerate(spec.expectations)
        )
        return ValidationReport(spec.name, 0, empty, (), gx_json=_gx_document(None, spec, 0, list(empty)))
    missing_cols = tuple(dict.fromkeys(c for e in spec.expectations for c in e.columns if c not in present))
    results: list[ExpectationResult] = []
    not_run: list[ExpectationResult] = []
    documents: list[dict[str, Any]] = []
    for i, exp in enumerate(spec.expectations):
        absent = [c for c in exp.columns if c not in present]
        if absent:
            names = ", ".join(repr(c) for c in absent)
            result = ExpectationResult(
                i,
                exp.type,
                exp.severity,
                False,
                exp.column,
                message=f"{exp.type}: column {names} is missing from the window",
            )
            results.append(result)
            not_run.append(result)
            continue
        s = state.by_index.get(i, ExpectationState())
        if exp.type == "expect_table_row_count_to_be_between":
            lo, hi = exp.kwargs.get("min_value"), exp.kwargs.get("max_value")
            s = ExpectationState(
                success=(lo is None or rows >= lo) and (hi is None or rows <= hi), observed=rows
            )
        elif exp.type == "expect_column_values_to_be_unique":
            counts = keys.get(exp.column or "")
            nulls = (null_counts or {}).get(exp.column or "", 0)
            if counts is None:
                s = ExpectationState(success=False, error="the key pass did not scan this column")
            else:
                s = ExpectationState(
                    element_count=rows,
                    missing_count=nulls,
                    unexpected_count=counts.rows_in_duplicates,
                    sample=list((samples or {}).get(exp.column or "", ()))[:_PARTIAL_UNEXPECTED],
                )
                s.success = _map_success(exp.type, exp.kwargs, s)
        elif s.unexpected_count is not None and s.error is None:
            s.success = _map_success(exp.type, exp.kwargs, s)
        result_doc: dict[str, Any] = {
            "element_count": s.element_count,
            "missing_count": s.missing_count,
            "unexpected_count": s.unexpected_count,
            "partial_unexpected_list": s.sample,
            "observed_value": s.observed,
        }
        if s.details is not None:
            result_doc["details"] = s.details
        fake = SimpleNamespace(
            result=result_doc,
            exception_info={"raised_exception": s.error is not None, "exception_message": s.error},
            success=s.success,
        )
        results.append(_to_result(exp, i, fake, rows))
        documents.append({"success": s.success, "expectation_type": exp.type, "result": result_doc})
    gx_doc = {
        "success": all(r.success for r in results),
        "results": documents,
        "meta": {"merged_partitions": True},
    }
    return ValidationReport(
        spec.name, rows, tuple(results), missing_cols, gx_json=_gx_document(gx_doc, spec, rows, not_run)
    )
