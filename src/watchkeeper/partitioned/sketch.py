"""Mergeable sketches for the figures that need order statistics, each with a proven error bound.

A window beyond the memory budget cannot keep every value, so the order-statistics figures are
computed from fixed-grid histograms whose counts simply add across partitions (the merge is
associative and exact: integer counts). Each figure comes with a bound that holds for every data
set, computed from the same counts:

- `NumericSketch` (drift of a numerical column): the grid is the reference's 10,000 quantiles
  (NannyML's choice for KS and Wasserstein on large references), widened by equal-width bins past
  both ends and closed by two overflow bins whose outer edges are the window's exact min and max.
  *Wasserstein-1*: each bin's mass is moved to its midpoint; moving mass costs at most half a bin
  width per unit, so by the triangle inequality |W(ref, cur) − W(ref, cur')| ≤ Σ pᵢ·wᵢ/2 (pᵢ the
  window's share in bin i, wᵢ its width). *KS*: the window's CDF is exact at every grid edge and
  monotone between them, which brackets the statistic D in [D_lo, D_hi]; the p-value interval follows
  (the p-value falls as D grows), from scipy's exact distribution up to 10,000 values per side (as
  `ks_2samp` chooses), the asymptotic one above.
- `ScoreSketch` (ROC AUC, average precision): per class, counts of scores on 10,000 equal bins of
  [0, 1]. Only the order of a positive and a negative within one bin is unknown, so the AUC error
  is at most ½ Σ pos_b·neg_b / (P·N); average precision is bracketed by putting each bin's positives
  first or last.
- `LatencySketch` (latency percentiles): log-spaced bins 1% wide; the order statistics a
  percentile interpolates between lie in their bins, so the relative error is below 1% (the max is
  exact).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special, stats

REFERENCE_QUANTILES = 10_000
EXTENSION_BINS = 1_000
SCORE_BINS = 10_000
LATENCY_RELATIVE_WIDTH = 0.01
LATENCY_MIN_MS = 1e-3
LATENCY_MAX_MS = 1e8
ROUNDING = 1e-12  # bounds are widened by this much (relative) for floating-point rounding


@dataclass(frozen=True)
class Bounded:
    """An approximate figure: the point estimate and an interval that surely holds the exact value."""

    value: float
    low: float
    high: float

    @property
    def bound(self) -> float:
        """The largest distance from the estimate to the exact value."""
        return max(self.value - self.low, self.high - self.value)

    def decides(self, threshold: float) -> bool:
        """True when the whole interval lies on one side of `threshold` (the decision is exact)."""
        return not (self.low < threshold < self.high) and self.low != threshold and self.high != threshold


def numeric_grid(reference_sorted: np.ndarray, quantiles: int = REFERENCE_QUANTILES) -> np.ndarray:
    """The fixed grid of a numerical column: reference quantiles, widened past both ends."""
    if reference_sorted.size == 0:
        return np.zeros(0)
    inner = np.unique(np.quantile(reference_sorted, np.linspace(0.0, 1.0, quantiles + 1)))
    lo, hi = float(inner[0]), float(inner[-1])
    span = hi - lo if hi > lo else max(abs(lo), 1.0)
    below = np.linspace(lo - span, lo, EXTENSION_BINS + 1)[:-1]
    above = np.linspace(hi, hi + span, EXTENSION_BINS + 1)[1:]
    return np.concatenate([below, inner, above])


@dataclass
class NumericSketch:
    """Counts of a numerical column's finite values on a fixed grid, plus what was dropped.

    Bin 0 is below the grid, bin i (1..len(grid)-1) is [grid[i-1], grid[i]), the last bin is from
    the grid's end up. Per bin it also keeps the sum, min and max of its values (all merge exactly:
    sums add, mins and maxes take the min and max), so a bin holding one distinct value, as the
    bins of an integer column mostly do, contributes no error at all.
    """

    grid: np.ndarray
    counts: np.ndarray
    sums: np.ndarray
    mins: np.ndarray
    maxs: np.ndarray
    n_rows: int = 0
    n_missing: int = 0
    n_inf: int = 0

    @classmethod
    def empty(cls, grid: np.ndarray) -> NumericSketch:
        k = grid.size + 1
        return cls(grid, np.zeros(k, dtype=np.int64), np.zeros(k), np.full(k, np.inf), np.full(k, -np.inf))

    @property
    def n(self) -> int:
        return int(self.counts.sum())

    def add(self, values: np.ndarray) -> None:
        """Count a batch of values (float64; NaN counted missing, ±inf counted apart)."""
        self.n_rows += int(values.size)
        finite = np.isfinite(values)
        n_finite = int(np.count_nonzero(finite))
        if n_finite != values.size:
            nan = int(np.count_nonzero(np.isnan(values)))
            self.n_missing += nan
            self.n_inf += int(values.size) - n_finite - nan
            values = values[finite]
        if values.size == 0:
            return
        k = self.counts.size
        bins = np.searchsorted(self.grid, values, side="right")
        self.counts += np.bincount(bins, minlength=k)
        self.sums += np.bincount(bins, weights=values, minlength=k)
        # Per-bin min and max through one sort of (bin, value) pairs would cost more than this.
        np.minimum.at(self.mins, bins, values)
        np.maximum.at(self.maxs, bins, values)

    def merge(self, other: NumericSketch) -> NumericSketch:
        return NumericSketch(
            self.grid,
            self.counts + other.counts,
            self.sums + other.sums,
            np.minimum(self.mins, other.mins),
            np.maximum(self.maxs, other.maxs),
            self.n_rows + other.n_rows,
            self.n_missing + other.n_missing,
            self.n_inf + other.n_inf,
        )

    @property
    def missing_share(self) -> float | None:
        return (self.n_missing + self.n_inf) / self.n_rows if self.n_rows else None

    def bins(self) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper edges of every bin (overflow bins closed by the window's min and max)."""
        filled = self.counts > 0
        low = float(self.mins[filled].min()) if filled.any() else float(self.grid[0])
        high = float(self.maxs[filled].max()) if filled.any() else float(self.grid[-1])
        lower = np.concatenate([[min(low, self.grid[0])], self.grid])
        upper = np.concatenate([self.grid, [max(high, self.grid[-1])]])
        return lower, upper


