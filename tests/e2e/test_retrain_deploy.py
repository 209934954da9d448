"""Retraining and deployment in a real Prefect harness against a real MLflow registry.

The state database is filled as the monitor flow leaves it (window evaluations with labels) and the
data lies in Parquet files, so `maybe_trigger_retraining` — what the monitor flow calls at its end —
runs the policy, the retrain flow and the deploy flow for real. Aliases are asserted through MlflowClient.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from mlflow.tracking import MlflowClient
from prefect import flow

from flows.retrain import maybe_trigger_retraining
from tasks.registry_tasks import config_for_champion, register_model
from tasks.tracking_tasks import resolve_tracking_uri
from watchkeeper import demo_data
from watchkeeper import retraining as policy
from watchkeeper.config import load_config
from watchkeeper.report import MonitoringReport, SnapshotSection
from watchkeeper.state import open_state
from watchkeeper.training import train_default
from watchkeeper.windows import load_reference

pytestmark = pytest.mark.slow

REGISTERED = "e2e-credit"


def train_shuffled(frame: pd.DataFrame, *, columns: Any, task: Any, seed: int = 0) -> Any:
    """A trainer that learns noise (labels shuffled): its challenger must be rejected."""
    target = columns.target
    noisy = frame.assign(**{target: np.random.default_rng(seed).permutation(frame[target].to_numpy())})
    return train_default(noisy, columns=columns, task=task, seed=seed)


def _report(model: str, day: int, figures: dict[str, dict[str, float]]) -> MonitoringReport:
    start = demo_data.day_plan(day).start
    return MonitoringReport(
        model=model,
        window_start=start,
        window_end=start + timedelta(days=1),
        evaluated_at=datetime.now(UTC),
        model_versions=("1",),
        config_hash="test",
        sections={name: SnapshotSection("test", start, v) for name, v in figures.items()},
        flow_run_id="monitor-run-1",
    )


@flow(name="test-monitor-end")
def monitor_end(config_path: str, report: MonitoringReport) -> dict[str, Any]:
    """What the monitor flow does after its checks: let the policy decide and maybe retrain."""
    config = load_config(config_path)
    client = MlflowClient(resolve_tracking_uri(config.tracking.tracking_uri))
    return maybe_trigger_retraining(config, config_path, report, store=open_state(), client=client)


def _register_champion(config: Any, tracking_uri: str) -> None:
    """Version 1, trained on pre-drift history, is the champion."""
    history = demo_data.make_reference(11, rows=3_000, days=6)
    model = train_default(history, columns=config.columns, task=config.model.task, seed=0)
    register_model(
        model,
        client=MlflowClient(tracking_uri),
        experiment="e2e/training",
        registered_name=REGISTERED,
        training_frame=history,
        columns=config.columns,
        task_type=config.model.task,
        dataset_name="history",
        params={"rows": len(history)},
        metrics={},
        version_tags={policy.TAG_TRIGGER: "initial"},
        aliases=("champion",),
    )


def _add_days(scenario: Any, model: str, days: range) -> None:
    """Days of traffic with their labels, recorded as the monitor flow records evaluated windows."""
    store = open_state()
    for day in days:
        labels = scenario.write_day(day)
        scenario.write_labels(day, labels)
        store.record_window(
            model=model,
            window_start=demo_data.day_plan(day).start,
            window_end=scenario.window_end(day),
            n_rows=scenario.rows,
            n_labeled=len(labels),
            verdict="warning",
            usable_for_training=True,
            mlflow_run_id=None,
            summary={"figures": {"drift.dataset_drift": 1.0}},
        )


def _setup(
    scenario: Any, days: range, retraining: dict[str, Any], *, champion: bool = True
) -> tuple[str, MlflowClient]:
    """Champion v1 trained on pre-drift history; `days` written with labels and recorded as evaluated."""
    config_path = Path(scenario.config_path)
    # Only the sections this loop reads: the other sections' settings are not under test here.
    raw = {
        k: v
        for k, v in yaml.safe_load(config_path.read_text()).items()
        if k in ("model", "columns", "sources", "window")
    }
    raw["model"]["registered_model"] = REGISTERED
    raw["retraining"] = {"enabled": True, "min_training_rows": 100, "min_evaluation_rows": 100, **retraining}
    config_path.write_text(yaml.safe_dump(raw))
    config = load_config(config_path)
    tracking_uri = os.environ["MLFLOW_TRACKING_URI"]
    if champion:
        _register_champion(config, tracking_uri)
    _add_days(scenario, config.model.name, days)
    return str(config_path), MlflowClient(tracking_uri)


def _alias(client: MlflowClient, alias: str) -> str | None:
    try:
        return str(client.get_model_version_by_alias(REGISTERED, alias).version)
    except Exception:
        return None


def test_drift_retrains_promotes_then_rolls_back(scenario) -> None:
    started = datetime.now(UTC)
    # Concept drift from day 10. Retraining on days 10-11 uses every labeled window (evaluation_windows
    # 0), so the deploy decision waits for newer labels; once day 13's arrive, v2 beats v1 on them.
    config_path, client = _setup(
        scenario, range(10, 12), {"include_reference": False, "training_windows": 2, "evaluation_windows": 0}
    )
    report = _report(
        "e2e-model", 11, {"drift": {"dataset_drift": 1.0}, "validation": {"critical_failures": 0.0}}
    )
    result = monitor_end(config_path, report)

    assert result["decision"]["decision"] == "retrain"
    assert result["decision"]["reasons"] == ["dataset drift in 2 consecutive window(s)"]
    retrained = result["retrain"]
    assert retrained["version"] == "2"
    assert retrained["training_windows"] == ["2026-03-11T00:00:00Z", "2026-03-12T00:00:00Z"]
    assert retrained["evaluation_windows"] == []
    assert retrained["deploy"]["decision"] == "defer"
    assert (_alias(client, "champion"), _alias(client, "challenger")) == ("1", "2")

    # Two days later, with day 13's labels in: the cooldown holds retraining, the waiting challenger
    # gets its deploy decision.
    _add_days(scenario, "e2e-model", range(12, 14))
    later = monitor_end(config_path, _report("e2e-model", 13, {"drift": {"dataset_drift": 1.0}}))
    assert later["decision"]["decision"] == "blocked"
    deployed = later["deploy"]
    assert deployed["decision"] == "promote", deployed
    assert deployed["evaluation_windows"] == ["2026-03-14T00:00:00Z"]
    (promoted,) = [
        a for a in open_state().read_audit(model="e2e-model") if a["event"] == policy.EVENT_PROMOTED
    ]
    assert promoted["window_end"] == scenario.window_end(13)  # the run that promoted, for the demo's table
    assert promoted["evidence"]["trigger_window_end"] == "2026-03-12T00:00:00Z"
    assert deployed["challenger_metrics"]["roc_auc"] > deployed["champion_metrics"]["roc_auc"] + 0.005

    assert _alias(client, "champion") == "2"
    assert _alias(client, "previous-champion") == "1"
    assert _alias(client, "challenger") is None
    v2 = client.get_model_version(REGISTERED, "2")
    assert v2.tags[policy.TAG_TRIGGER] == "dataset drift in 2 consecutive window(s)"
    assert v2.tags[policy.TAG_MONITOR_RUN] == "monitor-run-1"
    assert v2.tags[policy.TAG_TRIGGER_WINDOW_END] == "2026-03-12T00:00:00Z"
    assert v2.tags[policy.TAG_DEPLOY_STATUS] == "promoted"
    run = client.get_run(v2.run_id)
    assert run.data.params["rows"] == str(retrained["training_rows"])
    assert run.data.params["trainer"] == "watchkeeper.training:train_default"
    assert "holdout/roc_auc" in run.data.metrics
    (dataset_input,) = run.inputs.dataset_inputs
    assert dataset_input.dataset.name == "e2e-model-training-202603120000"

    # The reference follows the champion: v2's reference is its scored training data (train and
    # held-out rows); the held-out rows alone are kept apart for holdout evaluation.
    config = load_config(config_path)
    champion_config = config_for_champion(config, client=client)
    assert champion_config.sources.reference.path == v2.tags[policy.TAG_REFERENCE_URI]
    reference = load_reference(champion_config)
    holdout_rows = int(run.data.params["holdout_rows"])
    assert len(reference) == int(run.data.params["rows"]) + holdout_rows
    assert len(pd.read_parquet(v2.tags[policy.TAG_HOLDOUT_URI])) == holdout_rows > 0
    assert {"score", "prediction", "defaulted"} <= set(reference.columns)

    # Audit: the decisions, the retraining, the deferral and the promotion, in order.
    events = [a["event"] for a in open_state().read_audit(model="e2e-model")]
    assert events == [
        policy.EVENT_DECISION,
        policy.EVENT_RETRAIN_STARTED,
        policy.EVENT_RETRAIN_COMPLETED,
        policy.EVENT_DEFERRED,
        policy.EVENT_DECISION,
        policy.EVENT_PROMOTED,
    ]
    assert policy.read_lease(open_state(), "e2e-model") is None

    # The same window again (a retried monitor run): the cooldown holds, nothing new is registered.
    again = monitor_end(config_path, report)
    assert again["decision"]["decision"] == "blocked"
    assert any("cooldown" in b for b in again["decision"]["blocked_by"])
    assert len(client.search_model_versions(f"name = '{REGISTERED}'")) == 2

    from flows.rollback import rollback

    assert rollback(config_path) == {"champion": "1", "rolled_back": "2"}
    assert _alias(client, "champion") == "1"
    assert _alias(client, "previous-champion") is None
    assert client.get_model_version(REGISTERED, "2").tags[policy.TAG_DEPLOY_STATUS] == "rolled-back"
    assert open_state().read_audit(model="e2e-model")[-1]["event"] == policy.EVENT_ROLLBACK
    with pytest.raises(ValueError, match="no @previous-champion"):
        rollback(config_path)

    # Each run of the loop is tagged with the model, the window that asked and the versions it moved.
    tags = _lifecycle_tags(started)
    (retrain_tags,) = tags["retrain-model"]
    assert {"e2e-model", "from:1", "to:2"} <= retrain_tags
    assert any(t.startswith("window:2026-03-11") for t in retrain_tags), retrain_tags
    assert all({"e2e-model", "from:1", "to:2"} <= t for t in tags["deploy-model"]) and tags["deploy-model"]
    assert {"e2e-model", "from:2", "to:1"} <= tags["rollback-model"][0]  # the second one had none to move


def _lifecycle_tags(since: datetime) -> dict[str, list[set[str]]]:
    """The tags of the retrain, deploy and rollback flow runs started since `since`, by flow name."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterStartTime

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(start_time=FlowRunFilterStartTime(after_=since))
        )
        names = {f.id: f.name for f in client.read_flows()}
    out: dict[str, list[set[str]]] = {}
    for run in sorted(runs, key=lambda r: r.start_time):
        out.setdefault(names[run.flow_id], []).append(set(run.tags))
    return out


