"""Input guards: bad input is an error that says what and where, never a quiet `ok`.

Three holes found by fault injection, each closed here and called from where the data is met:

- a reference of 3 rows: KS on n=3, CBPE not fitted, verdict ok. `min_reference_rows` (per check,
  configurable) turns a check whose reference is too small into an error of that check
  (`ReferenceTooSmall`, reported in the window's errors) while the other checks still run;
- labels "no"/"yes"/"maybe" against 0/1 predictions: verdict ok, accuracy 0.0.
  `check_label_classes` names the classes that match no prediction;
- an alert rule on a misspelt column (`drift.incme.drifted == 1`) accepted and never able to fire.
  `check_rule_columns` fails the config at load, naming the rule and the known columns.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from watchkeeper.schema import TaskType

if TYPE_CHECKING:
    from watchkeeper.config import MonitorConfig

# Rows a reference needs before a check can judge a window against it (by check name).
DEFAULT_MIN_REFERENCE_ROWS: Mapping[str, int] = {"drift": 20, "evidently_report": 20, "perf": 50}

# drift.<column>.<figure>: the figures that name a drift column.
_DRIFT_COLUMN_FIGURES = ("score", "drifted", "effect_size")


@dataclass(frozen=True)
class ReferenceTooSmall:
    """What a check 'learned' from a reference too small for it: nothing, and why."""

    check: str
    rows: int
    minimum: int

    @property
    def message(self) -> str:
        return (
            f"reference has {self.rows} row(s); the {self.check} check needs at least {self.minimum} "
            f"(min_reference_rows.{self.check})"
        )


def reference_too_small(check: str, rows: int, minimums: Mapping[str, int]) -> ReferenceTooSmall | None:
    minimum = int(minimums.get(check, 0))
    return ReferenceTooSmall(check, rows, minimum) if rows < minimum else None


def check_label_classes(labels: pd.Series, predicted: Iterable[Any], *, target: str, prediction: str) -> None:
    """Raise ValueError when some label class matches no class the model predicts (compared as text).

    `predicted` is the model's class set: 0/1 for a binary model plus what its prediction column
    holds; for a multiclass model its `probabilities` classes plus the predictions.
    """
    label_classes = {str(v) for v in pd.unique(labels.dropna())}
    predicted_classes = {str(v) for v in predicted}
    # Booleans and their 0/1 spellings are the same class.
    aliases = {"True": "1", "False": "0", "1.0": "1", "0.0": "0"}
    norm_predicted = {aliases.get(c, c) for c in predicted_classes}
    unknown = sorted(c for c in label_classes if aliases.get(c, c) not in norm_predicted)
    if unknown:
        raise ValueError(
            f"label classes {sorted(label_classes)} in {target!r} do not match the predicted classes "
            f"{sorted(predicted_classes)} ({prediction}); unmatched: {unknown}"
        )


def check_window_labels(config: MonitorConfig, frame: pd.DataFrame) -> None:
    """`check_label_classes` on a window's labeled rows (classification models only)."""
    cols, task = config.columns, config.model.task
    if task is TaskType.REGRESSION or cols.target is None or cols.target not in frame.columns:
        return
    labels = frame[cols.target]
    if not labels.notna().any():
        return
    predicted: set[Any] = {0, 1} if task is TaskType.BINARY else set()
    predicted |= set(cols.probabilities or {})
    if cols.prediction and cols.prediction in frame.columns:
        predicted |= set(pd.unique(frame[cols.prediction].dropna()))
    check_label_classes(
        labels, predicted, target=cols.target, prediction=cols.prediction or cols.score or "the model"
    )


def _drift_columns(config: MonitorConfig) -> set[str]:
    cols = config.columns
    known = set(cols.numerical_features) | set(cols.categorical_features) | {"target"}
    predictions = [c for c in (cols.score, cols.prediction) if c]
    predictions += list((cols.probabilities or {}).values())
    known |= {f"prediction.{c}" for c in predictions}
    known |= set(predictions)
    return known


def check_rule_columns(config: MonitorConfig) -> None:
    """Raise ValueError naming the first rule whose condition refers to a column not configured."""
    known = _drift_columns(config)
    for i, rule in enumerate(config.alerts.rules):
        for name in rule.parsed.fields:
            parts = name.split(".")
            if len(parts) < 3 or parts[0] != "drift" or parts[-1] not in _DRIFT_COLUMN_FIGURES:
                continue
            column = ".".join(parts[1:-1])
            if column not in known:
                raise ValueError(
                    f"alerts.rules.{i} ({rule.name}): condition refers to column {column!r} ({name}), "
                    f"which is not a configured column; known: {sorted(known)}"
                )
