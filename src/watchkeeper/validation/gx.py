"""The Great Expectations adapter: the only module that imports great_expectations.

- `check_with_gx` checks a parsed suite entry by entry. GX logs an unknown expectation type and
  silently drops it from the suite, so every entry is built on its own and the built suite is
  counted: an entry GX does not understand is an error naming the file, the entry index and its type.
- `validate_window` runs the suite on a window with an ephemeral GX context (progress bars off), one
  GX validation call per group of entries reading the same columns, on a frame of those columns
  alone (`column_groups`), and returns a frozen `ValidationReport` (a `SectionReport`) with one GX
  result document for the whole suite. One GX context and pandas batch definition serve the whole
  process, and built GX suites are cached by suite fingerprint and group, so each window pays only
  for GX's own validation.

Windows come typed (categorical strings as pandas `category`, other strings Arrow-backed). GX judges
`expect_column_values_to_be_in_type_list` by the dtype, and only on `object` columns value by value,
so on a typed column the entry is judged on its logical type instead: GX's own type condition is
applied to the column's categories (a handful of values, not every row), and GX then counts the
rows through an equivalent column-map expectation (values in the accepted categories; for Arrow
strings, every value or none). Success, element, missing and unexpected counts and the unexpected
sample are those GX gives on the same column as Python objects
(`tests/contracts/test_validation_conformance.py`), and the result document shows the original
entry.

GX is imported lazily (it takes seconds), so importing this module stays cheap for the CLI.
"""

from __future__ import annotations

import difflib
import json
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from watchkeeper.quoting import cap_text
from watchkeeper.validation.report import ExpectationResult, ValidationReport, make_json_safe
from watchkeeper.validation.spec import ExpectationSpec, ExpectationSuiteSpec, SuiteError, encode_canonical

# How many unexpected values GX collects per expectation, and how many distinct ones we keep.
_PARTIAL_UNEXPECTED = 20
_SAMPLE_SIZE = 10


def _registered_types() -> list[str]:
    from great_expectations.expectations.registry import list_registered_expectation_implementations

    return sorted(list_registered_expectation_implementations())


def _gx_message(exc: BaseException) -> str:
    text = getattr(exc, "message", None) or str(exc)
    return " ".join(str(text).split())


_TYPE_LIST = "expect_column_values_to_be_in_type_list"
# How a type entry on a typed column is handed to GX: (type, kwargs) replacing the original's.
Substitute = tuple[str, dict[str, Any]]


def _accepted_by_type_list(values: pd.Series, type_list: Sequence[str]) -> np.ndarray | None:
    """GX's own per-value type condition (the `object` path) on `values`; None if GX rejects the list."""
    import inspect

    from great_expectations.expectations.metrics.column_map_metrics.column_values_in_type_list import (
        ColumnValuesInTypeList,
    )

    condition = inspect.unwrap(ColumnValuesInTypeList.__dict__["_pandas"])
    try:
        return np.asarray(condition(ColumnValuesInTypeList, values, list(type_list)), dtype=bool)
    except ValueError:
        return None  # no recognized type: GX raises the same on the original entry


def _logical_type_substitute(exp: ExpectationSpec, column: pd.Series) -> Substitute | None:
    """The column-map entry that judges a type entry on a typed column as GX does on objects."""
    type_list = exp.kwargs.get("type_list")
    if type_list is None:
        return None
    dtype = column.dtype
    carried = {k: v for k, v in exp.kwargs.items() if k not in ("type_list",)}
    if isinstance(dtype, pd.CategoricalDtype):
        categories = pd.Series(np.asarray(dtype.categories, dtype=object), dtype=object)
        accepted = _accepted_by_type_list(categories, type_list)
        if accepted is None:
            return None
        value_set = [make_json_safe(v) for v in categories[accepted].tolist()]
        return "expect_column_values_to_be_in_set", {**carried, "value_set": value_set}
    if isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow":
        accepted = _accepted_by_type_list(pd.Series([""], dtype=object), type_list)
        if accepted is None:
            return None
        # Every string is a `str`: all values pass, or none does (lengths are never negative).
        bounds = {"min_value": 0} if accepted[0] else {"max_value": -1}
        return "expect_column_value_lengths_to_be_between", {**carried, **bounds}
    return None


