"""The monitor flow in a real Prefect harness against a real MLflow store: what they hold after."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from flows.monitor import monitor
from watchkeeper import tracking
from watchkeeper.state import open_state

pytestmark = pytest.mark.slow


def _runs(client: MlflowClient, model: str) -> list:
    exp = client.get_experiment_by_name(f"watchkeeper/{model}")
    assert exp is not None
    return client.search_runs([exp.experiment_id], filter_string=f"tags.`{tracking.TAG_KIND}` = 'monitor'")


def test_monitor_logs_one_run_per_window_and_updates_it(scenario) -> None:
    labels_day1 = scenario.write_day(1)
    report = monitor(str(scenario.config_path), window_end=scenario.window_end(1))
    assert report.mlflow_run_id
    assert report.figures()["window.rows"] == 600

    client = MlflowClient(os.environ["MLFLOW_TRACKING_URI"])
    (run,) = _runs(client, "e2e-model")
    assert run.info.run_id == report.mlflow_run_id
    tags = run.data.tags
    assert tags[tracking.TAG_MODEL] == "e2e-model"
    assert tags[tracking.TAG_MODEL_VERSION] == "1"
    assert tags[tracking.TAG_WINDOW_START] == "2026-03-01T00:00:00Z"
    assert tags[tracking.TAG_WINDOW_END] == "2026-03-02T00:00:00Z"
    assert tags[tracking.TAG_FLOW_RUN_ID] == report.flow_run_id
    assert run.data.metrics["window/rows"] == 600
    history = client.get_metric_history(run.info.run_id, "window/rows")
    assert [m.timestamp for m in history] == [int(scenario.window_end(1).timestamp() * 1000)]
    artifact = client.download_artifacts(run.info.run_id, tracking.REPORT_ARTIFACT)
    assert json.loads(Path(artifact).read_text())["window"]["end"] == "2026-03-02T00:00:00+00:00"
    # Every check logged its figures: drift per column, estimated performance, serving, validation.
    metrics = run.data.metrics
    assert metrics["drift/share"] == report.figures()["drift.share"]
    assert "drift/income/score" in metrics and "drift/purpose/score" in metrics
    assert 0.5 < metrics["perf/estimated/roc_auc"] <= 1.0
    assert metrics["serving/request_count"] == 600
    assert metrics["validation/critical_failures"] == 0
    assert "alerts/firing" in metrics
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "drift")}
    assert {"drift/columns.csv", "drift/evidently_report.html"} <= artifacts
    evidently = Path(client.download_artifacts(run.info.run_id, "drift/evidently_report.html")).read_text()
    assert "no labels yet: no target drift or quality section" in evidently
    assert 'id="watchkeeper-drift-comparison"' in evidently  # Watchkeeper's scores beside Evidently's
    validation = {a.path for a in client.list_artifacts(run.info.run_id, "validation")}
    assert validation == {"validation/gx_result.json", "validation/gx_result.html"}
    page = Path(client.download_artifacts(run.info.run_id, "validation/gx_result.html")).read_text()
    assert "Suite <code>credit-risk</code>" in page and "expect_column_values_to_not_be_null" in page

    # Re-running the same window updates its run: no duplicate.
    monitor(str(scenario.config_path), window_end=scenario.window_end(1))
    (again,) = _runs(client, "e2e-model")
    assert again.info.run_id == run.info.run_id
    assert again.data.tags[tracking.TAG_EVALUATIONS] == "2"

    # Labels of day 1 land during day 2: day 2's run re-evaluates day 1 and updates its MLflow run.
    scenario.write_day(2)
    scenario.write_labels(1, labels_day1)
    monitor(str(scenario.config_path), window_end=scenario.window_end(2))
    runs = {r.data.tags[tracking.TAG_WINDOW_END]: r for r in _runs(client, "e2e-model")}
    assert set(runs) == {"2026-03-02T00:00:00Z", "2026-03-03T00:00:00Z"}
    day1 = runs["2026-03-02T00:00:00Z"]
    assert day1.info.run_id == run.info.run_id
    # Its Evidently page is rebuilt with the labels: target drift and the classification preset.
    evidently = Path(client.download_artifacts(run.info.run_id, "drift/evidently_report.html")).read_text()
    assert "Target drift and classification quality: a sample of the window's labeled rows" in evidently
    assert f"current {len(labels_day1):,} of {len(labels_day1):,}." in evidently
    assert day1.data.metrics["window/label_coverage"] == pytest.approx(len(labels_day1) / 600)
    # Realized performance appears once the labels are there; the history keeps the earlier
    # evaluations (one point per evaluation, all at the window's end).
    assert 0.5 < day1.data.metrics["perf/realized/roc_auc"] <= 1.0
    assert len(client.get_metric_history(run.info.run_id, "window/label_coverage")) == 3
    assert day1.data.tags[tracking.TAG_EVALUATIONS] == "3"
    windows = open_state().list_windows("e2e-model")
    assert [w["n_labeled"] for w in windows] == [len(labels_day1), 0]


def test_empty_window_is_critical_not_a_crash(scenario) -> None:
    scenario.write_day(1)
    report = monitor(str(scenario.config_path), window_end=scenario.window_end(5))
    # the verdict is the built-in no_data rule's, as the alert is: critical
    assert report.verdict.label == "critical"
    assert report.reasons == ["[critical] no_data: No inference logs in the window"]
    (no_data,) = [a for a in report.section("alerts").alerts if a.state == "firing"]
    assert (no_data.rule, no_data.severity) == ("no_data", "critical")