def _cdf_left(sorted_values: np.ndarray, x: np.ndarray) -> np.ndarray:
    """P(X < x) of a sorted sample."""
    return np.searchsorted(sorted_values, x, side="left") / sorted_values.size


def wasserstein_bounded(reference_sorted: np.ndarray, current: NumericSketch) -> Bounded:
    """Wasserstein-1 of the exact reference and the sketched window, normed by the reference's std
    as Evidently's `wasserstein` method does.

    Each bin's mass is moved to the mean of its values. For mass on [a, b] with mean μ, that move
    costs at most 2(μ − a)(b − μ)/(b − a) per unit (the two-point distribution on a and b is the
    worst case), and nothing when a = b; by the triangle inequality the distance computed after
    the move is off by at most the sum of those costs.
    """
    keep = current.counts > 0
    mass = current.counts[keep] / current.n
    mean = np.clip(current.sums[keep] / current.counts[keep], current.mins[keep], current.maxs[keep])
    a, b = current.mins[keep], current.maxs[keep]
    width = b - a
    with np.errstate(invalid="ignore", divide="ignore"):
        cost = np.where(width > 0, 2.0 * (mean - a) * (b - mean) / width, 0.0)
    # ∫ |F_ref − F_cur'| over the merged breakpoints, both CDFs right-continuous step functions.
    order = np.argsort(mean, kind="stable")
    mean, mass = mean[order], mass[order]
    points = np.union1d(reference_sorted, mean)
    f_ref = np.searchsorted(reference_sorted, points, side="right") / reference_sorted.size
    f_cur = np.concatenate([[0.0], np.cumsum(mass)])[np.searchsorted(mean, points, side="right")]
    distance = float(np.sum(np.abs(f_ref - f_cur)[:-1] * np.diff(points)))
    error = float(np.sum((current.counts[keep] / current.n) * cost)) + ROUNDING * max(distance, 1.0)
    norm = max(float(np.std(reference_sorted)), 0.001)
    return Bounded(distance / norm, max(distance - error, 0.0) / norm, (distance + error) / norm)