def logical_type_substitutes(
    spec: ExpectationSuiteSpec, indices: Sequence[int], window: pd.DataFrame
) -> dict[int, Substitute]:
    """Type entries (by index) on the window's typed columns, with what GX runs in their place."""
    out: dict[int, Substitute] = {}
    for i in indices:
        exp = spec.expectations[i]
        if exp.type != _TYPE_LIST or exp.column is None or exp.column not in window.columns:
            continue
        substitute = _logical_type_substitute(exp, window[exp.column])
        if substitute is not None:
            out[i] = substitute
    return out


def _build_gx_suite(
    spec: ExpectationSuiteSpec, indices: Sequence[int], substitutes: dict[int, Substitute] | None = None
) -> Any:
    """Build the GX suite for the given entries; each carries its index and severity in `meta`."""
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    configs = []
    for i in indices:
        exp = spec.expectations[i]
        meta: dict[str, Any] = {**exp.meta, "watchkeeper": {"index": i, "severity": exp.severity.label}}
        type_, kwargs = exp.type, dict(exp.kwargs)
        if substitutes and i in substitutes:
            type_, kwargs = substitutes[i]
            meta["watchkeeper"]["logical_type_of"] = {"type": exp.type, "kwargs": dict(exp.kwargs)}
        configs.append(ExpectationConfiguration(type=type_, kwargs=kwargs, meta=meta, notes=exp.notes))
    suite = gx.ExpectationSuite(name=spec.name, expectations=configs, meta=dict(spec.meta) or None)
    if len(suite.expectations) != len(configs):
        # GX logs invalid configurations and drops them; a dropped check must never pass unnoticed.
        kept = {e.meta["watchkeeper"]["index"] for e in suite.expectations if e.meta}
        lost = [f"entry {i} ({spec.expectations[i].type})" for i in indices if i not in kept]
        where = spec.source or spec.name
        raise SuiteError(f"{where}: Great Expectations dropped {', '.join(lost)} while building the suite")
    return suite


def check_with_gx(spec: ExpectationSuiteSpec) -> None:
    """Build every entry with GX on its own so that an error names the entry, then count the suite."""
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    where = spec.source or spec.name
    known: list[str] | None = None
    for i, exp in enumerate(spec.expectations):
        try:
            ExpectationConfiguration(type=exp.type, kwargs=dict(exp.kwargs)).to_domain_obj()
        except Exception as exc:  # GX raises its own errors and pydantic v1 ValidationErrors
            known = known if known is not None else _registered_types()
            if exp.type not in known:
                close = difflib.get_close_matches(exp.type, known, n=3)
                hint = f"; did you mean {', '.join(close)}?" if close else ""
                raise SuiteError(
                    f"{where}: entry {i} ({exp.type}): unknown expectation type {exp.type!r}{hint}"
                ) from None
            raise SuiteError(f"{where}: entry {i} ({exp.type}): invalid kwargs: {_gx_message(exc)}") from None
    _build_gx_suite(spec, range(len(spec.expectations)))


class _GxRuntime:
    """One ephemeral GX context with a pandas batch definition, and built suites by fingerprint."""

    max_suites = 256  # one per column group of each suite (a suite has a group per column)

    def __init__(self) -> None:
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig
        from great_expectations.execution_engine import pandas_execution_engine

        # GX hashes every pandas batch under 1 GB (`HASH_THRESHOLD`) into a fingerprint it only
        # writes into the result's batch markers; on a typed million-row window the hash costs more
        # than the validation itself. Nothing reads it, so no batch is hashed.
        pandas_execution_engine.HASH_THRESHOLD = 0
        self.context = gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False)
        datasource = self.context.data_sources.add_pandas("watchkeeper")
        self.engine = datasource.get_execution_engine()  # the one every batch of it validates on
        asset = datasource.add_dataframe_asset("window")
        self.batch_definition = asset.add_batch_definition_whole_dataframe("whole-window")
        # Keyed by (suite fingerprint, entries run), plus the substitutes when there are any.
        self.suites: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        # GX contexts are not thread-safe; Prefect may run tasks in threads.
        self.lock = threading.Lock()

    def get_suite(
        self, spec: ExpectationSuiteSpec, indices: tuple[int, ...], substitutes: dict[int, Substitute]
    ) -> Any:
        key: tuple[Any, ...] = (spec.fingerprint, indices)
        if substitutes:
            key += (encode_canonical(sorted(substitutes.items())),)
        suite = self.suites.get(key)
        if suite is None:
            suite = _build_gx_suite(spec, indices, substitutes)
            self.suites[key] = suite
            while len(self.suites) > self.max_suites:
                self.suites.popitem(last=False)
        else:
            self.suites.move_to_end(key)
        return suite


