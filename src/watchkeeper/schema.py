"""The model's task and the roles of its columns: the vocabulary every domain package shares.

Kept apart from `watchkeeper.config` (the whole model config, which gathers every package's section)
so the packages that compute can use it without importing the config that imports them.
"""

from __future__ import annotations

import enum

from watchkeeper.configbase import StrictModel


class TaskType(enum.StrEnum):
    BINARY = "binary_classification"
    MULTICLASS = "multiclass_classification"
    REGRESSION = "regression"


class ColumnsConfig(StrictModel):
    """Which column of the inference logs, ground truth and reference plays which role."""

    request_id: str = "request_id"
    timestamp: str = "timestamp"
    numerical_features: tuple[str, ...] = ()
    categorical_features: tuple[str, ...] = ()
    prediction: str | None = "prediction"
    # Binary classification: the positive-class probability. Multiclass: `probabilities` maps each
    # class label to its probability column instead.
    score: str | None = None
    probabilities: dict[str, str] | None = None
    target: str | None = "target"
    # Ground truth's own arrival time, when the label source records it.
    label_timestamp: str | None = None
    latency_ms: str | None = None
    status: str | None = None
    model_version: str | None = None
    # The status values that count as a successful request; anything else is an error.
    ok_statuses: tuple[str, ...] = ("ok", "200", "success")

    @property
    def features(self) -> tuple[str, ...]:
        return self.numerical_features + self.categorical_features