def ks_statistic_bounds(reference_sorted: np.ndarray, current: NumericSketch) -> tuple[float, float]:
    """[D_lo, D_hi] bracketing the two-sample KS statistic of the reference and the window.

    Both CDFs are right-continuous. The window's is exact at every bin edge, below each bin's min
    (the bin's start value) and from its max on (its end value); only on [min, max) is it unknown,
    somewhere between those two. D_lo is the largest difference at the known points, D_hi adds the
    widest difference the unknown stretches allow; a bin holding one distinct value (an integer
    column's bins) has no unknown stretch, so a discrete column's statistic is exact.
    """
    ref = reference_sorted
    size = ref.size
    lower, upper = current.bins()
    cum = np.concatenate([[0], np.cumsum(current.counts)]) / current.n  # P(cur < lower edge of bin i)
    c_lo, c_hi = cum[:-1], cum[1:]
    filled = current.counts > 0
    mn = np.where(filled, current.mins, lower)
    mx = np.where(filled, current.maxs, lower)
    r_lo = _cdf_left(ref, lower)  # sup of F_ref below the bin's lower edge
    r_hi = _cdf_left(ref, upper)  # sup of F_ref inside the bin (the last bin is closed)
    r_hi[-1] = float(np.searchsorted(ref, upper[-1], side="right")) / size
    r_below_min = _cdf_left(ref, mn)  # F_ref just below the bin's min: the window's CDF is c_lo there
    r_at_max = np.searchsorted(ref, mx, side="right") / size  # F_ref at the bin's max: window c_hi
    known = np.maximum.reduce(
        [
            np.abs(r_lo - c_lo),
            np.abs(r_below_min - c_lo),
            np.where(filled, np.abs(r_at_max - c_hi), 0.0),
            np.abs(r_hi - c_hi),
        ]
    )
    d_lo = float(np.max(known))
    # On [min, max) the window's CDF lies in [c_lo, c_hi] and F_ref in [F_ref(min), F_ref(max−)].
    spread = filled & (mx > mn)
    r_at_min = np.searchsorted(ref, mn, side="right") / size
    r_below_max = _cdf_left(ref, mx)
    inside = np.where(spread, np.maximum(r_below_max - c_lo, c_hi - r_at_min), -np.inf)
    d_hi = float(max(d_lo, float(np.max(inside)) if inside.size else d_lo))
    # Widened by rounding: the exact statistic is a difference of two ratios computed elsewhere.
    return max(d_lo - ROUNDING, 0.0), min(d_hi + ROUNDING, 1.0)


SCIPY_EXACT_MAX_N = 10_000  # `ks_2samp(method="auto")` is exact up to this many values per side


def ks_p_value(statistic: float, n: int, m: int) -> float:
    """Two-sided two-sample KS p-value as the in-memory `ks` method (scipy's `ks_2samp`, method
    "auto") computes it for sample sizes n and m: exact up to 10,000 values per side (a small
    segment, a small window), else the asymptotic distribution. Both fall as the statistic grows;
    the exact one rounds it to the lattice of attainable values, which keeps a bracket a bracket."""
    if max(n, m) <= SCIPY_EXACT_MAX_N:
        # scipy's own exact distribution, the function `ks_2samp` calls.
        from scipy.stats._stats_py import _attempt_exact_2kssamp

        success, _, prob = _attempt_exact_2kssamp(n, m, math.gcd(n, m), statistic, "two-sided")
        if success:
            return float(np.clip(prob, 0.0, 1.0))
    en = n * m / (n + m)
    return float(np.clip(stats.kstwo.sf(statistic, np.round(en)), 0.0, 1.0))


def ks_bounded(reference_sorted: np.ndarray, current: NumericSketch) -> Bounded:
    """The KS p-value, bracketed through the statistic's bounds."""
    d_lo, d_hi = ks_statistic_bounds(reference_sorted, current)
    n, m = reference_sorted.size, current.n
    p_high, p_low = ks_p_value(d_lo, n, m), ks_p_value(d_hi, n, m)
    return Bounded(ks_p_value((d_lo + d_hi) / 2.0, n, m), p_low, p_high)


