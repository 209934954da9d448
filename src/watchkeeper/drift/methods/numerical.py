"""Numerical drift methods, computed from each side's values sorted once.

Registry names and conventions follow Evidently 0.7.23 (`legacy/calculations/stattests/`):

- ``ks``: two-sample Kolmogorov–Smirnov p-value (scipy `ks_2samp`, two-sided); drift at p <= t.
- ``wasserstein``: Wasserstein-1 distance divided by the reference's population std, floored at
  0.001; drift at d >= t (default 0.1). Computed through the quantile functions of the sorted
  samples, which is linear time once sorted.
- ``anderson``: k-sample Anderson–Darling p-value (scipy caps it to [0.001, 0.25]); drift at p < t.
- ``cramer_von_mises``: two-sample Cramér–von Mises p-value (exact up to 20 values per side, else
  asymptotic), as scipy and Evidently compute it; drift at p <= t.
- ``ed``: energy distance (scipy); drift at d > t.
- ``es``: Epps–Singleton p-value; not testable when the pooled interquartile range is 0.
- ``t_test``: Student's t-test p-value (equal variances); drift at p < t.
- ``mannw``: Mann–Whitney U p-value with Evidently's one-sided alternative "less"; drift at p < t.
- ``empirical_mmd``: permutation p-value of the unbiased squared MMD with an RBF kernel whose
  bandwidth is the median heuristic on the reference (100 permutations). Evidently draws the
  permutations from NumPy's unseeded global generator, so its p-value changes between runs;
  Watchkeeper seeds the draw (seed 0) and permutes the values in sorted order, so it is
  reproducible. The kernel matrix is (n+m)², so samples above `MMD_MAX_VALUES` are not testable.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy import stats

from watchkeeper.drift.registry import NotTestable, register_method
from watchkeeper.drift.samples import ColumnPair

MMD_MAX_VALUES = 10_000
MMD_PERMUTATIONS = 100


def _need(pair: ColumnPair, minimum: int, name: str) -> None:
    if pair.n_ref < minimum or pair.n_cur < minimum:
        raise NotTestable(f"{name} needs at least {minimum} values on each side")


@register_method(
    "ks",
    display_name="K-S p_value",
    kinds=("numerical",),
    default_threshold=0.05,
    score_type="p_value",
    drift_when="<=",
    symmetric=True,
)
def ks(pair: ColumnPair) -> float:
    return float(stats.ks_2samp(pair.ref_sorted, pair.cur_sorted).pvalue)


def wasserstein_sorted(u: np.ndarray, v: np.ndarray) -> float:
    """Wasserstein-1 distance of two sorted samples: ∫₀¹ |F⁻¹(t) − G⁻¹(t)| dt.

    The quantile functions are step functions with breaks at a/n and b/m; each break's rank in the
    merged grid has a closed form, so no second sort or search is needed.
    """
    n, m = u.size, v.size
    if n == m:
        return float(np.mean(np.abs(u - v)))
    g = math.gcd(n, m)
    a = np.arange(1, n + 1, dtype=np.int64)
    b = np.arange(1, m + 1, dtype=np.int64)
    pos_u = (a - 1) + (a * m - 1) // n - (a * g - 1) // n
    pos_v = (b - 1) + (b * n - 1) // m - (b * g - 1) // m
    size = n + m - g
    t = np.empty(size)
    iu = np.empty(size, dtype=np.int64)
    iv = np.empty(size, dtype=np.int64)
    t[pos_u] = a / n
    iu[pos_u] = a - 1
    iv[pos_u] = (a * m - 1) // n
    t[pos_v] = b / m
    iu[pos_v] = (b * n - 1) // m
    iv[pos_v] = b - 1
    dt = np.diff(t, prepend=0.0)
    return float(np.dot(np.abs(u[iu] - v[iv]), dt))


def normed_wasserstein(pair: ColumnPair) -> float:
    """Evidently's normed Wasserstein distance (also the numerical effect size)."""
    norm = max(float(np.std(pair.ref_sorted)), 0.001)
    return wasserstein_sorted(pair.ref_sorted, pair.cur_sorted) / norm


