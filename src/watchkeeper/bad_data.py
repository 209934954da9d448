"""Bad data is a finding, never silence: what a run learns about its data beyond one window's rows.

A window's read keeps only its own rows, so some damage is invisible from inside it:

- rows of the inference logs stamped after the evaluation time (a producer's clock a month ahead):
  no window the run judges holds them, so they vanished without a word. `count_rows_after_evaluation`
  counts those in the window's own files (after the run's `as_of`) and those anywhere after the
  run's wall clock into the window's `rows_after_evaluation` (rule `rows_after_evaluation`);
- labels whose request id matches no logged request (a join key renamed upstream, labels of another
  model): they joined nothing, and `unmatched_labels` read 0. `assess_labels` counts them against
  the requests of every window that could hold them (rule `unmatched_labels`);
- a configured label source that cannot be read (a typo in the path): the windows were judged
  without labels with only a note. It is the `labels.unreadable` figure (rule
  `label_source_unreadable`, critical).

The figures live in the `window` and `labels` sections of the run's window report; each finding's
sentence names what and where (the source, the time range, a few of the ids). The other two kinds
of bad data are found where they are met: a column whose type changed between files by the file
sources (`sources.perfile.TypeChange`, rule `column_type_changed`), a check that could not fit by
the check runner (`checks.ChecksReport`, rule `check_not_fitted`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from watchkeeper.quoting import cap_label
from watchkeeper.sources import FileSource, build_source
from watchkeeper.timeutil import as_utc
from watchkeeper.verdict import NOTHING_TO_PUBLISH, Finding, Publication, Severity
from watchkeeper.windows import Labels, labels_read_end

if TYPE_CHECKING:
    from watchkeeper.config import MonitorConfig

# Clocks of the hosts that write the logs and of the one that judges them may differ a little: a row
# stamped up to this long after the evaluation time is not counted.
CLOCK_SKEW_ALLOWANCE = timedelta(minutes=5)
# Above this share of the labels read, labels that match no request are a finding (a few stray ones
# are normal: a request whose log line was lost, a label later than the label lag).
UNMATCHED_LABELS_SHARE = 0.01
# Unmatched request ids quoted in the finding (each capped), the rest counted.
IDS_QUOTED = 3


@dataclass(frozen=True)
class RowsAfterEvaluation:
    """Rows of the inference logs stamped after the evaluation time: `in_window_files` in the files
    of the window (its date partitions) stamped after `as_of` (plus the allowance), `ahead` in the
    other files, stamped after the run's clock (plus the allowance)."""

    source: str
    cutoff: datetime  # as_of plus the allowance
    clock: datetime  # the run's wall clock (or as_of, if later) plus the allowance
    in_window_files: int = 0
    ahead: int = 0
    first: datetime | None = None
    last: datetime | None = None

    @property
    def rows(self) -> int:
        return self.in_window_files + self.ahead

    def describe(self) -> str:
        parts = []
        if self.in_window_files:
            parts.append(
                f"{self.in_window_files} in this window's files, after {self.cutoff:%Y-%m-%d %H:%M} UTC"
            )
        if self.ahead:
            parts.append(f"{self.ahead} elsewhere, after the run's clock {self.clock:%Y-%m-%d %H:%M} UTC")
        span = (
            f"; stamped from {self.first:%Y-%m-%d %H:%M} to {self.last:%Y-%m-%d %H:%M} UTC"
            if self.first and self.last
            else ""
        )
        return (
            f"{self.rows} row(s) of the inference logs ({self.source}) are stamped after the evaluation "
            f"time ({'; '.join(parts)}{span}): no window judged so far holds them; check the clock of "
            "the host that writes the logs"
        )


def count_rows_after_evaluation(
    config: MonitorConfig, start: datetime, end: datetime, *, as_of: datetime, now: datetime
) -> RowsAfterEvaluation:
    """Count the inference rows stamped after the evaluation time (the time column only is read,
    with the filters pushed down):

    - anywhere in the logs, after the run's clock: `max(as_of, now)` plus `CLOCK_SKEW_ALLOWANCE`
      (a replay of a past window judges as of its end, and the rows of later windows are there
      legitimately: only the wall clock bounds what can exist);
    - in the window's own files (date partitions), after `as_of` plus the allowance: each window
      opens only its own days, so those rows are in no window's read.
    """
    clock = max(as_utc(as_of), as_utc(now)) + CLOCK_SKEW_ALLOWANCE
    cutoff = as_utc(as_of) + CLOCK_SKEW_ALLOWANCE
    source = build_source(config.sources.inference_logs)
    ts = config.columns.timestamp
    stamps = [source.read(columns=[ts], time_column=ts, start=clock)[ts]]
    in_files = 0
    if isinstance(source, FileSource):
        own = source.read_window_partitions(time_column=ts, window=(start, end), start=cutoff)
        if own is not None:
            # Disjoint from the rows above: the read after the clock opens only the days from the
            # clock on, and the window's days end before it.
            in_files = len(own)
            stamps.append(own[ts])
    every = pd.concat(stamps)
    ahead = len(stamps[0])
    if every.empty:
        return RowsAfterEvaluation(source.description, cutoff, clock)
    return RowsAfterEvaluation(
        source.description,
        cutoff,
        clock,
        in_window_files=in_files,
        ahead=ahead,
        first=every.min().to_pydatetime(),
        last=every.max().to_pydatetime(),
    )


