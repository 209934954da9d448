"""Column profiles: the per-column partial aggregates that every drift method works from.

A numerical profile holds the column's finite values sorted once (every order-statistics method,
histogram and quantile reuses them) and the counts of what was dropped (NaN, ±inf). A categorical
profile holds the column dictionary-encoded: the categories in order of first appearance, their
counts, and the row-order codes (the permutation test `TVD` draws over rows, as Evidently does).

Profiles merge (`merge`): sorted values merge linearly, counts add, codes are remapped onto the
union dictionary. That is what lets a later issue build a profile per partition on a cluster and
combine them. The reference side's profiles are what the reference cache stores
(`watchkeeper.drift.cache`), so a scheduled run only profiles its own window.
"""

from __future__ import annotations

import ctypes
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

PROFILE_VERSION = 1


@dataclass(frozen=True, eq=False)
class NumericalProfile:
    """Sorted finite values of a numerical column plus what was dropped on the way."""

    values: np.ndarray  # float64, sorted ascending, finite only
    n_rows: int
    n_missing: int  # NaN / None / NA
    n_inf: int
    is_integer: bool  # integer dtype: NumPy's histogram rule widens bins to >= 1 for integer data

    @property
    def n(self) -> int:
        return int(self.values.size)

    @property
    def missing_share(self) -> float | None:
        return (self.n_missing + self.n_inf) / self.n_rows if self.n_rows else None

    def merge(self, other: NumericalProfile) -> NumericalProfile:
        # A stable sort of two sorted runs is a linear merge (timsort finds the runs).
        merged = np.concatenate([self.values, other.values])
        merged.sort(kind="stable")
        return NumericalProfile(
            values=merged,
            n_rows=self.n_rows + other.n_rows,
            n_missing=self.n_missing + other.n_missing,
            n_inf=self.n_inf + other.n_inf,
            is_integer=self.is_integer and other.is_integer,
        )


@dataclass(frozen=True, eq=False)
class CategoricalProfile:
    """A dictionary-encoded categorical column: categories, their counts, row-order codes."""

    categories: np.ndarray  # object array, first-appearance order, missing values excluded
    counts: np.ndarray  # int64, aligned with `categories`
    codes: np.ndarray  # row order, missing rows dropped; indices into `categories`
    n_rows: int
    n_missing: int

    @property
    def n(self) -> int:
        return int(self.codes.size)

    @property
    def missing_share(self) -> float | None:
        return self.n_missing / self.n_rows if self.n_rows else None

    def merge(self, other: CategoricalProfile) -> CategoricalProfile:
        idx = pd.Index(self.categories).get_indexer(pd.Index(other.categories))
        new = idx < 0
        mapping = idx.copy()
        mapping[new] = len(self.categories) + np.arange(int(new.sum()))
        categories = np.concatenate([self.categories, other.categories[new]])
        counts = np.zeros(len(categories), dtype=np.int64)
        counts[: len(self.counts)] = self.counts
        np.add.at(counts, mapping, other.counts)
        codes = np.concatenate([self.codes.astype(np.int64), mapping[other.codes]])
        return CategoricalProfile(
            categories=categories,
            counts=counts,
            codes=_compact_codes(codes, len(categories)),
            n_rows=self.n_rows + other.n_rows,
            n_missing=self.n_missing + other.n_missing,
        )


Profile = NumericalProfile | CategoricalProfile


def _compact_codes(codes: np.ndarray, n_categories: int) -> np.ndarray:
    dtype = np.int8 if n_categories < 2**7 else np.int16 if n_categories < 2**15 else np.int32
    return codes.astype(dtype, copy=False)


# Integers spanning at most this many values per row are sorted by counting (linear time).
_COUNTING_SPAN_PER_ROW = 4


def _counting_sort(ints: np.ndarray) -> np.ndarray | None:
    """An integer column sorted as float64 by counting its values (ages, counts, 0/1 predictions):
    the same array `np.sort` gives, in two passes instead of n log n. None when the values span too
    wide a range (or too large a magnitude for float64 to hold them exactly)."""
    if ints.size == 0:
        return None
    lo, hi = int(ints.min()), int(ints.max())
    span = hi - lo + 1
    if span > _COUNTING_SPAN_PER_ROW * ints.size + 1024 or max(abs(lo), abs(hi)) >= 2**53:
        return None
    counts = np.bincount((ints - lo).astype(np.intp, copy=False), minlength=span)
    return np.repeat(np.arange(lo, hi + 1, dtype=np.float64), counts)