def test_worse_challenger_is_rejected_and_aliases_stay(scenario) -> None:
    config_path, client = _setup(
        scenario,
        range(1, 4),
        {
            "trainer": "tests.e2e.test_retrain_deploy:train_shuffled",
            "include_reference": True,
            "training_windows": 2,
            "evaluation_windows": 1,
            "drift_consecutive_windows": 1,
        },
    )
    report = _report("e2e-model", 3, {"drift": {"dataset_drift": 1.0}})
    result = monitor_end(config_path, report)
    deployed = result["retrain"]["deploy"]
    assert deployed["decision"] == "reject"
    assert deployed["challenger_metrics"]["roc_auc"] < deployed["champion_metrics"]["roc_auc"]
    assert _alias(client, "champion") == "1"
    assert _alias(client, "challenger") == "2"
    assert _alias(client, "previous-champion") is None
    assert client.get_model_version(REGISTERED, "2").tags[policy.TAG_DEPLOY_STATUS] == "rejected"
    rejected = [a for a in open_state().read_audit(model="e2e-model") if a["event"] == policy.EVENT_REJECTED]
    assert len(rejected) == 1 and rejected[0]["reasons"][0].startswith("roc_auc: challenger")


def test_critical_validation_blocks_and_is_audited(scenario) -> None:
    config_path, client = _setup(scenario, range(1, 2), {"drift_consecutive_windows": 1}, champion=False)
    report = _report(
        "e2e-model", 1, {"drift": {"dataset_drift": 1.0}, "validation": {"critical_failures": 3.0}}
    )
    result = monitor_end(config_path, report)
    assert result["decision"]["decision"] == "blocked"
    assert result["mode"] is None
    (entry,) = open_state().read_audit(model="e2e-model")
    assert entry["decision"] == "blocked"
    assert "bad data is not drift" in entry["reasons"][-1]
    assert client.search_model_versions(f"name = '{REGISTERED}'") == []


