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
    names = [canonical_label(v) for v in uniques]
    if (codes < 0).any():
        names.append("unknown")
        codes = np.where(codes < 0, len(uniques), codes)
    # One stable sort instead of a scan per version: rows stay in ascending order within a group.
    order = np.argsort(codes, kind="stable")
    present, starts, counts = np.unique(codes[order], return_index=True, return_counts=True)
    for code, start, count in zip(present, starts, counts, strict=True):
        yield names[int(code)], order[start : start + count]
