"""Rows of a window grouped by model version, for the per-version figures of `perf` and `serving`.

One home for the grouping so both sections name versions the same way: versions compare as text
(`canonical_label`, so ``3`` and ``"3"`` agree), they come in order of first appearance, and rows
without a version form a group ``"unknown"``, last.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from watchkeeper.performance.metrics import canonical_label


def group_by_version(frame: pd.DataFrame, column: str | None) -> Iterator[tuple[str, np.ndarray]]:
    """Yield (version name, row positions in ascending order) per version in `column`.

    Yields nothing when `column` is None or not in `frame`.
    """
    if not column or column not in frame.columns:
        return
    codes, uniques = pd.factorize(frame[column], use_na_sentinel=True)
    labels = [canonical_label(v) for v in uniques]
    if (codes < 0).any():
        labels.append("unknown")
        codes = np.where(codes < 0, len(uniques), codes)
    # Values that differ but read the same (3 and "3") are one version: merge them by their text.
    label_codes, names = pd.factorize(pd.Index(labels, dtype=object))
    codes = label_codes[codes]
    # One stable sort instead of a scan per version: rows stay in ascending order within a group.
    # A stable sort has one answer; on 16-bit codes NumPy's is a radix sort, O(n) instead of a merge
    # sort (a window holds a handful of versions).
    narrow = codes.astype(np.int16) if len(names) <= np.iinfo(np.int16).max else codes
    order = np.argsort(narrow, kind="stable")
    counts = np.bincount(codes, minlength=len(names))
    ends = np.cumsum(counts)
    for code in np.flatnonzero(counts):
        yield str(names[int(code)]), order[ends[code] - counts[code] : ends[code]]
