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
    return float(stats.cramervonmises_2samp(pair.ref_sorted, pair.cur_sorted).pvalue)


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