@dataclass(frozen=True)
class LabelsReport:
    """Section "labels": the ground truth a run read, whether it could, and what matched nothing.

    `unmatched` is None when it was not counted (no labels read, or labels without an arrival time:
    the windows that could hold them are then unbounded).
    """

    source: str
    read: int
    error: str | None = None
    unmatched: int | None = None
    searched: tuple[datetime, datetime] | None = None
    examples: tuple[str, ...] = ()
    note: str | None = None

    @property
    def unmatched_share(self) -> float | None:
        return self.unmatched / self.read if self.unmatched is not None and self.read else None

    def figures(self) -> dict[str, float]:
        out = {"read": float(self.read), "unreadable": float(self.error is not None)}
        if self.unmatched is not None:
            out["unmatched"] = float(self.unmatched)
        if self.unmatched_share is not None:
            out["unmatched_share"] = self.unmatched_share
        return out

    def describe_unmatched(self) -> str:
        assert self.unmatched is not None and self.searched is not None
        lo, hi = self.searched
        shown = ", ".join(repr(e) for e in self.examples)
        more = self.unmatched - len(self.examples)
        ids = f" (e.g. {shown}" + (f" and {more} more" if more > 0 else "") + ")" if shown else ""
        return (
            f"{self.unmatched} of {self.read} label(s) read from {self.source} match no request id of the "
            f"inference logs from {lo:%Y-%m-%d %H:%M} to {hi:%Y-%m-%d %H:%M} UTC (every window that "
            f"could hold them){ids}: check the join key (columns.request_id) on both sides"
        )

    def findings(self) -> list[Finding]:
        if self.error is not None:
            return [
                Finding(
                    "labels",
                    Severity.CRITICAL,
                    f"the label source cannot be read: {self.error}; windows are judged without labels",
                    rule="label_source_unreadable",
                )
            ]
        share = self.unmatched_share
        if share is not None and share > UNMATCHED_LABELS_SHARE:
            return [Finding("labels", Severity.WARNING, self.describe_unmatched(), rule="unmatched_labels")]
        return []

    def publish(self) -> Publication:
        return NOTHING_TO_PUBLISH

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "read": self.read,
            "error": self.error,
            "unmatched": self.unmatched,
            "unmatched_share": self.unmatched_share,
            "searched": None if self.searched is None else [t.isoformat() for t in self.searched],
            "unmatched_examples": list(self.examples),
            "notes": [n for n in (self.note,) if n],
        }


def _matched(label_ids: Any, request_ids: pd.Series) -> np.ndarray:
    """Which label ids are among `request_ids` (compared as Arrow values, else as pandas does)."""
    if isinstance(label_ids, pa.Array):
        try:
            requests = pa.array(request_ids, from_pandas=True)
            if requests.type == label_ids.type:
                return pc.fill_null(pc.is_in(label_ids, value_set=requests), False).to_numpy(
                    zero_copy_only=False
                )
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            pass
        label_ids = label_ids.to_pandas()
    return pd.Series(label_ids).isin(request_ids).to_numpy()


def assess_labels(config: MonitorConfig, labels: Labels | None) -> LabelsReport | None:
    """The run's labels as a section: unreadable, or how many match no request that could be theirs.

    A label arrives after its request and within the label lag, so the labels that arrived in
    ``[since, cutoff]`` belong to requests stamped in ``[since - label_lag, cutoff]``: those request
    ids are read (one column) and the labels matched against them. None without a ground truth.
    """
    if labels is None or config.sources.ground_truth is None:
        return None
    source = build_source(config.sources.ground_truth).description
    if labels.error is not None:
        return LabelsReport(source, 0, error=labels.error)
    read = len(labels.ids)
    if read == 0:
        return LabelsReport(source, 0, unmatched=0)
    if labels.cutoff is None or labels.since is None:
        why = "labels without an arrival time (or in hindsight) could belong to any window"
        return LabelsReport(source, read, note=f"unmatched labels not counted: {why}")
    cols = config.columns
    lo, hi = as_utc(labels.since) - config.window.label_lag, as_utc(labels.cutoff)
    logs = build_source(config.sources.inference_logs)
    requests = logs.read(
        columns=[cols.request_id, cols.timestamp],
        time_column=cols.timestamp,
        start=lo,
        end=labels_read_end(hi),
    )[cols.request_id]
    unmatched = ~_matched(labels.ids, requests)
    ids = labels.ids.to_pandas() if isinstance(labels.ids, pa.Array) else pd.Series(labels.ids)
    examples = tuple(cap_label(str(v)) for v in ids[unmatched].head(IDS_QUOTED))
    return LabelsReport(source, read, unmatched=int(unmatched.sum()), searched=(lo, hi), examples=examples)
