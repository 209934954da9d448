"""`ColumnPair`: one column's reference and current profiles, with the derived views methods share.

Methods never touch raw rows. They ask the pair for what they need (sorted values, counts over the
union of values, Evidently's binned shares), and the pair computes each view once and reuses it for
every method run on the column (the effect size included).

The conventions follow Evidently 0.7.23's `legacy/calculations/stattests/utils.py::get_binned_data`:
numerical columns with more than 20 unique reference values are binned with NumPy's Sturges rule on
reference and current combined; other columns use their values as categories. Empty bins get the
smallest non-zero share divided by 10^6 when that share is at most 1e-4, else 1e-4.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from watchkeeper.drift.profile import CategoricalProfile, NumericalProfile, Profile
from watchkeeper.drift.registry import Kind


@dataclass(frozen=True, eq=False)
class Discrete:
    """Counts of each distinct value over the union of both sides (keys aligned)."""

    keys: np.ndarray
    ref_counts: np.ndarray  # int64
    cur_counts: np.ndarray  # int64


def _value_counts_sorted(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values and their counts from an already sorted array, in one pass."""
    if values.size == 0:
        return values, np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, values[1:] != values[:-1]])
    counts = np.diff(np.r_[starts, values.size]).astype(np.int64)
    return values[starts], counts


def n_unique_capped(values: np.ndarray, cap: int) -> int:
    """Distinct values of a sorted array, counted up to ``cap + 1`` by jumping over runs.

    The default method and the binning only ask "more than 5?" or "more than 20?", and each jump
    is a binary search, so this is O(cap · log n) instead of a pass over the column.
    """
    count, i = 0, 0
    while i < values.size and count <= cap:
        count += 1
        i = int(values.searchsorted(values[i], "right"))
    return count


def sturges_edges(lo: float, hi: float, size: int, integer: bool) -> np.ndarray:
    """`np.histogram_bin_edges(x, bins="sturges")` from x's min, max and size alone."""
    first, last = float(lo), float(hi)
    if first == last:
        first, last = first - 0.5, last + 0.5
    width = (float(hi) - float(lo)) / (np.log2(size) + 1.0)
    if width:
        if integer and width < 1:
            width = 1
        n_bins = int(np.ceil((last - first) / width))
    else:
        n_bins = 1
    return np.linspace(first, last, n_bins + 1, endpoint=True, dtype=np.float64)


