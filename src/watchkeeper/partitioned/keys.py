"""The first pass over a window's key columns: duplicates found across partitions, exactly.

Whether a request id is duplicated depends on every partition, so the bounded-memory engine reads
the key columns first (the request id, and the columns the expectation suite wants unique), hashes
each value to 64 bits (`hash_values`) and keeps the sorted hashes per partition. Merging
concatenates them; `count_duplicates` sorts once and finds the values seen more than once. The
result is small (the duplicated hashes and two counts per column), and the main pass uses it to set
the rows of duplicated ids aside (`watchkeeper.partitioned.state`).

Costs 8 bytes per row and key column during the first pass only. Two different values share a hash
with probability about n²/2⁶⁵ (10⁻⁵ at 20M rows): the count could then be one too high.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from watchkeeper.partitioned.state import hash_values


@dataclass(frozen=True)
class KeyCounts:
    """One key column over the whole window: duplicated hashes, rows in a duplicated group, and the
    rows beyond each value's first occurrence (what `WindowReport.duplicate_request_ids` counts)."""

    duplicated: np.ndarray  # uint64, sorted
    rows_in_duplicates: int  # GX's unexpected count for `expect_column_values_to_be_unique`
    extra_occurrences: int  # rows minus distinct values (non-null)
    values: int  # non-null values


def scan_keys(frame: pd.DataFrame, columns: Sequence[str]) -> dict[str, np.ndarray]:
    """Sorted hashes of each key column's non-null values in one partition."""
    out: dict[str, np.ndarray] = {}
    for name in columns:
        if name not in frame.columns:
            continue
        series = frame[name]
        hashes = hash_values(series[series.notna()])
        hashes.sort()
        out[name] = hashes
    return out


def count_duplicates(parts: Sequence[Mapping[str, np.ndarray]]) -> dict[str, KeyCounts]:
    """Merge the partitions' hashes per column and count what occurs more than once."""
    names = dict.fromkeys(name for part in parts for name in part)
    out: dict[str, KeyCounts] = {}
    for name in names:
        merged = np.concatenate([part[name] for part in parts if name in part])
        merged.sort()
        if merged.size == 0:
            out[name] = KeyCounts(np.zeros(0, dtype=np.uint64), 0, 0, 0)
            continue
        starts = np.flatnonzero(np.r_[True, merged[1:] != merged[:-1]])
        sizes = np.diff(np.r_[starts, merged.size])
        dup = sizes > 1
        out[name] = KeyCounts(
            merged[starts[dup]], int(sizes[dup].sum()), int(merged.size - starts.size), int(merged.size)
        )
        del merged
    return out