_runtime: _GxRuntime | None = None
_runtime_lock = threading.Lock()


def _get_runtime() -> _GxRuntime:
    global _runtime
    with _runtime_lock:
        if _runtime is None:
            _runtime = _GxRuntime()
        return _runtime


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return repr(value) if isinstance(value, str) else str(value)


def _describe_failure(
    exp: ExpectationSpec,
    count: int | None,
    percent: float | None,
    sample: list[Any],
    observed: Any,
    details: dict[str, Any],
    denominator: int | None = None,
) -> str:
    """What failed, on which rows, and its unexpected share: the expectation's type and column lead."""
    col = f"{exp.column!r}" if exp.column else "table"
    scope = exp.scope
    head = exp.type + (f" on {col}" if exp.column else "") + (f" (rows where {scope})" if scope else "")
    kw = exp.kwargs
    of = f" of {denominator}" if denominator is not None else ""
    rows = f"{count}{of} rows ({percent:.2f}%)" if count is not None and percent is not None else "rows"
    eg = f", e.g. {', '.join(_fmt(v) for v in sample[:3])}" if sample else ""
    mostly = kw.get("mostly")
    allowed = "" if mostly is None else f"; at most {100.0 * (1.0 - float(mostly)):.2f}% allowed"
    if exp.type == "expect_column_values_to_not_be_null":
        return f"{head}: {rows} are null{allowed or '; none allowed'}"
    if exp.type == "expect_column_values_to_be_between":
        bounds = f"[{_fmt(kw.get('min_value'))}, {_fmt(kw.get('max_value'))}]"
        return f"{head}: {rows} outside {bounds}{eg}{allowed}"
    if exp.type == "expect_column_values_to_be_in_set":
        return f"{head}: {rows} with values outside the expected set{eg}{allowed}"
    if exp.type == "expect_column_values_to_be_unique":
        return f"{head}: {rows} with duplicated values{eg}"
    if exp.type == "expect_column_values_to_be_in_type_list":
        return f"{head}: dtype {_fmt(observed)} is not one of the expected types{eg}"
    if exp.type == "expect_table_row_count_to_be_between":
        return (
            f"{head}: row count {observed} outside [{_fmt(kw.get('min_value'))}, {_fmt(kw.get('max_value'))}]"
        )
    if exp.type == "expect_table_columns_to_match_set":
        missing = ", ".join(repr(c) for c in details.get("mismatched", {}).get("missing", []))
        return (
            f"{head}: column(s) {missing} missing from the window"
            if missing
            else f"{head}: columns do not match the set"
        )
    if count is not None:
        return f"{head}: {rows} unexpected{eg}{allowed}"
    return f"{head} failed (observed {_fmt(observed)})"