@dataclass
class ScoreSketch:
    """Per class, counts of a score on equal bins of [0, 1] (row = class code, column = bin)."""

    counts: np.ndarray  # int64, shape (n_classes, SCORE_BINS)

    @classmethod
    def empty(cls, n_classes: int, bins: int = SCORE_BINS) -> ScoreSketch:
        return cls(np.zeros((n_classes, bins), dtype=np.int64))

    def add(self, classes: np.ndarray, scores: np.ndarray) -> None:
        """Count scores (in [0, 1]) of rows with class codes `classes` (0..n_classes-1)."""
        k, bins = self.counts.shape
        b = np.minimum((scores * bins).astype(np.int64), bins - 1)
        self.counts += np.bincount(classes * bins + b, minlength=k * bins).reshape(k, bins)

    def merge(self, other: ScoreSketch) -> ScoreSketch:
        return ScoreSketch(self.counts + other.counts)


def ranking_bounded(pos: np.ndarray, neg: np.ndarray) -> tuple[Bounded, Bounded]:
    """(ROC AUC, average precision) from per-bin positive and negative counts (bins ascending).

    Each bin is one tied group in the point estimate (as `ranking_metrics` treats equal scores);
    the bounds take the unknown order of positives and negatives inside each bin to its extremes.
    """
    pos = pos.astype(np.float64)
    neg = neg.astype(np.float64)
    n_pos, n_neg = float(pos.sum()), float(neg.sum())
    auc = float(np.sum(pos * (np.cumsum(neg) - 0.5 * neg)) / (n_pos * n_neg))
    auc_err = float(0.5 * np.sum(pos * neg) / (n_pos * n_neg))
    # Highest scores first for precision/recall.
    p, q = pos[::-1], neg[::-1]
    tps, fps = np.cumsum(p), np.cumsum(q)
    tp0, fp0 = tps - p, fps - q
    nz = p > 0
    ap = float(np.sum((p[nz] / n_pos) * (tps[nz] / (tps[nz] + fps[nz]))))

    def precision_sum(a: np.ndarray, b: np.ndarray, count: np.ndarray) -> np.ndarray:
        # Σ_{k=1..count} (a + k) / (b + k) = count − (b − a)(ψ(b + count + 1) − ψ(b + 1))
        return count - (b - a) * (special.digamma(b + count + 1) - special.digamma(b + 1))

    best = float(np.sum(precision_sum(tp0[nz], tp0[nz] + fp0[nz], p[nz])) / n_pos)
    worst = float(np.sum(precision_sum(tp0[nz], tp0[nz] + fp0[nz] + q[nz], p[nz])) / n_pos)
    return (
        Bounded(auc, max(auc - auc_err, 0.0), min(auc + auc_err, 1.0)),
        Bounded(ap, min(worst, ap), max(best, ap)),
    )


def latency_edges() -> np.ndarray:
    n = int(np.ceil(np.log(LATENCY_MAX_MS / LATENCY_MIN_MS) / np.log1p(LATENCY_RELATIVE_WIDTH)))
    return LATENCY_MIN_MS * np.power(1.0 + LATENCY_RELATIVE_WIDTH, np.arange(n + 1))


_LATENCY_EDGES = latency_edges()


