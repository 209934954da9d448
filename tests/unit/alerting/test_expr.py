"""The condition parser: grammar, three-valued evaluation, field registry."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from watchkeeper.alerting.expr import ConditionError, parse_condition
from watchkeeper.alerting.fields import FIELD_PATTERNS, match_field


@pytest.mark.parametrize(
    ("text", "figures", "expected"),
    [
        # the examples of the issue, each true on these figures
        ("drift.share >= 0.5", {"drift.share": 0.5}, True),
        (
            "perf.estimated.roc_auc < perf.band.roc_auc.lower",
            {"perf.estimated.roc_auc": 0.71, "perf.band.roc_auc.lower": 0.74},
            True,
        ),
        ("serving.latency_p95_ms > 250", {"serving.latency_p95_ms": 250.0}, False),  # strict
        ("validation.critical_failures > 0", {"validation.critical_failures": 2}, True),
        ("health.gpu.max_util_pct > 95", {"health.gpu.max_util_pct": 99.5}, True),
        ("window.no_data == 1", {"window.no_data": 1.0}, True),
        ("window.no_data == true", {"window.no_data": 1.0}, True),
        # precedence: and binds tighter than or
        (
            "drift.share > 0.9 or drift.n_drifted >= 3 and drift.n_columns < 10",
            {"drift.share": 0.1, "drift.n_drifted": 3, "drift.n_columns": 5},
            True,
        ),
        (
            "(drift.share > 0.9 or drift.n_drifted >= 3) and drift.n_columns > 10",
            {"drift.share": 0.1, "drift.n_drifted": 3, "drift.n_columns": 5},
            False,
        ),
        ("not serving.error_rate <= 0.01", {"serving.error_rate": 0.02}, True),
        # number on the left, scientific notation, negative numbers
        ("0.5 <= drift.share", {"drift.share": 0.7}, True),
        ("perf.realized.mean_error < -1e-3", {"perf.realized.mean_error": -0.01}, True),
        # column names with dots and backquoted names with spaces
        ("drift.prediction.score.drifted == 1", {"drift.prediction.score.drifted": 1}, True),
        ("`drift.unit price.score` > 0.2", {"drift.unit price.score": 0.3}, True),
        ("serving.error_rate.503 > 0", {"serving.error_rate.503": 0.1}, True),
        ("health.probe.feature-store.ok == 0", {"health.probe.feature-store.ok": 0}, True),
    ],
)
def test_conditions_evaluate(text: str, figures: dict[str, float], expected: bool) -> None:
    assert parse_condition(text).evaluate(figures) is expected


@pytest.mark.parametrize(
    ("text", "figures", "expected"),
    [
        # a missing figure is unknown, and unknown propagates unless the other side decides
        ("drift.share >= 0.5", {}, None),
        ("drift.share >= 0.5", {"drift.share": math.nan}, None),  # NaN is no value either
        ("drift.share >= 0.5 and serving.error_rate > 0.1", {"serving.error_rate": 0.0}, False),
        ("drift.share >= 0.5 and serving.error_rate > 0.1", {"serving.error_rate": 0.5}, None),
        ("drift.share >= 0.5 or serving.error_rate > 0.1", {"serving.error_rate": 0.5}, True),
        ("drift.share >= 0.5 or serving.error_rate > 0.1", {"serving.error_rate": 0.0}, None),
        ("not drift.share >= 0.5", {}, None),
    ],
)
def test_unknown_is_three_valued(text: str, figures: dict[str, float], expected: bool | None) -> None:
    assert parse_condition(text).evaluate(figures) is expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("drift.share >=", "expected a figure name or a number at column 15, found end of condition"),
        ("drift.share 0.5", "expected a comparison operator"),
        ("drift.share >= 0.5 and", "at column 23"),
        ("(drift.share >= 0.5", "expected ')'"),
        ("drift.share => 0.5", "unexpected character '=' at column 13"),
        ("drift.share >= 0.5; import os", "unexpected character ';'"),
        ("__import__('os')", "unexpected character"),
        ("1 > 0", "compares two numbers"),
        ("", "empty condition"),
        ("drift.shrae >= 0.5", "unknown figure 'drift.shrae'"),
        ("perf.estimated.roc_acu < 0.7", "unknown figure 'perf.estimated.roc_acu'"),
        ("latency_p95_ms > 250", "unknown figure 'latency_p95_ms'"),
    ],
)
def test_errors_say_where(text: str, message: str) -> None:
    with pytest.raises(ConditionError, match=None) as info:
        parse_condition(text)
    assert message in str(info.value)


def test_unknown_field_suggests_close_names() -> None:
    with pytest.raises(ConditionError) as info:
        parse_condition("drift.shrae >= 0.5")
    assert "drift.share" in str(info.value)


def test_fields_sections_and_primary() -> None:
    cond = parse_condition("perf.estimated.roc_auc < perf.band.roc_auc.lower or drift.share > 0.5")
    assert cond.fields == ("perf.estimated.roc_auc", "perf.band.roc_auc.lower", "drift.share")
    assert cond.sections == frozenset({"perf", "drift"})
    figures = {"perf.estimated.roc_auc": 0.9, "perf.band.roc_auc.lower": 0.8, "drift.share": 0.6}
    # the comparison that holds is the one a notification shows
    assert cond.primary(figures) == ("drift.share", 0.6, ">", 0.5)


def test_every_registry_pattern_is_reachable() -> None:
    # Instantiate each pattern with a column and a metric name: every one must match itself.
    for pattern in FIELD_PATTERNS:
        name = pattern.replace("*", "age").replace("<metric>", "roc_auc")
        assert match_field(name) == pattern, name


_FIELDS = ["drift.share", "serving.error_rate", "window.rows"]
_OPS = {"<": float.__lt__, "<=": float.__le__, ">": float.__gt__, ">=": float.__ge__, "==": float.__eq__}


@given(
    a=st.sampled_from(_FIELDS),
    op1=st.sampled_from(sorted(_OPS)),
    x=st.floats(-10, 10, allow_nan=False),
    b=st.sampled_from(_FIELDS),
    op2=st.sampled_from(sorted(_OPS)),
    y=st.floats(-10, 10, allow_nan=False),
    joiner=st.sampled_from(["and", "or"]),
    values=st.fixed_dictionaries({f: st.floats(-10, 10, allow_nan=False) for f in _FIELDS}),
)
def test_matches_python_logic_when_all_figures_exist(
    a: str, op1: str, x: float, b: str, op2: str, y: float, joiner: str, values: dict[str, float]
) -> None:
    text = f"{a} {op1} {x!r} {joiner} {b} {op2} {y!r}"
    left, right = _OPS[op1](values[a], x), _OPS[op2](values[b], y)
    expected = (left and right) if joiner == "and" else (left or right)
    assert parse_condition(text).evaluate(values) is expected
