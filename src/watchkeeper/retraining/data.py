"""The rows a challenger is trained on and the rows it is judged on.

Training (`build_training_data`): the champion's reference plus recent labeled windows that passed
validation, with the newest windows kept out for the deploy decision and a seeded fraction of rows
held out to measure the new model. Judging (`load_evaluation_data`): labeled windows newer than
everything the challenger was trained on, or (`evaluate_on: holdout`) the rows held out of its
training. Which windows qualify is decided from the state database's history.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from watchkeeper.retraining.decision import RetrainHistory, WindowRecord, read_history
from watchkeeper.retraining.registry import (
    TAG_DATA_END,
    TAG_HOLDOUT_URI,
    TAG_TRAINING_WINDOWS,
    read_time_list_tag,
    read_time_tag,
)
from watchkeeper.sources import build_source
from watchkeeper.sources.config import ParquetSourceConfig
from watchkeeper.state import StateStore
from watchkeeper.timeutil import iso_z
from watchkeeper.windows import load_window, read_labels

if TYPE_CHECKING:  # annotations only: the config imports this package
    from watchkeeper.config import MonitorConfig


def split_windows(
    windows: Sequence[WindowRecord], *, window_end: datetime, training: int, evaluation: int
) -> tuple[list[datetime], list[datetime]]:
    """Labeled, validated windows up to `window_end`: (training window ends, evaluation window ends).

    The newest `evaluation` windows are kept out of training so the deploy flow has data neither
    model was fitted on; the `training` windows before them are the training set. Oldest first.
    """
    usable = sorted(
        w.window_end
        for w in windows
        if w.usable_for_training and w.n_labeled > 0 and w.window_end <= window_end
    )
    held_out = usable[-evaluation:] if evaluation else []
    rest = usable[: len(usable) - len(held_out)]
    return (rest[-training:] if training else []), held_out


def evaluation_windows(
    windows: Sequence[WindowRecord],
    *,
    training_windows: Sequence[datetime],
    data_end: datetime | None,
    count: int,
) -> list[datetime]:
    """Labeled, validated windows newer than everything the challenger was trained on (oldest first).

    Newer than its newest training window; a challenger trained on the reference only must not be
    judged on windows older than its data (`data_end`). At most `count` (at least one) of the newest.
    """
    after: datetime | None = max(training_windows) if training_windows else data_end
    usable = sorted(
        w.window_end
        for w in windows
        if w.usable_for_training and w.n_labeled > 0 and (after is None or w.window_end > after)
    )
    return usable[-max(count, 1) :]


def holdout_mask(n: int, fraction: float, seed: int) -> np.ndarray:
    """A seeded random `fraction` of `n` rows (at least one row on each side when n >= 2)."""
    rng = np.random.default_rng(seed)
    k = round(n * fraction)
    k = min(max(k, 1 if n >= 2 else 0), max(n - 1, 0))
    mask = np.zeros(n, dtype=bool)
    mask[rng.permutation(n)[:k]] = True
    return mask


def labeled_rows(frame: pd.DataFrame, config: MonitorConfig) -> pd.DataFrame:
    """The rows of `frame` that have a label, with the timestamp, the features and the target only."""
    cols = config.columns
    assert cols.target is not None
    keep = [c for c in (cols.timestamp, *cols.features, cols.target) if c in frame.columns]
    out = frame.loc[frame[cols.target].notna(), keep].reset_index(drop=True)
    target = out[cols.target]
    # Labels joined from late ground truth come back as floats (NaN while missing); integer labels
    # go back to integers so the new model's classes match the old one's.
    if pd.api.types.is_float_dtype(target) and len(target) and bool(np.all(target == np.round(target))):
        out[cols.target] = target.astype("int64")
    return out


def _labeled_window_rows(
    config: MonitorConfig, ends: Sequence[datetime], *, as_of: datetime | None
) -> pd.DataFrame:
    """The labeled rows of the windows ending at `ends`, in that order, with the labels known at
    `as_of` (read once; None: every label on disk), so a retraining during a backfill trains on
    what it would have had then, not on labels that arrived later."""
    if not ends:
        return pd.DataFrame()
    since = config.window.calendar.shift(min(ends), -1)
    labels = read_labels(config, since=since, as_of=as_of) if as_of is not None else read_labels(config)
    parts = [
        labeled_rows(
            load_window(config, config.window.calendar.shift(end, -1), end, labels=labels).frame, config
        )
        for end in ends
    ]
    return pd.concat(parts, ignore_index=True)


@dataclass(frozen=True)
class TrainingData:
    train: pd.DataFrame
    holdout: pd.DataFrame  # scored by the new model, it becomes the version's reference data
    training_windows: list[datetime]
    evaluation_windows: list[datetime]
    data_start: datetime | None
    data_end: datetime | None


def build_training_data(
    config: MonitorConfig,
    history: RetrainHistory,
    *,
    window_end: datetime,
    load_reference: Callable[[], pd.DataFrame],
    labels_as_of: datetime | None = None,
) -> TrainingData:
    """Reference (the champion's) plus recent labeled windows that passed validation.

    The newest `evaluation_windows` labeled windows are left out for the deploy flow. A seeded
    `holdout_fraction` of the recent windows' rows (of the reference when there are none) is held out:
    it measures the new model and becomes its reference data. `load_reference` reads the champion's
    reference; it is called only when the training set includes it. The windows join the labels
    known at `labels_as_of` (the asking run's time; None: every label on disk).
    """
    rc = config.retraining
    train_ends, eval_ends = split_windows(
        history.windows,
        window_end=window_end,
        training=rc.training_windows,
        # Judged on its held-out rows, the challenger may train on the newest windows too.
        evaluation=0 if rc.evaluate_on == "holdout" else rc.evaluation_windows,
    )
    recent = _labeled_window_rows(config, train_ends, as_of=labels_as_of)
    reference = pd.DataFrame()
    if rc.include_reference or recent.empty:
        ref = load_reference()
        if config.columns.target in ref.columns:
            reference = labeled_rows(ref, config)
    if recent.empty:
        mask = holdout_mask(len(reference), rc.holdout_fraction, rc.seed)
        holdout, train = reference[mask], reference[~mask]
    else:
        mask = holdout_mask(len(recent), rc.holdout_fraction, rc.seed)
        holdout = recent[mask]
        train = pd.concat([reference, recent[~mask]], ignore_index=True) if len(reference) else recent[~mask]
    if len(train) < rc.min_training_rows:
        raise ValueError(
            f"only {len(train)} labeled training row(s) (retraining.min_training_rows: {rc.min_training_rows})"
        )
    ts = config.columns.timestamp
    data_start = data_end = None
    if ts in train.columns and train[ts].notna().any():
        times = pd.to_datetime(train[ts], utc=True)
        data_start, data_end = (t.floor("s").to_pydatetime() for t in (times.min(), times.max()))
    return TrainingData(
        train=train.reset_index(drop=True),
        holdout=holdout.reset_index(drop=True),
        training_windows=train_ends,
        evaluation_windows=eval_ends,
        data_start=data_start,
        data_end=data_end,
    )


def load_evaluation_data(
    config: MonitorConfig,
    version_tags: Mapping[str, str],
    *,
    store: StateStore,
    as_of: datetime | None = None,
) -> tuple[pd.DataFrame, list[str]]:
    """Labeled rows of the most recent validated windows newer than the challenger's training data
    (with the labels known at `as_of`: the deciding run's time), or (`evaluate_on: holdout`) the rows
    held out of the challenger's training; with what they are (window ends, or the held-out file)."""
    if config.retraining.evaluate_on == "holdout":
        uri = version_tags.get(TAG_HOLDOUT_URI)
        if not uri:  # a version the retrain flow did not make: nothing held out to judge it on
            return pd.DataFrame(), []
        holdout = build_source(ParquetSourceConfig(type="parquet", path=uri)).read()
        return labeled_rows(holdout, config), [f"holdout {uri}"]
    windows = read_history(store, config.model.name, window_size=config.window.calendar).windows
    chosen = evaluation_windows(
        windows,
        training_windows=read_time_list_tag(version_tags, TAG_TRAINING_WINDOWS),
        data_end=read_time_tag(version_tags, TAG_DATA_END),
        count=config.retraining.evaluation_windows,
    )
    return _labeled_window_rows(config, chosen, as_of=as_of), [iso_z(e) for e in chosen]
