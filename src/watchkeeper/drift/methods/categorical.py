"""Categorical drift methods, computed from category counts over the union of both sides.

Registry names and conventions follow Evidently 0.7.23 (`legacy/calculations/stattests/`):

- ``chisquare``: Pearson's chi-square p-value of the current counts against the reference counts
  scaled to the current size; drift at p < t (default 0.05). A category unseen in the reference
  has zero expectation, so its p-value is 0, as in Evidently.
- ``z``: two-proportion Z-test p-value on "first sorted category vs the rest", 1 when both sides
  hold the same single value; drift at p < t (default 0.05).
- ``g_test``: G-test (log-likelihood ratio) p-value of current against reference counts; drift at
  p < t (default 0.1). Evidently uses the raw reference counts, which scipy accepts only when both
  sides have the same size; Watchkeeper scales them to the current size, which is identical then.
- ``fisher_exact``: Fisher's exact test p-value on the 2×2 table of a binary column; drift at
  p < t (default 0.1). Columns with more than two values are not testable.
- ``TVD``: permutation p-value (1000 permutations, seed 0, as Evidently) of the total variation
  distance; drift at p < t (default 0.1). The draw and the order of summation are Evidently's, so
  ties between the observed and permuted distances break the same way.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import stats

from watchkeeper.drift.profile import CategoricalProfile
from watchkeeper.drift.registry import NotTestable, register_method
from watchkeeper.drift.samples import ColumnPair

TVD_PERMUTATIONS = 1000


@register_method(
    "chisquare",
    display_name="chi-square p_value",
    kinds=("categorical",),
    default_threshold=0.05,
    score_type="p_value",
    drift_when="<",
    symmetric=False,
)
def chisquare(pair: ColumnPair) -> float:
    d = pair.discrete
    f_exp = d.ref_counts * (pair.n_cur / pair.n_ref)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(stats.chisquare(d.cur_counts, f_exp)[1])


@register_method(
    "z",
    display_name="Z-test p_value",
    kinds=("categorical",),
    default_threshold=0.05,
    score_type="p_value",
    drift_when="<",
    symmetric=True,
)
def z_test(pair: ColumnPair) -> float:
    d = pair.discrete
    if pair.ref_nunique == 1 and pair.cur_nunique == 1 and np.all((d.ref_counts > 0) == (d.cur_counts > 0)):
        return 1.0
    try:
        first = min(d.keys.tolist())
    except TypeError as exc:
        raise NotTestable(f"z needs sortable values ({exc})") from None
    i = d.keys.tolist().index(first)
    n1, n2 = pair.n_ref, pair.n_cur
    p1 = float(n1 - d.ref_counts[i]) / n1
    p2 = float(n2 - d.cur_counts[i]) / n2
    p = float(p1 * n1 + p2 * n2) / (n1 + n2)
    with np.errstate(all="ignore"):
        z = (p1 - p2) / np.sqrt(p * (1 - p) * (1.0 / n1 + 1.0 / n2))
        return float(2 * (1 - stats.norm.cdf(np.abs(z))))


@register_method(
    "g_test",
    display_name="g_test",
    kinds=("categorical",),
    default_threshold=0.1,
    score_type="p_value",
    drift_when="<",
    symmetric=False,
)
def g_test(pair: ColumnPair) -> float:
    d = pair.discrete
    f_exp = d.ref_counts * (pair.n_cur / pair.n_ref) if pair.n_cur != pair.n_ref else d.ref_counts
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(stats.power_divergence(d.cur_counts, f_exp, lambda_="log-likelihood")[1])


@register_method(
    "fisher_exact",
    display_name="Fisher's Exact test",
    kinds=("categorical",),
    default_threshold=0.1,
    score_type="p_value",
    drift_when="<",
    symmetric=True,
)
def fisher_exact(pair: ColumnPair) -> float:
    d = pair.discrete
    if d.keys.size > 2:
        raise NotTestable(f"fisher_exact needs a binary column; found {d.keys.size} values")
    ones_ref = int(d.ref_counts[0])
    ones_cur = int(d.cur_counts[0])
    table = np.array([[ones_cur, pair.n_cur - ones_cur], [ones_ref, pair.n_ref - ones_ref]])
    return float(stats.fisher_exact(table)[1])


def _tvd(ref_counts: np.ndarray, cur_counts: np.ndarray, order: np.ndarray) -> float:
    ref = ref_counts[order]
    cur = cur_counts[order]
    return float(0.5 * np.sum(np.abs(ref / ref.sum() - cur / cur.sum())))


def _first_seen_order(codes: np.ndarray, n_categories: int) -> np.ndarray:
    """Category codes present in `codes`, in order of first appearance."""
    first = np.full(n_categories, codes.size, dtype=np.int64)
    np.minimum.at(first, codes, np.arange(codes.size))
    present = np.flatnonzero(first < codes.size)
    return present[np.argsort(first[present], kind="stable")]


@register_method(
    "TVD",
    display_name="Total-Variation-Distance",
    kinds=("categorical",),
    default_threshold=0.1,
    score_type="p_value",
    drift_when="<",
    symmetric=False,
)
def tvd(pair: ColumnPair) -> float:
    ref, cur = pair.reference, pair.current
    if not (isinstance(ref, CategoricalProfile) and isinstance(cur, CategoricalProfile)):
        raise NotTestable("TVD applies to categorical columns")
    d = pair.discrete
    k = d.keys.size
    observed = _tvd(d.ref_counts, d.cur_counts, pair.evidently_key_order())
    # Evidently permutes `ref.tolist() + cur.tolist()` with np.random.choice after seeding 0, i.e.
    # RandomState(0).permutation(N)[:n_ref] each round; keys are then iterated in set order of
    # first appearance, which is rebuilt here so that the float sums (and ties) match.
    union_codes = np.concatenate([ref.codes.astype(np.int64), pair._cur_to_union[cur.codes]])
    # Combined first-appearance order: Evidently's Counter keeps it for the "current" remainder.
    combined_order = _first_seen_order(union_codes, k).tolist()
    total = np.bincount(union_codes, minlength=k)
    keys = d.keys.tolist()
    position = {key: i for i, key in enumerate(keys)}
    n_ref = pair.n_ref
    rng = np.random.RandomState(0)
    exceed = 0
    for _ in range(TVD_PERMUTATIONS):
        idx = rng.permutation(union_codes.size)[:n_ref]
        new_ref_codes = union_codes[idx]
        ref_counts = np.bincount(new_ref_codes, minlength=k)
        cur_counts = total - ref_counts
        ref_first = _first_seen_order(new_ref_codes, k).tolist()
        cur_first = [c for c in combined_order if cur_counts[c] > 0]
        ordered = set([keys[c] for c in ref_first]) | set([keys[c] for c in cur_first])
        order = np.array([position[key] for key in ordered], dtype=np.int64)
        exceed += observed <= abs(_tvd(ref_counts, cur_counts, order))
    return exceed / TVD_PERMUTATIONS
