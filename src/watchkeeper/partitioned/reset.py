"""The reset impact (``drift.reset``) of a partitioned window: the in-memory sample, gathered.

In memory, `measure_reset_impact` scores a seeded sample of the window's rows,
`sample_rows(len(rows), reset_sample, SEED)`, where `rows` are the labeled rows (labels joined, at
least `MIN_LABELED` of them) or else all rows, in the window's row order. Those positions are drawn
here once the map has counted each partition's labeled rows (the rows of duplicated request ids,
labeled at finalize, counted in their partitions' places), and a gather pass reads the partitions
again for those rows only (at most `reset_sample`). The check then measures them on the driver
(`ResetImpactCheck.measure`: the model is loaded there, by the check's `ModelSource`, never on a
worker) with the window's model versions from the map. The rows are the in-memory sample's where
the partitions concatenate to the window's row order (Parquet row groups, frame slices, logs
sorted by time), so the report is the in-memory one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from watchkeeper.drift.multivariate import sample_rows
from watchkeeper.drift.reset_impact import MIN_LABELED, SEED
from watchkeeper.partitioned.state import ORDER_COLUMN, SketchPlan, hash_values
from watchkeeper.partitioned.streams import PARTITION_SHIFT
from watchkeeper.windows import Labels, join_labels

_LOW = (1 << PARTITION_SHIFT) - 1


@dataclass(frozen=True)
class ResetSample:
    """Which rows each partition hands back: ranks among its eligible rows (labeled ones, or all)."""

    labeled_only: bool
    ranks: Mapping[int, np.ndarray]  # partition index → ranks (ascending) among its eligible rows
    deferred: Mapping[int, np.ndarray]  # partition index → eligible deferred rows (positions in it)


def joined_deferred(plan: SketchPlan, deferred: pd.DataFrame | None, labels: Labels | None) -> pd.DataFrame:
    """The rows of duplicated ids with their labels, as `map_deferred` joins them (time order, only
    the first occurrence labeled), keeping `ORDER_COLUMN`."""
    if deferred is None or not len(deferred):
        return pd.DataFrame({ORDER_COLUMN: np.zeros(0, dtype=np.int64)})
    cols = plan.config.columns
    rows = deferred.sort_values([cols.timestamp, ORDER_COLUMN], kind="stable").reset_index(drop=True)
    joined, _, _ = join_labels(rows, labels, cols)
    return joined


def _eligible(frame: pd.DataFrame, target: str | None, labeled_only: bool) -> np.ndarray:
    if not labeled_only:
        return np.ones(len(frame), dtype=bool)
    if target is None or target not in frame.columns:
        return np.zeros(len(frame), dtype=bool)
    return frame[target].notna().to_numpy()


def plan_reset_sample(
    plan: SketchPlan,
    *,
    sample: int,
    part_rows: Mapping[int, int],
    part_labeled: Mapping[int, int],
    labeled: int,
    deferred: pd.DataFrame,
) -> ResetSample:
    """The in-memory sample's rows, per partition. `part_rows` / `part_labeled`: each partition's rows
    and labeled rows without its deferred ones; `labeled`: the window's; `deferred`: `joined_deferred`."""
    labeled_only = labeled >= MIN_LABELED
    order = deferred[ORDER_COLUMN].to_numpy(dtype=np.int64)
    eligible = order[_eligible(deferred, plan.config.columns.target, labeled_only)]
    owner, local = eligible >> PARTITION_SHIFT, eligible & _LOW
    ranks: dict[int, np.ndarray] = {}
    extra: dict[int, np.ndarray] = {}
    counts = []
    for index in part_rows:
        mine = np.sort(local[owner == index])
        extra[index] = mine
        counts.append((part_labeled[index] if labeled_only else part_rows[index]) + mine.size)
    positions = sample_rows(int(sum(counts)), sample, SEED)
    offset = 0
    for index, count in zip(part_rows, counts, strict=True):
        lo, hi = np.searchsorted(positions, [offset, offset + count])
        if hi > lo:
            ranks[index] = positions[lo:hi] - offset
        offset += count
    return ResetSample(labeled_only, ranks, {i: extra[i] for i in ranks})


def gather_rows(
    plan: SketchPlan, frame: pd.DataFrame, index: int, labels: Labels | None, sample: ResetSample
) -> tuple[pd.DataFrame, np.ndarray]:
    """One partition's sampled rows (labels joined, `ORDER_COLUMN` added) among those it maps, and
    the order keys of its sampled deferred rows (the driver holds those)."""
    ranks = sample.ranks.get(index)
    cols = plan.config.columns
    if ranks is None or not ranks.size:
        return frame.iloc[:0], np.zeros(0, dtype=np.int64)
    position = np.arange(len(frame), dtype=np.int64)
    if plan.duplicated.size and len(frame):
        dup = np.isin(hash_values(frame[cols.request_id]), plan.duplicated)
        frame, position = frame.loc[~dup].reset_index(drop=True), position[~dup]
    joined, _, _ = join_labels(frame, labels, cols)
    mapped = position[_eligible(joined, cols.target, sample.labeled_only)]
    deferred = sample.deferred.get(index, np.zeros(0, dtype=np.int64))
    merged = np.concatenate([mapped, deferred])
    from_deferred = np.concatenate([np.zeros(mapped.size, bool), np.ones(deferred.size, bool)])
    sort = np.argsort(merged, kind="stable")
    chosen, chosen_deferred = merged[sort][ranks], from_deferred[sort][ranks]
    mine = chosen[~chosen_deferred]
    out = joined.iloc[np.searchsorted(position, mine)].copy()
    out[ORDER_COLUMN] = (index << PARTITION_SHIFT) + mine
    return out, (index << PARTITION_SHIFT) + chosen[chosen_deferred]


def assemble_sample(
    gathered: Sequence[tuple[pd.DataFrame, np.ndarray]], deferred: pd.DataFrame
) -> pd.DataFrame:
    """The sampled rows in the window's row order (the deferred ones taken from `deferred`)."""
    keys = np.concatenate([k for _, k in gathered]) if gathered else np.zeros(0, dtype=np.int64)
    parts = [f for f, _ in gathered if len(f)]
    if keys.size:
        parts.append(deferred[deferred[ORDER_COLUMN].isin(keys)])
    if not parts:
        return deferred.iloc[:0].drop(columns=[ORDER_COLUMN])
    rows = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    rows = rows.sort_values(ORDER_COLUMN, kind="stable").drop(columns=[ORDER_COLUMN])
    return rows.reset_index(drop=True)
