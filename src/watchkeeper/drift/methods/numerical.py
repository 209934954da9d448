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


def _last_breaks(k: int, other: int) -> np.ndarray:
    """``(np.arange(1, k + 1) * other - 1) // k``: for each break i/k of one grid, the number of
    the other grid's breaks j/other strictly before it.

    A non-decreasing step function of i: value j holds from i = ⌊j·k/other⌋ + 1 on. When the other
    grid is the smaller one, its runs are counted (`other` divisions and a repeat) instead of
    dividing once per i; both give the same integers.
    """
    if other >= k:
        return (np.arange(1, k + 1, dtype=np.int64) * other - 1) // k
    starts = (np.arange(other + 1, dtype=np.int64) * k) // other
    return np.repeat(np.arange(other, dtype=np.int64), np.diff(starts))


def _fractions(k: int) -> tuple[np.ndarray, np.ndarray]:
    """(i / k, (i − 1) / k) for i = 1..k in one division pass: (i − 1) / k is the previous i / k."""
    upper = np.arange(1, k + 1, dtype=np.int64) / k
    lower = np.empty_like(upper)
    lower[0] = 0.0
    lower[1:] = upper[:-1]
    return upper, lower


def wasserstein_sorted(u: np.ndarray, v: np.ndarray) -> float:
    """Wasserstein-1 distance of two sorted samples: ∫₀¹ |F⁻¹(t) − G⁻¹(t)| dt.

    The quantile functions are steps with breaks at a/n and b/m. Each segment of the merged grid
    ends at one break; for a break of u at a/n, the last break of v before it is ⌈am/n⌉−1 over m
    (integer arithmetic), which gives the segment's start and both step values in closed form, so
    no merge, search or second sort is needed. Breaks shared by both grids are counted once.
    Equal sizes reduce to the mean absolute difference of the order statistics.
    """
    n, m = u.size, v.size
    if n == m:
        diff = np.subtract(u, v)
        np.abs(diff, out=diff)
        return float(diff.mean())
    jv = _last_breaks(n, m)  # v-breaks strictly before a/n = the v step value in this segment
    a_hi, a_lo = _fractions(n)
    start = np.maximum(a_lo, jv / m)
    total = float(np.dot(np.abs(u - v[jv]), a_hi - start))
    del jv, start, a_hi, a_lo
    iu = _last_breaks(m, n)
    b_hi, b_lo = _fractions(m)
    width = b_hi - np.maximum(b_lo, iu / n)
    period = m // math.gcd(n, m)
    width[period - 1 :: period] = 0.0  # shared breaks (b a multiple of the period): counted on the u side
    return total + float(np.dot(np.abs(u[iu] - v), width))


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
    lo = min(pair.ref_sorted[0], pair.cur_sorted[0])
    hi = max(pair.ref_sorted[-1], pair.cur_sorted[-1])
    if lo == hi:
        raise NotTestable("anderson needs at least two distinct values")
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


@register_method(
    "ed",
    display_name="Energy-distance",
    kinds=("numerical",),
    default_threshold=0.1,
    score_type="distance",
    drift_when=">",
    symmetric=True,
)
def energy(pair: ColumnPair) -> float:
    return float(stats.energy_distance(pair.ref_sorted, pair.cur_sorted))


@register_method(
    "es",
    display_name="Epps-Singleton",
    kinds=("numerical",),
    default_threshold=0.05,
    score_type="p_value",
    drift_when="<",
    symmetric=True,
)
def epps_singleton(pair: ColumnPair) -> float:
    _need(pair, 5, "es")
    if stats.iqr(np.concatenate([pair.ref_sorted, pair.cur_sorted])) == 0:
        raise NotTestable("es needs a non-zero interquartile range")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy warns on a rank-deficient covariance; p stays valid
        return float(stats.epps_singleton_2samp(pair.ref_sorted, pair.cur_sorted)[1])


@register_method(
    "t_test",
    display_name="t_test",
    kinds=("numerical",),
    default_threshold=0.05,
    score_type="p_value",
    drift_when="<",
    symmetric=True,
)
def t_test(pair: ColumnPair) -> float:
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant samples: scipy warns and returns NaN
        return float(stats.ttest_ind(pair.ref_sorted, pair.cur_sorted)[1])


@register_method(
    "mannw",
    display_name="Mann-Whitney U-rank test",
    kinds=("numerical",),
    default_threshold=0.05,
    score_type="p_value",
    drift_when="<",
    symmetric=False,
)
def mann_whitney(pair: ColumnPair) -> float:
    return float(stats.mannwhitneyu(pair.ref_sorted, pair.cur_sorted, alternative="less")[1])


def _mmd_from_sums(s_xx: np.ndarray, s_yy: np.ndarray, s_xy: np.ndarray, nx: int, ny: int) -> np.ndarray:
    a = 1 / (nx * (nx - 1))
    b = 1 / (ny * (ny - 1))
    return a * s_xx + b * s_yy - 2.0 * s_xy / (nx * ny)


def mmd_p_value(x: np.ndarray, y: np.ndarray, permutations: int = MMD_PERMUTATIONS, seed: int = 0) -> float:
    """Evidently's `mmd_pval` with a seeded draw; block sums instead of permuted matrix copies."""
    nx, ny = x.size, y.size
    xx = (x[None, :] ** 2) - 2 * np.outer(x, x) + (x[:, None] ** 2)
    sigma = (0.5 * np.percentile(xx.ravel(), 50, method="nearest")) ** 0.5
    sigma = float(sigma) if sigma != 0 else 0.5**0.5
    gamma = 1.0 / (2.0 * sigma**2)
    z = np.concatenate([x, y])
    kernel = np.exp(-gamma * ((z[None, :] ** 2) - 2 * np.outer(z, z) + (z[:, None] ** 2)))
    np.fill_diagonal(kernel, 0.0)
    n = nx + ny
    # Membership of each row in the "x" block, for the observed split and every permutation:
    # sum(Kxx) = sᵀKs, sum(Kyy) = (1−s)ᵀK(1−s), sum(Kxy) = sᵀK(1−s).
    rng = np.random.RandomState(seed)
    split = np.zeros((n, permutations + 1))
    split[:nx, 0] = 1.0
    for i in range(permutations):
        split[rng.permutation(n)[:nx], i + 1] = 1.0
    ks_ = kernel @ split
    total = kernel.sum(axis=1)
    s_xx = np.einsum("ij,ij->j", split, ks_)
    s_xy = np.einsum("ij,ij->j", 1.0 - split, ks_)
    s_yy = np.einsum("ij,ij->j", 1.0 - split, total[:, None] - ks_)
    mmd = _mmd_from_sums(s_xx, s_yy, s_xy, nx, ny)
    return float(np.mean(mmd[0] <= mmd[1:]))


@register_method(
    "empirical_mmd",
    display_name="empirical_mmd",
    kinds=("numerical",),
    default_threshold=0.1,
    score_type="p_value",
    drift_when="<",
    symmetric=False,
)
def empirical_mmd(pair: ColumnPair) -> float:
    _need(pair, 2, "empirical_mmd")
    if pair.n_ref + pair.n_cur > MMD_MAX_VALUES:
        raise NotTestable(
            f"empirical_mmd builds an (n+m)² kernel matrix; {pair.n_ref + pair.n_cur} values exceed "
            f"the limit of {MMD_MAX_VALUES}"
        )
    return mmd_p_value(pair.ref_sorted, pair.cur_sorted)
