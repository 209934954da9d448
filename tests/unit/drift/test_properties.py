"""Property tests over every registered drift method (a new method is covered automatically)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from watchkeeper.drift import adjust_p_values, get_method, registered_methods
from watchkeeper.drift.methods.numerical import wasserstein_sorted
from watchkeeper.drift.profile import profile_categorical, profile_numerical
from watchkeeper.drift.registry import DriftMethod, NotTestable
from watchkeeper.drift.samples import ColumnPair

SETTINGS = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])

numbers = st.lists(
    st.one_of(
        st.integers(-5, 5).map(float),  # ties, as in real integer-valued columns
        st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False, width=32),
    ),
    min_size=8,
    max_size=40,
)
categories = st.lists(st.sampled_from(["a", "b", "c", "d"]), min_size=8, max_size=40)


def pairs_for(method: DriftMethod, ref: list, cur: list, kind: str) -> ColumnPair:
    if kind == "numerical":
        return ColumnPair("numerical", profile_numerical(pd.Series(ref)), profile_numerical(pd.Series(cur)))
    return ColumnPair("categorical", profile_categorical(pd.Series(ref)), profile_categorical(pd.Series(cur)))


def score(method: DriftMethod, ref: list, cur: list, kind: str) -> float | None:
    try:
        return method.compute(pairs_for(method, ref, cur, kind))
    except NotTestable:
        return None


def cases() -> list[tuple[str, str]]:
    return [(name, kind) for name in registered_methods() for kind in sorted(get_method(name).kinds)]


@pytest.mark.parametrize(("name", "kind"), cases())
def test_identical_samples_do_not_drift(name: str, kind: str) -> None:
    method = get_method(name)
    strategy = numbers if kind == "numerical" else categories

    @SETTINGS
    @given(strategy)
    def check(values: list) -> None:
        value = score(method, values, list(values), kind)
        if value is None or np.isnan(value):
            return  # not testable (e.g. constant values for es) is a status, not a drift
        assert not method.is_drift(value, method.default_threshold), value

    check()


@pytest.mark.parametrize(("name", "kind"), cases())
def test_scores_stay_in_range_and_symmetric_methods_are_symmetric(name: str, kind: str) -> None:
    method = get_method(name)
    strategy = numbers if kind == "numerical" else categories
    lower, upper = method.bounds

    @SETTINGS
    @given(strategy, strategy)
    def check(ref: list, cur: list) -> None:
        forward = score(method, ref, cur, kind)
        if forward is None or np.isnan(forward):
            return
        if lower is not None:
            assert forward >= lower - 1e-12
        if upper is not None:
            assert forward <= upper + 1e-12
        if method.symmetric:
            backward = score(method, cur, ref, kind)
            assert backward == pytest.approx(forward, rel=1e-9, abs=1e-12)

    check()


@SETTINGS
@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=30), st.sampled_from(["bh", "bonferroni", "none"]))
def test_adjusted_p_values_are_at_least_raw_and_at_most_one(p: list[float], correction: str) -> None:
    adjusted = adjust_p_values(p, correction)
    assert np.all(adjusted >= np.asarray(p))
    assert np.all(adjusted <= 1.0)


@SETTINGS
@given(
    st.lists(st.floats(-100, 100, allow_nan=False), min_size=1, max_size=60),
    st.lists(st.floats(-100, 100, allow_nan=False), min_size=1, max_size=60),
)
def test_quantile_wasserstein_equals_scipy(u: list[float], v: list[float]) -> None:
    from scipy.stats import wasserstein_distance

    expected = wasserstein_distance(u, v)
    got = wasserstein_sorted(np.sort(np.asarray(u)), np.sort(np.asarray(v)))
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-9)
