"""Conformance: Great Expectations gives the same answers on the typed window as on the object one,
and validated by column groups (as Watchkeeper does) as in one GX validation of the whole window.

Windows used to hold strings as Python objects; sources now return categorical strings as pandas
`category` and other strings Arrow-backed (`watchkeeper.sources.arrow`). Every expectation type the
suite generator emits, the demo's reviewed suite, and hand-written type entries that pass and fail
run through GX on both frames; each entry's success, element, missing and unexpected counts, its
unexpected sample and observed value must be identical.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from watchkeeper import demo_data
from watchkeeper.config import ColumnsConfig
from watchkeeper.sources.arrow import table_to_frame
from watchkeeper.validation import generate_suite, load_suite, validate_window
from watchkeeper.validation.gx import _build_gx_suite, _restore_entries, logical_type_substitutes
from watchkeeper.validation.spec import ExpectationSpec, ExpectationSuiteSpec
from watchkeeper.verdict import Severity
from watchkeeper.windows import as_category, as_category_strings, categorical_columns

ROOT = Path(__file__).resolve().parents[2]

COLUMNS = ColumnsConfig(
    numerical_features=("num", "num_int"),
    categorical_features=("cat", "cat_many", "cat_int"),
    prediction="prediction",
    score="score",
    target="target",
    status="status",
    model_version="model_version",
)


def _object_window(n: int, seed: int, *, drifted: bool) -> pd.DataFrame:
    """A window as sources used to return it: strings as Python objects, missing as None."""
    rng = np.random.default_rng(seed)
    cat = rng.choice(["a", "b", "c", "new"] if drifted else ["a", "b", "c"], n).astype(object)
    cat[rng.choice(n, 7, replace=False)] = None
    many = np.array([f"v{i:03d}" for i in range(150)], dtype=object)[rng.integers(0, 150, n)]
    ids = np.array([f"req-{i}" for i in range(n)], dtype=object)
    ids[5] = ids[4]  # a double-logged request
    ids[9] = None
    frame = pd.DataFrame(
        {
            "request_id": ids,
            "num": np.where(rng.random(n) < 0.02, np.nan, rng.normal(3.0 if drifted else 0.0, 1.0, n)),
            "num_int": rng.integers(0, 50, n),
            "cat": cat,
            "cat_many": many,
            "cat_int": rng.integers(0, 4, n),  # integers configured as categorical: read as strings
            "prediction": rng.integers(0, 2, n),
            "score": rng.random(n),
            "status": rng.choice(["ok", "error"], n).astype(object),
            "model_version": rng.choice(["1", "2"], n).astype(object),
        }
    )
    for name in COLUMNS.categorical_features:
        frame[name] = as_category_strings(frame[name])
    frame["model_version"] = frame["model_version"].astype("string")
    return frame


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """The same window as sources return it now (through Arrow, as a Parquet read does)."""
    raw = frame.copy()
    raw["cat_int"] = raw["cat_int"].astype("int64")  # as stored: the source sees integers
    typed = table_to_frame(pa.Table.from_pandas(raw, preserve_index=False), categorical_columns(COLUMNS))
    for name in COLUMNS.categorical_features:
        typed[name] = as_category(typed[name])
    typed["model_version"] = as_category(typed["model_version"])
    return typed


def _extra_type_entries() -> list[ExpectationSpec]:
    """Type entries the generator does not emit on these columns, passing and failing."""

    def entry(column: str, types: list[str], **kw: Any) -> ExpectationSpec:
        return ExpectationSpec(
            "expect_column_values_to_be_in_type_list",
            {"column": column, "type_list": types, **kw},
            Severity.CRITICAL,
        )

    strings = ["object", "str", "StringDtype"]
    return [
        entry("cat", strings),  # a low-cardinality categorical: passes
        entry("cat", ["int64", "float64"]),  # strings are not numbers: every non-null row fails
        entry("cat", ["int64"], mostly=0.0),  # fails by value but `mostly` lets it pass
        entry("request_id", strings),  # Arrow-backed strings: pass
        entry("request_id", ["int64"]),  # …and fail when numbers are expected
        entry("cat_int", strings),  # integers read as category strings
        entry("num", ["float64"]),  # numbers: GX's dtype path, unchanged
    ]


def _results(report: Any) -> dict[int, dict[str, Any]]:
    doc = json.loads(report.gx_json)
    out = {}
    for res in doc["results"]:
        index = res["expectation_config"]["meta"]["watchkeeper"]["index"]
        result = res.get("result") or {}
        out[index] = {
            "type": res["expectation_config"]["type"],
            "kwargs": res["expectation_config"]["kwargs"],
            "success": res["success"],
            "raised": (res.get("exception_info") or {}).get("raised_exception"),
            **{
                k: result.get(k)
                for k in (
                    "element_count",
                    "missing_count",
                    "unexpected_count",
                    "unexpected_percent",
                    "partial_unexpected_list",
                    "observed_value",
                )
            },
        }
    return out


def _assert_same(spec: ExpectationSuiteSpec, old: pd.DataFrame, typed: pd.DataFrame) -> None:
    old_report = validate_window(old, spec)
    typed_report = validate_window(typed, spec)
    old_results, typed_results = _results(old_report), _results(typed_report)
    assert set(old_results) == set(typed_results) == set(range(len(spec.expectations)))
    for index, expected in old_results.items():
        assert typed_results[index] == expected, (index, spec.expectations[index].type)
    assert [r.to_dict() for r in typed_report.results] == [r.to_dict() for r in old_report.results]


@pytest.mark.parametrize("drifted", [False, True], ids=["clean", "drifted"])
def test_generated_suite_gives_the_same_answers_on_typed_frames(drifted: bool) -> None:
    reference = _object_window(3000, 1, drifted=False)
    suite = generate_suite(reference, columns=COLUMNS, model_name="m", window_rows=3000)
    emitted = {e.type for e in suite.expectations}
    # Every type the generator emits is covered, the type check included (cat_many has 150 values).
    assert emitted == {
        "expect_table_columns_to_match_set",
        "expect_table_row_count_to_be_between",
        "expect_column_values_to_not_be_null",
        "expect_column_values_to_be_unique",
        "expect_column_values_to_be_in_type_list",
        "expect_column_values_to_be_between",
        "expect_column_values_to_be_in_set",
    }
    spec = ExpectationSuiteSpec(
        name="m", expectations=(*suite.expectations, *_extra_type_entries()), meta=suite.meta
    )
    old = _object_window(2500, 2, drifted=drifted)
    typed = _typed(old)
    assert typed["cat"].dtype == "category" and typed["request_id"].dtype == "string"
    assert not any(typed[c].dtype == object for c in typed.columns)
    _assert_same(spec, old, typed)


def test_demo_suite_gives_the_same_answers_on_typed_frames() -> None:
    spec = load_suite(ROOT / "configs" / "expectations" / "credit-risk.yaml")
    for day in (demo_data.INCIDENT_DAY, demo_data.DRIFT_FROM):  # broken data, then unseen categories
        logs, _ = demo_data.make_day(day, 7, rows=3000)
        score = demo_data.default_probability(logs, concept_drift=False)
        old = logs.assign(score=score, prediction=(score >= 0.5).astype("int64"))
        for name in demo_data.CATEGORICAL:
            old[name] = as_category_strings(old[name])
        old["request_id"] = old["request_id"].astype(object)
        typed = table_to_frame(pa.Table.from_pandas(old, preserve_index=False), list(demo_data.CATEGORICAL))
        assert typed["purpose"].dtype == "category"
        _assert_same(spec, old, typed)


def test_substituted_entries_show_as_written_in_the_result_document() -> None:
    old = _object_window(500, 3, drifted=True)
    spec = ExpectationSuiteSpec(name="m", expectations=tuple(_extra_type_entries()[:2]))
    doc = json.loads(validate_window(_typed(old), spec).gx_json)
    first = doc["results"][0]["expectation_config"]
    assert first["type"] == "expect_column_values_to_be_in_type_list"
    assert first["kwargs"]["type_list"] == ["object", "str", "StringDtype"]
    judged = first["meta"]["watchkeeper"]["judged_on_logical_type"]
    assert judged["type"] == "expect_column_values_to_be_in_set"
    assert sorted(judged["kwargs"]["value_set"]) == ["a", "b", "c", "new"]


def _gx_as_shipped(frame: pd.DataFrame, spec: ExpectationSuiteSpec) -> dict[str, Any]:
    """GX's result document for `spec` on `frame` from a context of its own, GX's engine untouched."""
    import great_expectations as gx

    indices = tuple(range(len(spec.expectations)))
    suite = _build_gx_suite(spec, indices, logical_type_substitutes(spec, indices, frame))
    context = gx.get_context(mode="ephemeral")
    batch = (
        context.data_sources.add_pandas("shipped")
        .add_dataframe_asset("window")
        .add_batch_definition_whole_dataframe("whole")
        .get_batch(batch_parameters={"dataframe": frame})
    )
    result = batch.validate(suite, result_format={"result_format": "SUMMARY", "partial_unexpected_count": 20})
    return result.to_json_dict()


def _comparable(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Each entry's result as GX wrote it, in suite order, without the batch id (which names the
    context's asset)."""
    out = []
    for res in sorted(
        doc["results"], key=lambda res: res["expectation_config"]["meta"]["watchkeeper"]["index"]
    ):
        config = res["expectation_config"]
        kwargs = {k: v for k, v in config["kwargs"].items() if k != "batch_id"}
        out.append(
            {
                "type": config["type"],
                "kwargs": kwargs,
                "success": res["success"],
                "result": res["result"],
                "exception_info": res["exception_info"],
            }
        )
    return out


