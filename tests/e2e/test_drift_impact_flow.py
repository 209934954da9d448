"""The monitor flow measures drift impact with the model registered in a real MLflow SQLite store."""

from __future__ import annotations

import os

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from flows.monitor import monitor
from tasks.registry_tasks import register_model
from watchkeeper.config import load_config
from watchkeeper.training import train_default

pytestmark = pytest.mark.slow


def test_the_window_is_rescored_by_its_registered_model_and_ranked(scenario) -> None:
    config = load_config(scenario.config_path)
    reference = pd.read_parquet(scenario.root / "reference" / "ref.parquet")
    client = MlflowClient(os.environ["MLFLOW_TRACKING_URI"])
    model = train_default(reference, columns=config.columns, task=config.model.task, seed=0)
    register_model.fn(
        model,
        client=client,
        experiment="e2e/training",
        registered_name=config.model.registry_name,
        training_frame=reference,
        columns=config.columns,
        task_type=config.model.task,
        dataset_name="reference",
        params={},
        metrics={},
        version_tags={},
        aliases=("champion",),
    )
    scenario.write_day(1)
    report = monitor(str(scenario.config_path), window_end=scenario.window_end(1))

    reset = report.section("drift.reset")
    assert reset.model_version == "1" and reset.status == "ok" and reset.metric == "mean score"
    impact = report.section("drift.impact")
    ranked = [f for f in impact.features if f.rank is not None]
    assert [f.rank for f in ranked] == list(range(1, len(config.columns.features) + 1))
    changes = [abs(f.reset_change) for f in ranked]
    assert changes == sorted(changes, reverse=True) and changes[0] > 0
    metrics = client.get_run(report.mlflow_run_id).data.metrics
    top = ranked[0].feature
    assert metrics[f"drift/impact/{top}/rank"] == 1.0
    assert metrics[f"drift/impact/{top}/reset_change"] == ranked[0].reset_change