@dataclass
class LatencySketch:
    """Log-spaced counts of a latency column (bin 0: below 1 µs, last: above the last edge)."""

    counts: np.ndarray
    n_missing: int = 0
    high: float = -np.inf
    low: float = np.inf

    @classmethod
    def empty(cls) -> LatencySketch:
        return cls(np.zeros(_LATENCY_EDGES.size + 1, dtype=np.int64))

    def add(self, values: np.ndarray) -> None:
        finite = np.isfinite(values)
        self.n_missing += int(values.size - np.count_nonzero(finite))
        values = values[finite]
        if values.size == 0:
            return
        self.counts += np.bincount(
            np.searchsorted(_LATENCY_EDGES, values, side="right"), minlength=self.counts.size
        )
        self.high = max(self.high, float(values.max()))
        self.low = min(self.low, float(values.min()))

    def merge(self, other: LatencySketch) -> LatencySketch:
        return LatencySketch(
            self.counts + other.counts,
            self.n_missing + other.n_missing,
            max(self.high, other.high),
            min(self.low, other.low),
        )

    def percentile(self, q: float) -> Bounded:
        """numpy's linear-interpolation percentile: x_lo + f·(x_hi − x_lo) for the order statistics
        at the two ranks around q; each lies in its bin, so the result lies between the same
        interpolation of the bins' lower edges and of their upper edges (under 1% apart)."""
        n = int(self.counts.sum())
        rank = q / 100.0 * (n - 1)
        lo_rank, hi_rank = int(np.floor(rank)), int(np.ceil(rank))
        frac = rank - lo_rank
        cum = np.cumsum(self.counts)
        lower = np.clip(np.concatenate([[self.low], _LATENCY_EDGES]), self.low, self.high)
        upper = np.clip(np.concatenate([_LATENCY_EDGES, [self.high]]), self.low, self.high)
        b_lo = int(np.searchsorted(cum, lo_rank, side="right"))
        b_hi = int(np.searchsorted(cum, hi_rank, side="right"))
        low = float((1 - frac) * lower[b_lo] + frac * lower[b_hi])
        high = float((1 - frac) * upper[b_lo] + frac * upper[b_hi])
        value = float(np.sqrt(low * high)) if low > 0 else (low + high) / 2.0
        return Bounded(value, low, high)


@dataclass
class ExpectedAUCSketch:
    """CBPE's expected ROC AUC: per class, sums over equal bins of the raw score in [0, 1] of the
    calibrated probability p, of 1 − p and of p(1 − p) (row = class, column = bin).

    The exact expected AUC is (Σ_{i≠j} p_i (1 − p_j) ([s_i > s_j] + ½ [s_i = s_j]) − …) / pairs
    (`watchkeeper.performance.cbpe`). Pairs in different bins are ordered by their bins; only the
    pairs inside a bin are not: their weight lies between 0 and Σ_b (P_b·N_b − S_b), and the
    estimate counts each bin as one tie (half of it), so the error is at most
    ½ Σ_b (P_b·N_b − S_b) / pairs.
    """

    pos: np.ndarray  # float64 (classes × bins): Σ p
    neg: np.ndarray  # Σ (1 − p)
    own: np.ndarray  # Σ p (1 − p): a row is never paired with itself

    @classmethod
    def empty(cls, n_classes: int, bins: int = SCORE_BINS) -> ExpectedAUCSketch:
        return cls(np.zeros((n_classes, bins)), np.zeros((n_classes, bins)), np.zeros((n_classes, bins)))

    def add(self, j: int, scores: np.ndarray, p: np.ndarray) -> None:
        bins = self.pos.shape[1]
        b = np.clip((scores * bins).astype(np.int64), 0, bins - 1)
        self.pos[j] += np.bincount(b, weights=p, minlength=bins)
        self.neg[j] += np.bincount(b, weights=1.0 - p, minlength=bins)
        self.own[j] += np.bincount(b, weights=p * (1.0 - p), minlength=bins)

    def merge(self, other: ExpectedAUCSketch) -> ExpectedAUCSketch:
        return ExpectedAUCSketch(self.pos + other.pos, self.neg + other.neg, self.own + other.own)

    def totals(self, j: int) -> tuple[float, float]:
        """The expected numbers of positives and negatives of class `j`."""
        return float(self.pos[j].sum()), float(self.neg[j].sum())

    def expected_auc(self, j: int) -> Bounded | None:
        """The expected AUC of class `j` with its bound; None where CBPE finds no pairs."""
        pos, neg, own = self.pos[j], self.neg[j], self.own[j]
        self_pairs = float(own.sum())
        pairs = float(pos.sum() * neg.sum()) - self_pairs
        if pairs <= 1e-12:
            return None
        neg_below = np.cumsum(neg) - neg
        auc = (float(np.sum(pos * (neg_below + 0.5 * neg))) - 0.5 * self_pairs) / pairs
        # Rounding: the exact figure sums the same terms in another order (relative 1e-12 of the sums).
        error = 0.5 * max(float(np.sum(pos * neg - own)), 0.0) / pairs + 1e-10
        value = min(max(auc, 0.0), 1.0)
        return Bounded(value, min(max(auc - error, 0.0), 1.0), min(max(auc + error, 0.0), 1.0))