@pytest.mark.parametrize("typed", [False, True], ids=["objects", "typed"])
def test_column_groups_give_gx_own_results_on_the_whole_window(typed: bool) -> None:
    """Watchkeeper validates each group of entries reading the same columns on a frame of those
    columns alone (`column_groups`): the merged result document (every entry's counts, samples,
    partial unexpected index lists, observed values and errors, the statistics and success) is the
    one GX gives for the whole suite on the whole window, column pairs, column lists, a column's
    position and a row condition included."""
    reference = _object_window(3000, 1, drifted=False)
    suite = generate_suite(reference, columns=COLUMNS, model_name="m", window_rows=3000)

    def entry(type_: str, **kwargs: Any) -> ExpectationSpec:
        return ExpectationSpec(type_, kwargs, Severity.WARNING)

    others = [
        entry("expect_column_values_to_be_between", column="num", min_value=-1.0, max_value=1.0,
              row_condition='cat=="a"', condition_parser="pandas"),
        entry("expect_column_pair_values_a_to_be_greater_than_b", column_A="num_int", column_B="num",
              or_equal=True),
        entry("expect_compound_columns_to_be_unique", column_list=["cat", "num_int"]),
        entry("expect_column_to_exist", column="num", column_index=1),
        entry("expect_column_to_exist", column="num", column_index=0),
        entry("expect_column_mean_to_be_between", column="score", min_value=0.4, max_value=0.6),
    ]  # fmt: skip
    spec = ExpectationSuiteSpec(
        name="m", expectations=(*suite.expectations, *_extra_type_entries(), *others), meta=suite.meta
    )
    from watchkeeper.validation.gx import column_groups

    assert len(column_groups(spec, range(len(spec.expectations)))) > 5  # validated apart
    frame = _object_window(2500, 2, drifted=True)
    if typed:
        frame = _typed(frame)
    ours = json.loads(validate_window(frame, spec).gx_json)
    # As Watchkeeper's document shows them: substituted type entries as written, JSON-safe values.
    shipped = _restore_entries(json.loads(json.dumps(_gx_as_shipped(frame, spec), default=str)))
    assert len(ours["results"]) == len(spec.expectations)
    assert any(r["result"].get("unexpected_count") for r in ours["results"])  # failures are compared too
    assert not all(r["success"] for r in ours["results"])
    assert _comparable(ours) == _comparable(shipped)
    assert (ours["success"], ours["statistics"]) == (shipped["success"], shipped["statistics"])