@register_method(
    "wasserstein",
    display_name="Wasserstein distance (normed)",
    kinds=("numerical",),
    default_threshold=0.1,
    score_type="distance",
    drift_when=">=",
    symmetric=False,
)
def wasserstein(pair: ColumnPair) -> float:
    return normed_wasserstein(pair)


@register_method(
    "anderson",
    display_name="Anderson-Darling",
    kinds=("numerical",),
    default_threshold=0.1,
    score_type="p_value",
    drift_when="<",
    symmetric=True,
)
def anderson(pair: ColumnPair) -> float:
    _need(pair, 1, "anderson")
    with warnings.catch_warnings():
        # scipy warns when it caps the p-value to [0.001, 0.25]; Evidently reports the capped value.
        warnings.simplefilter("ignore")
        return float(stats.anderson_ksamp([pair.ref_sorted, pair.cur_sorted])[2])


@register_method(
    "cramer_von_mises",
    display_name="Cramer-von Mises",
    kinds=("numerical",),
    default_threshold=0.1,
    score_type="p_value",
    drift_when="<=",
    symmetric=True,
)
def cramer_von_mises(pair: ColumnPair) -> float:
    _need(pair, 2, "cramer_von_mises")
    x, y = pair.ref_sorted, pair.cur_sorted
    nx, ny = x.size, y.size
    if max(nx, ny) > 20:
        # The asymptotic branch is scipy's and Evidently's alike.
        return float(stats.cramervonmises_2samp(x, y, method="asymptotic").pvalue)
    # Small samples: Evidently's copy of scipy's older exact distribution, whose values differ
    # slightly from the exact method of current scipy; keep Evidently's.
    ranks = stats.rankdata(np.concatenate([x, y]), method="average")
    u = nx * np.sum((ranks[:nx] - np.arange(1, nx + 1)) ** 2)
    u += ny * np.sum((ranks[nx:] - np.arange(1, ny + 1)) ** 2)
    return _pval_cvm_2samp_exact(u, nx, ny)


def _pval_cvm_2samp_exact(s: float, m: int, n: int) -> float:
    """Evidently 0.7.23's `_pval_cvm_2samp_exact` (from scipy 1.7), for at most 20 values a side.

    Evidently sizes the work arrays with ``np.min_scalar_type(max(zeta_bound, combinations))``,
    which is sometimes float16 (so its p-values are rounded) and sometimes a small unsigned
    integer that NumPy 2 refuses to add to (Evidently then raises). Watchkeeper keeps Evidently's
    dtype, and thus its numbers, where Evidently gives one, and counts in int64 (exact) where
    Evidently fails. The loops run over the sample sizes (at most 21 × 21 steps), not over rows.
    """
    lcm = np.lcm(m, n)
    zeta_bound = lcm**2 * (m + n)
    combinations = math.factorial(m + n) / (math.factorial(m) * math.factorial(n))
    try:
        return _cvm_exact_counts(s, m, n, np.min_scalar_type(max(zeta_bound, combinations)))
    except TypeError:  # NumPy's UFuncOutputCastingError
        return _cvm_exact_counts(s, m, n, np.dtype(np.int64))


def _cvm_exact_counts(s: float, m: int, n: int, dtype: np.dtype) -> float:
    lcm = np.lcm(m, n)
    a = lcm // m
    b = lcm // n
    mn = m * n
    zeta = lcm**2 * (m + n) * (6 * s - mn * (4 * mn - 1)) // (6 * mn**2)
    combinations = math.factorial(m + n) / (math.factorial(m) * math.factorial(n))
    gs = [np.array([[0], [1]], dtype=dtype)] + [np.empty((2, 0), dtype=dtype) for _ in range(m)]
    for u in range(n + 1):
        next_gs = []
        tmp = np.empty((2, 0), dtype=dtype)
        for v, g in enumerate(gs):
            vi, i0, i1 = np.intersect1d(tmp[0], g[0], return_indices=True)
            tmp = np.concatenate(
                [np.stack([vi, tmp[1, i0] + g[1, i1]]), np.delete(tmp, i0, 1), np.delete(g, i1, 1)], 1
            )
            tmp[0] += (a * v - b * u) ** 2
            next_gs.append(tmp)
        gs = next_gs
    value, freq = gs[m]
    return float(np.sum(freq[value >= zeta]) / combinations)