def test_with_a_retrain_deployment_the_monitor_requests_a_run_once(scenario) -> None:
    """A Prefect server that has the retrain deployment gets a flow run request (for a worker to run,
    possibly on other infrastructure) instead of a subflow; a retried monitor run asks for none."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    from flows.retrain import retrain

    config_path, _ = _setup(scenario, range(1, 2), {"drift_consecutive_windows": 1}, champion=False)
    deployment_id = retrain.to_deployment(name="e2e-model-retrain").apply()
    report = _report("e2e-model", 1, {"drift": {"dataset_drift": 1.0}})

    result = monitor_end(config_path, report)
    assert result["mode"] == "deployment" and result["started"] is True
    key = "e2e-model:2026-03-02T00:00:00+00:00"
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(result["flow_run_id"])
        assert run.deployment_id == deployment_id
        assert run.idempotency_key == key
        assert run.parameters["lease_holder"] == key
        assert run.parameters["config_path"] == config_path
        assert run.parameters["reason"] == "dataset drift in 1 consecutive window(s)"
    lease = policy.read_lease(open_state(), "e2e-model")
    assert lease is not None and lease.holder == key  # held until the retrain run ends

    again = monitor_end(config_path, report)
    assert again["decision"]["decision"] == "blocked"
    assert any("in flight" in b for b in again["decision"]["blocked_by"])
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
        )
    assert len(runs) == 1
