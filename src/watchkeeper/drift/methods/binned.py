"""Distances between binned distributions, for numerical and categorical columns.

Registry names and conventions follow Evidently 0.7.23 (`legacy/calculations/stattests/`); the
binning is `ColumnPair.binned` (Sturges bins on reference+current for numerical columns with more
than 20 unique reference values, values as categories otherwise):

- ``jensenshannon``: Jensen–Shannon distance (natural log, scipy) of the binned shares, without the
  empty-bin epsilon; drift at d >= t (default 0.1). Also the categorical effect size.
- ``psi``: population stability index Σ (r − c)·ln(r / c) with the empty-bin epsilon; d >= t (0.1).
- ``kl_div``: Kullback–Leibler divergence KL(reference ‖ current) (scipy `entropy`) with the
  empty-bin epsilon; drift at d >= t (default 0.1).
- ``hellinger``: Hellinger distance. Categorical: over the category shares. Numerical: over density
  histograms whose Sturges bins are built on the *distinct* values of both sides, times Evidently's
  mean bin width. Summed in Evidently's order so that identical samples give the same tiny value.

Jensen–Shannon and PSI are symmetric formulas, but the binning of a numerical column depends on
the *reference's* number of unique values, so swapping the windows can change the bins; they are
registered as not symmetric.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats
from scipy.spatial import distance

from watchkeeper.drift.registry import register_method
from watchkeeper.drift.samples import ColumnPair, histogram_sorted, sturges_edges


def jensenshannon_distance(pair: ColumnPair) -> float:
    ref, cur = pair.binned(fill=False)
    return float(distance.jensenshannon(ref, cur))


@register_method(
    "jensenshannon",
    display_name="Jensen-Shannon distance",
    kinds=("categorical", "numerical"),
    default_threshold=0.1,
    score_type="distance",
    drift_when=">=",
    symmetric=False,
    bounds=(0.0, math.sqrt(math.log(2))),
)
def jensenshannon(pair: ColumnPair) -> float:
    return jensenshannon_distance(pair)


@register_method(
    "psi",
    display_name="PSI",
    kinds=("categorical", "numerical"),
    default_threshold=0.1,
    score_type="distance",
    drift_when=">=",
    symmetric=False,
)
def psi(pair: ColumnPair) -> float:
    ref, cur = pair.binned(fill=True)
    return float(np.sum((ref - cur) * np.log(ref / cur)))


@register_method(
    "kl_div",
    display_name="Kullback-Leibler divergence",
    kinds=("categorical", "numerical"),
    default_threshold=0.1,
    score_type="distance",
    drift_when=">=",
    symmetric=False,
)
def kl_div(pair: ColumnPair) -> float:
    ref, cur = pair.binned(fill=True)
    return float(stats.entropy(ref, cur))


@register_method(
    "hellinger",
    display_name="Hellinger distance",
    kinds=("categorical", "numerical"),
    default_threshold=0.1,
    score_type="distance",
    drift_when=">=",
    symmetric=True,
    bounds=(0.0, 1.0),
)
def hellinger(pair: ColumnPair) -> float:
    d = pair.discrete
    total = 0.0
    if pair.kind == "categorical":
        ref = d.ref_counts / pair.n_ref
        cur = d.cur_counts / pair.n_cur
        for i in pair.evidently_key_order().tolist():
            total += math.sqrt(float(ref[i]) * float(cur[i]))
    else:
        keys = d.keys
        edges = sturges_edges(keys[0], keys[-1], keys.size, pair.is_integer)
        widths = np.diff(edges)
        h1 = histogram_sorted(pair.ref_sorted, edges)
        h2 = histogram_sorted(pair.cur_sorted, edges)
        # np.histogram(density=True) divides by the bin width first, then by the total.
        d1 = h1 / widths / h1.sum()
        d2 = h2 / widths / h2.sum()
        bin_width = (edges.max() - edges.min()) / (len(edges) - 1)
        for p1, p2 in zip(d1.tolist(), d2.tolist(), strict=True):
            total += math.sqrt(p1 * p2) * bin_width
    return math.sqrt(1 - min(max(total, 0.0), 1.0))
