"""Run Evidently's DataDriftPreset and read back per-column scores and decisions.

Used by the conformance tests and the benchmark to compare Watchkeeper with Evidently 0.7 on the
same frames. A ValueDrift metric's value is the score; the decision is the status of its test
(FAIL = drift), so the report runs with ``include_tests=True``.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd


@dataclass(frozen=True)
class EvidentlyColumn:
    score: float
    drifted: bool
    method: str  # Evidently's display name, e.g. "K-S p_value"
    threshold: float


@dataclass(frozen=True)
class EvidentlyDrift:
    columns: dict[str, EvidentlyColumn]
    n_drifted: int
    share: float
    dataset_drift: bool


def run_evidently_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    numerical: Sequence[str],
    categorical: Sequence[str],
    **preset: Any,
) -> EvidentlyDrift:
    """Evidently's DataDriftPreset on the given columns; `preset` goes to `DataDriftPreset`."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    columns = [*numerical, *categorical]
    definition = DataDefinition(numerical_columns=list(numerical), categorical_columns=list(categorical))
    drift_share = preset.get("drift_share", 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        snapshot = Report([DataDriftPreset(columns=columns, **preset)], include_tests=True).run(
            current_data=Dataset.from_pandas(current[columns], data_definition=definition),
            reference_data=Dataset.from_pandas(reference[columns], data_definition=definition),
        )
    data = json.loads(snapshot.json())
    by_id: dict[str, dict[str, Any]] = {m["id"]: m for m in data["metrics"]}
    status = {t["metric_config"]["metric_id"]: t["status"] for t in data["tests"] if t["id"] == "drift"}
    result: dict[str, EvidentlyColumn] = {}
    count: dict[str, float] = {}
    for metric_id, metric in by_id.items():
        config = metric["config"]
        if config["type"].endswith("DriftedColumnsCount"):
            count = metric["value"]
        elif config["type"].endswith("ValueDrift"):
            value = metric["value"]
            result[config["column"]] = EvidentlyColumn(
                score=float("nan") if value is None else float(value),
                drifted=status[metric_id] == "FAIL",
                method=config["method"],
                threshold=float(config["threshold"]),
            )
    share = float(count.get("share", 0.0))
    return EvidentlyDrift(
        columns=result,
        n_drifted=round(float(count.get("count", 0.0))),
        share=share,
        dataset_drift=share >= drift_share,
    )