def _to_result(exp: ExpectationSpec, index: int, gx_res: Any, rows: int) -> ExpectationResult:
    res = gx_res.result or {}
    info = gx_res.exception_info or {}
    if info.get("raised_exception"):
        error = cap_text(
            " ".join(str(info.get("exception_message") or "Great Expectations raised an error").split())
        )
        return ExpectationResult(
            index,
            exp.type,
            exp.severity,
            False,
            exp.column,
            message=f"{exp.type} on {exp.column or 'table'!r} could not be evaluated: {error}",
            error=error,
        )
    count = res.get("unexpected_count")
    count = None if count is None else int(count)
    # Over all rows: GX's `unexpected_percent` divides by non-null values for most expectations. With a
    # row condition, over the rows it selects (GX's `element_count` of the expectation's domain).
    denominator = rows
    if exp.scope and res.get("element_count") is not None:
        denominator = int(res["element_count"])
    percent = None if count is None or denominator == 0 else 100.0 * count / denominator
    sample: list[Any] = []
    if exp.type != "expect_column_values_to_not_be_null":  # the sample of a null check is all nulls
        seen: dict[str, None] = {}
        for value in res.get("partial_unexpected_list") or []:
            safe = make_json_safe(value)
            key = encode_canonical(safe)
            if key not in seen:
                seen[key] = None
                sample.append(safe)
            if len(sample) >= _SAMPLE_SIZE:
                break
    observed = make_json_safe(res.get("observed_value"))
    success = bool(gx_res.success)
    raw_details = res.get("details")
    details: dict[str, Any] = raw_details if isinstance(raw_details, dict) else {}
    message = (
        "" if success else _describe_failure(exp, count, percent, sample, observed, details, denominator)
    )
    return ExpectationResult(
        index,
        exp.type,
        exp.severity,
        success,
        exp.column,
        unexpected_count=count,
        unexpected_percent=percent,
        unexpected_sample=tuple(sample),
        observed=observed,
        message=message,
    )


def _restore_entries(doc: dict[str, Any]) -> dict[str, Any]:
    """Show each substituted entry as the suite wrote it, saying what GX ran in its place."""
    for res in doc.get("results") or []:
        config = res.get("expectation_config") or {}
        meta = (config.get("meta") or {}).get("watchkeeper") or {}
        original = meta.pop("logical_type_of", None)
        if original is not None:
            ran = dict(config.get("kwargs") or {})
            meta["judged_on_logical_type"] = {"type": config.get("type"), "kwargs": ran}
            # GX adds the batch id to every entry's kwargs; the restored entry keeps it too.
            batch = {"batch_id": ran["batch_id"]} if "batch_id" in ran else {}
            config["type"], config["kwargs"] = original["type"], {**original["kwargs"], **batch}
    return doc


def _gx_document(
    gx_doc: dict[str, Any] | None, spec: ExpectationSuiteSpec, rows: int, not_run: list[ExpectationResult]
) -> str:
    """GX's result JSON, with what GX was not asked to run recorded under ``meta.watchkeeper``."""
    doc: dict[str, Any] = gx_doc if gx_doc is not None else {"success": None, "results": [], "meta": {}}
    meta = doc.get("meta")
    if not isinstance(meta, dict):
        meta = doc["meta"] = {}
    meta["watchkeeper"] = {
        "suite": spec.name,
        "suite_fingerprint": spec.fingerprint,
        "rows": rows,
        "not_run": [{"index": r.index, "type": r.type, "reason": r.message} for r in not_run],
    }
    return json.dumps(make_json_safe(doc), allow_nan=False)


# Entry types that read more of the window than their columns: the table's, and a column's
# existence (its `column_index` is a position in the whole table).
_WHOLE_WINDOW_TYPES = frozenset({"expect_column_to_exist"})


def column_groups(
    spec: ExpectationSuiteSpec, indices: Sequence[int]
) -> dict[tuple[str, ...] | None, tuple[int, ...]]:
    """The entries (by index) GX validates together, by the columns they read (None: the whole window).

    An entry on a column (or a pair, or a list of columns) reads only those columns, so it is
    validated on a frame of them alone: GX filters its domain's frame by rows for every column map
    metric (`df[df[column].notnull()]` in GX's own helpers), which on the whole window copied every
    column of it for each entry, ~110 MB at a million rows. Table entries, an entry with a row
    condition (it may name any column) and the types above run on the whole window.
    """
    groups: dict[tuple[str, ...] | None, list[int]] = {}
    for i in indices:
        exp = spec.expectations[i]
        whole = not exp.columns or exp.type in _WHOLE_WINDOW_TYPES or exp.kwargs.get("row_condition")
        groups.setdefault(None if whole else tuple(dict.fromkeys(exp.columns)), []).append(i)
    return {columns: tuple(group) for columns, group in groups.items()}


