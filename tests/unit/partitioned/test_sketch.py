"""Property tests: every sketched figure's interval holds the exact value, and merging is exact.

The exact values come from the in-memory implementations (the drift methods on sorted values,
`ranking_metrics`, `numpy.percentile`), so the bounds are checked against what the window in memory
would report, over arbitrary data: ties, discrete values, heavy tails, values beyond the reference.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from watchkeeper.drift.methods.numerical import wasserstein_sorted
from watchkeeper.partitioned.sketch import (
    LatencySketch,
    NumericSketch,
    ScoreSketch,
    ks_bounded,
    ks_statistic_bounds,
    numeric_grid,
    ranking_bounded,
    wasserstein_bounded,
)
from watchkeeper.performance.metrics import ranking_metrics

SAMPLES = st.sampled_from(["normal", "lognormal", "integers", "shifted", "constant"])


def _draw(kind: str, rng: np.random.Generator, n: int) -> np.ndarray:
    if kind == "normal":
        return rng.normal(size=n)
    if kind == "lognormal":
        return rng.lognormal(0.0, 1.5, size=n)
    if kind == "integers":
        return rng.integers(0, 12, size=n).astype(np.float64)
    if kind == "shifted":  # beyond the reference's range on both sides
        return rng.normal(3.0, 4.0, size=n)
    return np.full(n, 2.5)


def _sketch(values: np.ndarray, grid: np.ndarray, parts: int) -> NumericSketch:
    out = NumericSketch.empty(grid)
    for chunk in np.array_split(values, parts):
        one = NumericSketch.empty(grid)
        one.add(chunk)
        out = out.merge(one)
    return out


@settings(max_examples=40, deadline=None)
@given(
    ref_kind=SAMPLES,
    cur_kind=SAMPLES,
    n_ref=st.integers(2, 3000),
    n_cur=st.integers(1, 5000),
    seed=st.integers(0, 2**31),
    parts=st.integers(1, 9),
)
def test_numeric_bounds_hold(
    ref_kind: str, cur_kind: str, n_ref: int, n_cur: int, seed: int, parts: int
) -> None:
    rng = np.random.default_rng(seed)
    ref = np.sort(_draw(ref_kind, rng, n_ref))
    cur = _draw(cur_kind, rng, n_cur)
    sketch = _sketch(cur, numeric_grid(ref), parts)
    assert sketch.n == n_cur
    w = wasserstein_bounded(ref, sketch)
    exact = wasserstein_sorted(ref, np.sort(cur)) / max(float(np.std(ref)), 0.001)
    assert w.low <= exact <= w.high
    d_lo, d_hi = ks_statistic_bounds(ref, sketch)
    exact_ks = stats.ks_2samp(ref, cur)
    assert d_lo <= exact_ks.statistic <= d_hi
    # The p-value as the in-memory `ks` method computes it (exact below 10,000 values per side).
    p = ks_bounded(ref, sketch)
    assert p.low - 1e-12 <= exact_ks.pvalue <= p.high + 1e-12


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    n=st.integers(2, 4000),
    parts=st.integers(1, 7),
    round_to=st.sampled_from([0, 2, 6]),
)
def test_ranking_bounds_hold(seed: int, n: int, parts: int, round_to: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    y[0], y[1] = 0, 1  # both classes present
    score = np.clip(rng.normal(0.4 + 0.2 * y, 0.25), 0.0, 1.0)
    if round_to:  # ties, as rounded scores give
        score = np.round(score, round_to)
    sketch = ScoreSketch.empty(2)
    for idx in np.array_split(np.arange(n), parts):
        one = ScoreSketch.empty(2)
        one.add(y[idx], score[idx])
        sketch = sketch.merge(one)
    auc, ap = ranking_bounded(sketch.counts[1], sketch.counts[0])
    exact_auc, exact_ap = ranking_metrics(y == 1, score)
    assert auc.low - 1e-12 <= exact_auc <= auc.high + 1e-12
    assert ap.low - 1e-12 <= exact_ap <= ap.high + 1e-12


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31), n=st.integers(1, 5000), q=st.sampled_from([50, 90, 95, 99]))
def test_latency_percentile_bounds_hold(seed: int, n: int, q: int) -> None:
    rng = np.random.default_rng(seed)
    latency = np.round(rng.lognormal(3.5, 0.8, n), 2)
    sketch = LatencySketch.empty()
    sketch.add(latency)
    b = sketch.percentile(q)
    exact = float(np.percentile(latency, q))
    assert b.low <= exact <= b.high
    assert b.high <= b.low * 1.0101 + 1e-9  # one 1% bin, or two neighbours' shared edge


def test_merge_is_associative_and_order_free_for_counts() -> None:
    rng = np.random.default_rng(3)
    ref = np.sort(rng.normal(size=2000))
    grid = numeric_grid(ref)
    a, b, c = (_sketch(rng.normal(size=500), grid, 1) for _ in range(3))
    left, right = a.merge(b).merge(c), a.merge(b.merge(c))
    for field in ("counts", "mins", "maxs"):
        assert np.array_equal(getattr(left, field), getattr(right, field))
    assert np.allclose(left.sums, right.sums, rtol=1e-12)


def test_category_counts_accept_object_category_and_arrow_dictionary() -> None:
    import pandas as pd
    import pyarrow as pa

    from watchkeeper.partitioned.state import CategoryState, hash_values

    values = ["a", "b", None, "a", "c", "a"]
    as_object = pd.Series(values, dtype=object)
    as_category = as_object.astype("category")
    as_arrow = pd.Series(pd.arrays.ArrowExtensionArray(pa.array(values).dictionary_encode()))
    states = []
    for series in (as_object, as_category, as_arrow):
        state = CategoryState()
        state.add(series)
        states.append(dict(zip(state.categories.tolist(), state.counts.tolist(), strict=True)))
        assert (state.n_rows, state.n_missing) == (6, 1)
    assert states[0] == states[1] == states[2] == {"a": 3, "b": 1, "c": 1}
    # Equal values hash equally whatever the storage (duplicates across partitions of mixed types).
    present = as_object.notna()
    assert np.array_equal(hash_values(as_object[present]), hash_values(as_category[present]))


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    n_ref=st.integers(2, 3000),
    n_cur=st.integers(1, 5000),
    parts=st.integers(1, 5),
)
def test_ks_of_a_discrete_column_is_exact(seed: int, n_ref: int, n_cur: int, parts: int) -> None:
    # Each bin holds one distinct value: the window's CDF is known everywhere.
    rng = np.random.default_rng(seed)
    ref = np.sort(rng.integers(0, 12, size=n_ref).astype(np.float64))
    cur = rng.integers(0, 14, size=n_cur).astype(np.float64)
    d_lo, d_hi = ks_statistic_bounds(ref, _sketch(cur, numeric_grid(ref), parts))
    assert d_hi - d_lo <= 3e-12
    assert d_lo <= stats.ks_2samp(ref, cur).statistic <= d_hi