def profile_numerical(series: pd.Series) -> NumericalProfile:
    """Profile a numeric column: drop NaN and ±inf (as Evidently does), sort once."""
    dtype = series.dtype
    is_integer = dtype.kind in "iu"
    if is_integer and isinstance(dtype, np.dtype):
        counted = _counting_sort(series.to_numpy(copy=False))
        if counted is not None:
            return NumericalProfile(values=counted, n_rows=len(series), n_missing=0, n_inf=0, is_integer=True)
    if dtype == np.float64:
        arr = series.to_numpy(copy=False)
    else:
        arr = series.to_numpy(dtype=np.float64, na_value=np.nan)
    finite = np.isfinite(arr)
    n_finite = int(np.count_nonzero(finite))
    # One copy, sorted in place: fresh large allocations are what costs most here.
    if n_finite == arr.size:
        values = arr.copy()
        n_missing = n_inf = 0
    else:
        n_missing = int(np.count_nonzero(np.isnan(arr)))
        n_inf = arr.size - n_finite - n_missing
        values = arr[finite]
    values.sort()
    return NumericalProfile(
        values=values,
        n_rows=int(arr.size),
        n_missing=n_missing,
        n_inf=n_inf,
        is_integer=is_integer,
    )


def _factorize_objects(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`pd.factorize` for an object array, without hashing or comparing a string per row.

    Rows of a string column mostly share a handful of string objects (pandas, pyarrow and NumPy
    all reuse them), so the column is first factorized by object address, a plain int64 hash, and
    only the few distinct objects are then factorized by value. Codes and the first-appearance
    order of the categories are exactly `pd.factorize`'s. When most rows hold distinct objects
    the detour does not pay, and plain `pd.factorize` runs instead.
    """
    n = values.size
    if n < 4096 or not values.flags.c_contiguous or values.itemsize != ctypes.sizeof(ctypes.c_int64):
        return pd.factorize(values, sort=False, use_na_sentinel=True)
    # A read-only int64 view of the object pointers; `values` keeps the objects alive meanwhile.
    addresses = np.ctypeslib.as_array((ctypes.c_int64 * n).from_address(values.ctypes.data))
    by_object, distinct_addresses = pd.factorize(addresses, sort=False)
    k = distinct_addresses.size
    if k > max(1024, n // 8):
        return pd.factorize(values, sort=False, use_na_sentinel=True)
    # Codes are numbered in order of first appearance, so a row holds a new object exactly where
    # the running maximum of the codes goes up.
    running_max = np.maximum.accumulate(by_object)
    first_row = np.flatnonzero(np.diff(running_max, prepend=-1))
    by_value, uniques = pd.factorize(values[first_row], sort=False, use_na_sentinel=True)
    return by_value[by_object], np.asarray(uniques, dtype=object)


def profile_categorical(series: pd.Series) -> CategoricalProfile:
    """Profile a categorical column through dictionary encoding (no per-row Python work)."""
    uniques: object
    if series.dtype == object:
        codes, uniques = _factorize_objects(series.to_numpy())
    else:
        codes, uniques = pd.factorize(series, sort=False, use_na_sentinel=True)
    categories = np.asarray(uniques, dtype=object)
    # Evidently turns ±inf into NaN before testing, in categorical columns too.
    is_inf = np.fromiter(
        (isinstance(v, float | np.floating) and math.isinf(v) for v in categories),
        dtype=bool,
        count=len(categories),
    )
    if is_inf.any():
        keep = np.flatnonzero(~is_inf)
        remap = np.full(len(categories), -1, dtype=np.int64)
        remap[keep] = np.arange(keep.size)
        codes = np.where(codes >= 0, remap[np.maximum(codes, 0)], -1)
        categories = categories[keep]
    valid = codes >= 0
    n_valid = int(np.count_nonzero(valid))
    kept = codes if n_valid == codes.size else codes[valid]
    counts = np.bincount(kept, minlength=len(categories)).astype(np.int64)
    return CategoricalProfile(
        categories=categories,
        counts=counts,
        codes=_compact_codes(kept, len(categories)),
        n_rows=int(codes.size),
        n_missing=int(codes.size - n_valid),
    )