def _columns_view(window: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    if len(columns) == 1:
        return window[columns[0]].to_frame()  # a view of the column, no copy
    return window[list(columns)]


def _validate_on(
    runtime: _GxRuntime,
    frame: pd.DataFrame,
    spec: ExpectationSuiteSpec,
    indices: tuple[int, ...],
    substitutes: dict[int, Substitute],
) -> Any:
    """One GX validation of the entries `indices` on `frame` (the caller holds the runtime's lock)."""
    suite = runtime.get_suite(spec, indices, {i: s for i, s in substitutes.items() if i in indices})
    batch = runtime.batch_definition.get_batch(batch_parameters={"dataframe": frame})
    try:
        return batch.validate(
            suite,
            result_format={"result_format": "SUMMARY", "partial_unexpected_count": _PARTIAL_UNEXPECTED},
        )
    finally:
        # GX's engine keeps every metric it resolved (a boolean mask per column expectation: ~25 MB
        # at 1M rows) until the next validation overwrites them. Nothing reads them after the
        # validation: a validation resolves its own metrics first.
        runtime.engine._metric_cache.clear()


def _merge_documents(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """One suite result document from the column groups' documents: the statistics and success
    over all entries, as one GX validation of the whole window writes them, and the entries in
    suite order (GX's own order follows its metric graph)."""
    merged = dict(docs[0])
    results = sorted(
        (res for doc in docs for res in doc["results"]),
        key=lambda res: int(res["expectation_config"]["meta"]["watchkeeper"]["index"]),
    )
    passed = sum(1 for res in results if res["success"])
    merged["results"] = results
    merged["success"] = passed == len(results)
    merged["statistics"] = {
        "evaluated_expectations": len(results),
        "successful_expectations": passed,
        "unsuccessful_expectations": len(results) - passed,
        "success_percent": 100.0 * passed / len(results) if results else None,
    }
    return merged


def validate_window(window: pd.DataFrame, spec: ExpectationSuiteSpec) -> ValidationReport:
    """Run `spec` on `window` with Great Expectations and summarize what failed.

    Expectations on a column the window lacks fail with a message saying so (GX is not asked to run
    them); a window with no rows is reported as not evaluated.
    """
    rows = len(window)
    present = set(map(str, window.columns))
    missing_by_index = {
        i: [c for c in exp.columns if c not in present] for i, exp in enumerate(spec.expectations)
    }
    missing_cols = tuple(dict.fromkeys(c for cols in missing_by_index.values() for c in cols))
    if rows == 0:
        results = tuple(
            ExpectationResult(i, e.type, e.severity, None, e.column, message="window has no rows")
            for i, e in enumerate(spec.expectations)
        )
        gx_json = _gx_document(None, spec, 0, list(results))
        return ValidationReport(spec.name, 0, results, missing_cols, gx_json=gx_json)

    runnable = tuple(i for i, cols in missing_by_index.items() if not cols)
    by_index: dict[int, ExpectationResult] = {}
    gx_doc: dict[str, Any] | None = None
    if runnable:
        runtime = _get_runtime()
        substitutes = logical_type_substitutes(spec, runnable, window)
        docs = []
        with runtime.lock:
            for columns, indices in column_groups(spec, runnable).items():
                frame = window if columns is None else _columns_view(window, columns)
                gx_result = _validate_on(runtime, frame, spec, indices, substitutes)
                for gx_res in gx_result.results:
                    index = int(gx_res.expectation_config.meta["watchkeeper"]["index"])
                    by_index[index] = _to_result(spec.expectations[index], index, gx_res, rows)
                docs.append(gx_result.to_json_dict())
        gx_doc = _restore_entries(_merge_documents(docs))
    not_run = []
    for i, cols in missing_by_index.items():
        if cols:
            exp = spec.expectations[i]
            names = ", ".join(repr(c) for c in cols)
            by_index[i] = ExpectationResult(
                i,
                exp.type,
                exp.severity,
                False,
                exp.column,
                message=f"{exp.type}: column {names} is missing from the window",
            )
            not_run.append(by_index[i])
    results = tuple(by_index[i] for i in range(len(spec.expectations)))
    return ValidationReport(
        spec.name, rows, results, missing_cols, gx_json=_gx_document(gx_doc, spec, rows, not_run)
    )
