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
  (the p-value falls as D grows).
- `ScoreSketch` (ROC AUC, average precision): per class, counts of scores on 10,000 equal bins of
  [0, 1]. Only the order of a positive and a negative within one bin is unknown, so the AUC error
  is at most ½ Σ pos_b·neg_b / (P·N); average precision is bracketed by putting each bin's positives
  first or last.
- `LatencySketch` (latency percentiles): log-spaced bins 1% wide; a percentile lies in its bin, so
  the relative error is below 1% (the max is exact).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special, stats

REFERENCE_QUANTILES = 10_000
EXTENSION_BINS = 1_000
SCORE_BINS = 10_000
LATENCY_RELATIVE_WIDTH = 0.01
LATENCY_MIN_MS = 1e-3
LATENCY_MAX_MS = 1e8


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
    the grid's end up; `low` and `high` are the exact min and max (they close the overflow bins).
    """

    grid: np.ndarray
    counts: np.ndarray
    n_rows: int = 0
    n_missing: int = 0
    n_inf: int = 0
    low: float = np.inf
    high: float = -np.inf

    @classmethod
    def empty(cls, grid: np.ndarray) -> NumericSketch:
        return cls(grid, np.zeros(grid.size + 1, dtype=np.int64))

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
        self.counts += np.bincount(np.searchsorted(self.grid, values, side="right"), minlength=self.counts.size)
        self.low = min(self.low, float(values.min()))
        self.high = max(self.high, float(values.max()))

    def merge(self, other: NumericSketch) -> NumericSketch:
        return NumericSketch(
            self.grid,
            self.counts + other.counts,
            self.n_rows + other.n_rows,
            self.n_missing + other.n_missing,
            self.n_inf + other.n_inf,
            min(self.low, other.low),
            max(self.high, other.high),
        )

    @property
    def missing_share(self) -> float | None:
        return (self.n_missing + self.n_inf) / self.n_rows if self.n_rows else None

    def bins(self) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper edges of every bin (overflow bins closed by the exact min and max)."""
        lower = np.concatenate([[min(self.low, self.grid[0])], self.grid])
        upper = np.concatenate([self.grid, [max(self.high, self.grid[-1])]])
        return lower, upper


def _cdf_left(sorted_values: np.ndarray, x: np.ndarray) -> np.ndarray:
    """P(X < x) of a sorted sample."""
    return np.searchsorted(sorted_values, x, side="left") / sorted_values.size


def wasserstein_bounded(reference_sorted: np.ndarray, current: NumericSketch) -> Bounded:
    """Wasserstein-1 of the exact reference and the sketched window, normed by the reference's std
    as Evidently's `wasserstein` method does (see the module docstring for the bound)."""
    lower, upper = current.bins()
    keep = current.counts > 0
    mass = current.counts[keep] / current.n
    mid = ((lower + upper) / 2.0)[keep]
    width = (upper - lower)[keep]
    # ∫ |F_ref − F_cur'| over the merged breakpoints, both CDFs right-continuous step functions.
    points = np.union1d(reference_sorted, mid)
    f_ref = np.searchsorted(reference_sorted, points, side="right") / reference_sorted.size
    f_cur = np.concatenate([[0.0], np.cumsum(mass)])[np.searchsorted(mid, points, side="right")]
    distance = float(np.sum(np.abs(f_ref - f_cur)[:-1] * np.diff(points)))
    error = float(np.sum(mass * width) / 2.0)
    norm = max(float(np.std(reference_sorted)), 0.001)
    return Bounded(distance / norm, max(distance - error, 0.0) / norm, (distance + error) / norm)


def ks_statistic_bounds(reference_sorted: np.ndarray, current: NumericSketch) -> tuple[float, float]:
    """[D_lo, D_hi] bracketing the two-sample KS statistic of the reference and the window."""
    lower, upper = current.bins()
    cum = np.concatenate([[0], np.cumsum(current.counts)]) / current.n  # P(cur < lower edge of bin i)
    c_lo, c_hi = cum[:-1], cum[1:]
    r_lo = _cdf_left(reference_sorted, lower)
    r_hi = _cdf_left(reference_sorted, upper)
    r_hi[-1] = 1.0  # the last bin is closed: everything is at or below the window's max
    c_hi[-1] = 1.0
    r_lo[0] = 0.0
    d_lo = float(np.max(np.abs(r_lo - c_lo)))
    d_hi = float(np.max(np.maximum(r_hi - c_lo, c_hi - r_lo)))
    return d_lo, min(max(d_hi, d_lo), 1.0)


def ks_p_value(statistic: float, n: int, m: int) -> float:
    """Two-sided two-sample KS p-value, scipy's asymptotic method (`ks_2samp(method="asymp")`)."""
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
    ap = float(np.sum((p / n_pos)[nz] * (tps / (tps + fps))[nz]))

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
        """numpy's linear-interpolation percentile, bracketed by the bins its two ranks fall in."""
        n = int(self.counts.sum())
        rank = q / 100.0 * (n - 1)
        lo_rank, hi_rank = int(np.floor(rank)), int(np.ceil(rank))
        cum = np.cumsum(self.counts)
        lower = np.concatenate([[self.low], _LATENCY_EDGES])
        upper = np.concatenate([_LATENCY_EDGES, [self.high]])
        lower = np.clip(lower, self.low, self.high)
        upper = np.clip(upper, self.low, self.high)
        b_lo = int(np.searchsorted(cum, lo_rank, side="right"))
        b_hi = int(np.searchsorted(cum, hi_rank, side="right"))
        low, high = float(lower[b_lo]), float(upper[b_hi])
        value = float(np.sqrt(low * high)) if low > 0 else (low + high) / 2.0
        return Bounded(value, low, high)
