"""Evidently's page of a window is rebuilt when a later run re-evaluates it (late labels arrived)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from flows.monitor import monitor
from watchkeeper import tracking

pytestmark = pytest.mark.slow

PAGE = "drift/evidently_report.html"


def _page(client: MlflowClient, run_id: str) -> str:
    return Path(client.download_artifacts(run_id, PAGE)).read_text()


def test_reevaluated_window_gets_target_drift_and_quality(scenario) -> None:
    labels_day1 = scenario.write_day(1)
    report = monitor(str(scenario.config_path), window_end=scenario.window_end(1))
    client = MlflowClient(os.environ["MLFLOW_TRACKING_URI"])
    first = _page(client, report.mlflow_run_id)
    assert "no labels yet: no target drift or quality section" in first
    assert 'id="watchkeeper-drift-comparison"' in first  # Watchkeeper's scores beside Evidently's
    assert "Drift in column &#x27;score&#x27;" in first or "Drift in column 'score'" in first

    # Day 1's labels land during day 2: day 2's run re-evaluates day 1 and rebuilds its page.
    scenario.write_day(2)
    scenario.write_labels(1, labels_day1)
    monitor(str(scenario.config_path), window_end=scenario.window_end(2))
    exp = client.get_experiment_by_name("watchkeeper/e2e-model")
    runs = {
        r.data.tags[tracking.TAG_WINDOW_END]: r.info.run_id
        for r in client.search_runs(
            [exp.experiment_id], filter_string=f"tags.`{tracking.TAG_KIND}` = 'monitor'"
        )
    }
    assert runs["2026-03-02T00:00:00Z"] == report.mlflow_run_id
    again = _page(client, report.mlflow_run_id)
    assert "Target drift and classification quality: a sample of the window's labeled rows" in again
    assert "preset was left out" not in again
    assert f"current {len(labels_day1):,} of {len(labels_day1):,}." in again
    # Day 2 itself has no labels yet.
    assert "no labels yet" in _page(client, runs["2026-03-03T00:00:00Z"])
