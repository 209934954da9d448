"""What the on-call engineer sees after a critical window, read back from Prefect's API and MLflow."""

from __future__ import annotations

import json
import os

import pytest
import yaml
from mlflow.tracking import MlflowClient
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

from flows.monitor import monitor
from watchkeeper import tracking

pytestmark = pytest.mark.slow


def _significant_digits(value: float) -> int:
    return len(f"{value:.12g}".replace("-", "").replace(".", "").lstrip("0").split("e")[0])


def test_critical_window_is_named_tagged_and_marked_in_prefect(scenario) -> None:
    scenario.write_day(5)  # the demo's data-quality incident: critical validation failures
    report = monitor(str(scenario.config_path), window_end=scenario.window_end(5))
    assert report.verdict.label == "critical"

    with get_client(sync_client=True) as client:
        run = client.read_flow_run(report.flow_run_id)
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run.id]))
        )
    assert run.name == "e2e-model 2026-03-05"
    assert {"e2e-model", "verdict:critical"} <= set(run.tags)
    # A named Completed state: the runs list shows "Critical", retries and failure counts are untouched.
    assert run.state.type.value == "COMPLETED"
    assert run.state.name == "Critical"
    assert run.state.message.startswith("e2e-model 2026-03-05: critical — [critical]")

    keys = {a.key: a for a in artifacts}
    prefix = "e2e-model-2026-03-05-"
    assert {f"{prefix}verdict", f"{prefix}mlflow-run", f"{prefix}drift", f"{prefix}validation"} <= set(keys)
    assert all(a.key.startswith(prefix) for a in artifacts)
    # They belong to the flow run itself, not to a task of it.
    assert all(a.flow_run_id == run.id and a.task_run_id is None for a in artifacts)
    verdict = keys[f"{prefix}verdict"]
    assert verdict.description.startswith("CRITICAL — e2e-model 2026-03-05: ")
    assert verdict.data.startswith("# e2e-model: CRITICAL")
    drift = keys[f"{prefix}drift"]
    assert drift.type == "table"
    # Rounded to 4 significant digits: a score is a short number, not 17 digits.
    rows = json.loads(drift.data) if isinstance(drift.data, str) else drift.data
    scores = [r["score"] for r in rows if r["score"] is not None]
    assert scores and all(_significant_digits(s) <= 4 for s in scores)
    assert rows[0]["drifted"] == "yes"  # drifted columns first
    # A link artifact is stored as a markdown link.
    link = keys[f"{prefix}mlflow-run"].data
    assert link.endswith(
        f"]({tracking.LOCAL_UI_URL}/#/experiments/1/runs/{report.mlflow_run_id}?workflowType=machine_learning)"
    )


def test_mlflow_link_follows_the_ui_url_setting(scenario, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(tracking.UI_URL_ENV, raising=False)
    config = yaml.safe_load(scenario.config_path.read_text())
    config["tracking"] = {"ui_url": "https://mlflow.example.com/"}
    scenario.config_path.write_text(yaml.safe_dump(config))
    scenario.write_day(1)
    report = monitor(str(scenario.config_path), window_end=scenario.window_end(1))
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[report.flow_run_id]))
        )
    (link,) = [a for a in artifacts if a.key.endswith("mlflow-run")]
    exp = MlflowClient(os.environ["MLFLOW_TRACKING_URI"]).get_experiment_by_name("watchkeeper/e2e-model")
    assert link.data.endswith(
        f"](https://mlflow.example.com/#/experiments/{exp.experiment_id}/runs/{report.mlflow_run_id}"
        "?workflowType=machine_learning)"
    )


def test_mlflow_runs_are_named_described_and_keep_every_evaluation(scenario) -> None:
    labels = scenario.write_day(1)
    first = monitor(str(scenario.config_path), window_end=scenario.window_end(1))
    scenario.write_day(2)
    scenario.write_labels(1, labels)  # day 2's run re-evaluates day 1
    second = monitor(str(scenario.config_path), window_end=scenario.window_end(2))
    assert first.flow_run_id != second.flow_run_id

    client = MlflowClient(os.environ["MLFLOW_TRACKING_URI"])
    exp = client.get_experiment_by_name("watchkeeper/e2e-model")
    # Opens in the classic runs view, not GenAI mode.
    assert exp.tags[tracking.EXPERIMENT_KIND_TAG] == "custom_model_development"
    (run,) = client.search_runs(
        [exp.experiment_id], filter_string=f"tags.`{tracking.TAG_WINDOW_END}` = '2026-03-02T00:00:00Z'"
    )
    tags = run.data.tags
    verdict = tags[tracking.TAG_VERDICT]
    assert run.info.run_name == f"2026-03-01–03-02 {verdict}"
    # Every evaluation's Prefect flow run is kept; the first stays under the plain tag.
    assert tags[tracking.TAG_FLOW_RUN_ID] == first.flow_run_id
    assert tags[tracking.evaluation_tag(1)] == first.flow_run_id
    assert tags[tracking.evaluation_tag(2)] == second.flow_run_id
    note = tags[tracking.TAG_NOTE]
    assert note.startswith(f"**{verdict.upper()}** — window 2026-03-01 00:00 → 2026-03-02 00:00 UTC")
    assert "**Why**" in note and "validation_failure: 1 data expectation(s)" in note, note
    # The harness serves a UI, so each evaluation links to its flow run page.
    assert f"1. [{first.flow_run_id}](" in note and f"2. [{second.flow_run_id}](" in note
    assert tags[tracking.evaluation_url_tag(2)].endswith(f"/flow-runs/flow-run/{second.flow_run_id}")
    assert "realized roc_auc 0." in note  # the labels of the re-evaluation
    # The version that scored the window, linked in the registry of the configured MLflow UI.
    registered = (
        yaml.safe_load(scenario.config_path.read_text())["model"].get("registered_model") or "e2e-model"
    )
    url = f"{tracking.LOCAL_UI_URL}/#/models/{registered}/versions/1?workflowType=machine_learning"
    assert tags[tracking.TAG_MODEL_VERSION_URL] == url
    assert f"[{registered} version 1]({url})" in note