def histogram_sorted(sorted_values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """`np.histogram(x, edges)[0]` for sorted x: NumPy counts the same way (searchsorted)."""
    cum = np.concatenate(
        [
            sorted_values.searchsorted(edges[:-1], "left"),
            sorted_values.searchsorted(edges[-1:], "right"),
        ]
    )
    return np.diff(cum).astype(np.int64)


def fill_zeroes(percents: np.ndarray) -> np.ndarray:
    """Evidently's empty-bin epsilon (``feel_zeroes``)."""
    nonzero = percents[percents != 0]
    if nonzero.size == 0:
        return percents
    smallest = float(nonzero.min())
    eps = smallest / 10**6 if smallest <= 0.0001 else 0.0001
    out = percents.copy()
    out[out == 0] = eps
    return out


class ColumnPair:
    """Reference and current profiles of one column, and lazily computed shared views."""

    def __init__(self, kind: Kind, reference: Profile, current: Profile) -> None:
        if kind == "numerical":
            assert isinstance(reference, NumericalProfile) and isinstance(current, NumericalProfile)
        else:
            assert isinstance(reference, CategoricalProfile) and isinstance(current, CategoricalProfile)
        self.kind: Kind = kind
        self.reference = reference
        self.current = current

    @property
    def n_ref(self) -> int:
        return self.reference.n

    @property
    def n_cur(self) -> int:
        return self.current.n

    # ---- numerical views -------------------------------------------------------------------
    @property
    def ref_sorted(self) -> np.ndarray:
        assert isinstance(self.reference, NumericalProfile)
        return self.reference.values

    @property
    def cur_sorted(self) -> np.ndarray:
        assert isinstance(self.current, NumericalProfile)
        return self.current.values

    @property
    def is_integer(self) -> bool:
        ref, cur = self.reference, self.current
        assert isinstance(ref, NumericalProfile) and isinstance(cur, NumericalProfile)
        return ref.is_integer and cur.is_integer

    # Distinct values, exact up to UNIQUE_CAP (above it, UNIQUE_CAP + 1): every decision that
    # depends on them compares with 1, 2, 5 or 20.
    UNIQUE_CAP = 20

    @cached_property
    def ref_nunique(self) -> int:
        if isinstance(self.reference, NumericalProfile):
            return n_unique_capped(self.reference.values, self.UNIQUE_CAP)
        return int(np.count_nonzero(self.reference.counts))

    @cached_property
    def cur_nunique(self) -> int:
        if isinstance(self.current, NumericalProfile):
            return n_unique_capped(self.current.values, self.UNIQUE_CAP)
        return int(np.count_nonzero(self.current.counts))

    def union_nunique_at_most(self, limit: int) -> int:
        """Distinct values over both sides, exact up to `limit` (enough to pick a default method)."""
        assert limit <= self.UNIQUE_CAP
        if self.kind == "numerical" and max(self.ref_nunique, self.cur_nunique) > limit:
            return max(self.ref_nunique, self.cur_nunique)
        return int(np.count_nonzero((self.discrete.ref_counts + self.discrete.cur_counts) > 0))

    @cached_property
    def discrete(self) -> Discrete:
        """Counts per distinct value over the union of both sides."""
        ref, cur = self.reference, self.current
        if isinstance(ref, NumericalProfile) and isinstance(cur, NumericalProfile):
            rk, rc = _value_counts_sorted(ref.values)
            ck, cc = _value_counts_sorted(cur.values)
            keys = np.union1d(rk, ck)
            ref_counts = np.zeros(keys.size, dtype=np.int64)
            cur_counts = np.zeros(keys.size, dtype=np.int64)
            ref_counts[keys.searchsorted(rk)] = rc
            cur_counts[keys.searchsorted(ck)] = cc
            return Discrete(keys, ref_counts, cur_counts)
        assert isinstance(ref, CategoricalProfile) and isinstance(cur, CategoricalProfile)
        idx = self._cur_to_union
        keys = np.concatenate([ref.categories, cur.categories[idx >= len(ref.categories)]])
        ref_counts = np.zeros(keys.size, dtype=np.int64)
        ref_counts[: ref.counts.size] = ref.counts
        cur_counts = np.zeros(keys.size, dtype=np.int64)
        # Every profiled category has a count >= 1 (merging only adds), so no key is empty on both
        # sides, and the union indices of `_cur_to_union` stay valid for `keys`.
        np.add.at(cur_counts, idx, cur.counts)
        return Discrete(keys, ref_counts, cur_counts)

    @cached_property
    def _cur_to_union(self) -> np.ndarray:
        """For each current category, its index in the union dictionary (reference first)."""
        import pandas as pd

        ref, cur = self.reference, self.current
        assert isinstance(ref, CategoricalProfile) and isinstance(cur, CategoricalProfile)
        idx = pd.Index(ref.categories).get_indexer(pd.Index(cur.categories))
        new = idx < 0
        idx = idx.astype(np.int64)
        idx[new] = len(ref.categories) + np.arange(int(new.sum()))
        return idx

    def evidently_key_order(self) -> np.ndarray:
        """Positions in `discrete.keys` in the order Evidently iterates them.

        Evidently walks ``list(set(ref.unique()) | set(cur.unique()))``; a Python set's order
        depends on insertion order, so rebuilding the same set from the values in order of first
        appearance reproduces it. Only sums that are sensitive to order need this (Hellinger
        near 0, the permutation test's tie-breaking).
        """
        ref, cur = self.reference, self.current
        keys = self.discrete.keys
        if isinstance(ref, CategoricalProfile) and isinstance(cur, CategoricalProfile):
            ref_u = ref.categories[ref.counts > 0].tolist()
            cur_u = cur.categories[cur.counts > 0].tolist()
        else:
            ref_u = keys[self.discrete.ref_counts > 0].tolist()
            cur_u = keys[self.discrete.cur_counts > 0].tolist()
        position = {k: i for i, k in enumerate(keys.tolist())}
        return np.array([position[k] for k in set(ref_u) | set(cur_u)], dtype=np.int64)

    # ---- Evidently's binning ---------------------------------------------------------------
    def _binned_raw(self) -> tuple[np.ndarray, np.ndarray]:
        if self.kind == "numerical" and self.ref_nunique > 20:
            ref, cur = self.ref_sorted, self.cur_sorted
            edges = sturges_edges(
                min(ref[0], cur[0]), max(ref[-1], cur[-1]), ref.size + cur.size, self.is_integer
            )
            return (
                histogram_sorted(ref, edges) / ref.size,
                histogram_sorted(cur, edges) / cur.size,
            )
        d = self.discrete
        return d.ref_counts / self.n_ref, d.cur_counts / self.n_cur

    @cached_property
    def _binned(self) -> tuple[np.ndarray, np.ndarray]:
        return self._binned_raw()

    def binned(self, fill: bool) -> tuple[np.ndarray, np.ndarray]:
        """Evidently's `get_binned_data(..., feel_zeroes=fill)`: shares per bin for each side."""
        ref, cur = self._binned
        if fill:
            return fill_zeroes(ref), fill_zeroes(cur)
        return ref, cur
