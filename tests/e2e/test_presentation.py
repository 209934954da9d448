"""What the on-call engineer sees after a critical window, read back from Prefect's API and MLflow."""

from __future__ import annotations

import logging
import os
import re
import time
from typing import Any
from uuid import UUID

import pandas as pd
import pytest
import yaml
from mlflow.tracking import MlflowClient
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    ArtifactFilterKey,
    FlowRunFilter,
    FlowRunFilterParentFlowRunId,
    LogFilter,
    LogFilterFlowRunId,
)

from flows.monitor import monitor
from watchkeeper import tracking
from watchkeeper.state import open_state

pytestmark = pytest.mark.slow


def _significant_digits(value: float) -> int:
    return len(f"{value:.12g}".replace("-", "").replace(".", "").lstrip("0").split("e")[0])


def _logs_starting(flow_run_id: UUID, text: str, wait_s: float = 10.0) -> list[Any]:
    """The run's log lines that start with `text` (Prefect ships logs to its API in the background)."""
    deadline = time.monotonic() + wait_s
    while True:
        with get_client(sync_client=True) as client:
            logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])))
        found = [log for log in logs if log.message.startswith(text)]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def test_critical_window_is_named_tagged_and_marked_in_prefect(scenario) -> None:
    scenario.write_day(5)  # the demo's data-quality incident: critical validation failures
    report = monitor(str(scenario.config_path), window_end=scenario.window_end(5))
    assert report.verdict.label == "critical"

    with get_client(sync_client=True) as client:
        run = client.read_flow_run(report.flow_run_id)
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run.id]))
        )
    assert run.name == "e2e-model 2026-03-05 → 03-06"
    assert {"e2e-model", "verdict:critical"} <= set(run.tags)
    # A named Completed state: the runs list shows "Critical", retries and failure counts are untouched.
    assert run.state.type.value == "COMPLETED"
    assert run.state.name == "Critical"
    assert run.state.message.startswith("e2e-model 2026-03-05 → 03-06: critical — [critical]")

    # One card for the window (Prefect orders a run's artifacts by random id: one card is the only
    # order that holds), on the flow run itself, not on a task of it.
    (card,) = artifacts
    assert card.key == "e2e-model-2026-03-05-03-06-verdict"
    assert card.flow_run_id == run.id and card.task_run_id is None
    assert card.type == "markdown"
    assert card.description.startswith("CRITICAL — e2e-model 2026-03-05 → 03-06: ")
    assert card.data.startswith("# e2e-model 2026-03-05 → 03-06: CRITICAL")
    headings = [line for line in card.data.splitlines() if line.startswith("## ")]
    assert headings[:2] == ["## Why", "## Key figures"], headings
    assert {"## Links", "## alerts", "## drift", "## validation"} <= set(headings)
    assert headings.index("## Links") < headings.index("## alerts") < headings.index("## drift")
    # The MLflow run and the dashboard (added once regenerated) are links of the card.
    assert (
        f"]({tracking.LOCAL_UI_URL}/#/experiments/1/runs/{report.mlflow_run_id}?workflowType=machine_learning)"
        in card.data
    )
    assert "- [Dashboard](" in card.data
    # The drift table: drifted columns first, scores rounded to 4 significant digits.
    drift = card.data.split("## drift\n\n", 1)[1].split("\n\n", 1)[0].splitlines()
    columns = [c.strip() for c in drift[0].strip("|").split("|")]
    rows = [
        dict(zip(columns, (c.strip() for c in line.strip("|").split("|")), strict=True)) for line in drift[2:]
    ]
    assert rows[0]["drifted"] == "yes"
    scores = [float(r["score"]) for r in rows if r["score"]]
    assert scores and all(_significant_digits(s) <= 4 for s in scores)

    # Red in the runs list: a child run of the window ends Failed ("Critical"); the run stays Completed.
    with get_client(sync_client=True) as client:
        (child,) = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[run.id]))
        )
    assert (child.state.type.value, child.state.name) == ("FAILED", "Critical")
    assert child.name == run.name
    # The verdict line is the run's last line, at ERROR for a critical window.
    verdict_line = _logs_starting(run.id, "e2e-model 2026-03-05 → 03-06: critical — ")
    assert verdict_line and verdict_line[-1].level == logging.ERROR


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
    (card,) = artifacts
    exp = MlflowClient(os.environ["MLFLOW_TRACKING_URI"]).get_experiment_by_name("watchkeeper/e2e-model")
    assert (
        f"](https://mlflow.example.com/#/experiments/{exp.experiment_id}/runs/{report.mlflow_run_id}"
        "?workflowType=machine_learning)"
    ) in card.data


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
    assert run.info.run_name == f"e2e-model 2026-03-01 → 03-02 · {verdict}"
    assert tags[tracking.TAG_WINDOW] == "e2e-model 2026-03-01 → 03-02"
    # Every evaluation's Prefect flow run is kept; the first stays under the plain tag.
    assert tags[tracking.TAG_FLOW_RUN_ID] == first.flow_run_id
    assert tags[tracking.evaluation_tag(1)] == first.flow_run_id
    assert tags[tracking.evaluation_tag(2)] == second.flow_run_id
    note = tags[tracking.TAG_NOTE]
    assert note.startswith(f"**{verdict.upper()}** — e2e-model 2026-03-01 → 03-02")
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
    assert f"[{registered} v1]({url})" in note

    # The summary run charts over windows: one point per window at its end, the newest evaluation.
    (summary,) = client.search_runs(
        [exp.experiment_id], filter_string=f"tags.`{tracking.TAG_KIND}` = '{tracking.KIND_SUMMARY}'"
    )
    history = sorted(
        (m.step, m.timestamp, m.value)
        for m in client.get_metric_history(summary.info.run_id, "5-label-coverage")
    )
    ends_ms = [int(scenario.window_end(d).timestamp() * 1000) for d in (1, 2)]
    assert [(step, ts) for step, ts, _ in history] == [(1, ends_ms[0]), (2, ends_ms[1])]
    assert history[0][2] == run.data.metrics["window/label_coverage"] > 0  # day 1 with its late labels


def test_late_labels_that_make_an_earlier_window_critical_mark_the_run_and_the_windows_run(
    scenario,
) -> None:
    labels = scenario.write_day(1)
    first = monitor(str(scenario.config_path), window_end=scenario.window_end(1))
    before = first.verdict.label
    assert before != "critical", "day 1 must become critical through its labels alone"
    scenario.write_day(2)
    # Day 1's labels land during day 2, each the opposite of the truth: its realized quality collapses.
    arrived = pd.Timestamp(scenario.window_end(1)) + pd.Timedelta(hours=1)
    scenario.write_labels(1, labels.assign(defaulted=1 - labels["defaulted"], label_timestamp=arrived))
    second = monitor(str(scenario.config_path), window_end=scenario.window_end(2))
    # The flow still returns its own window's report; that window is not what makes the run critical.
    assert second.window_end == scenario.window_end(2)
    assert second.verdict.label != "critical"

    day1 = {w["window_end"]: w for w in open_state().list_windows("e2e-model")}[scenario.window_end(1)]
    assert day1["verdict"] == "critical"
    # The window's own run is kept across evaluations; the newest evaluation's run beside it.
    assert day1["summary"]["window_flow_run_id"] == first.flow_run_id
    assert day1["summary"]["flow_run_id"] == second.flow_run_id

    with get_client(sync_client=True) as client:
        run = client.read_flow_run(second.flow_run_id)
        cards = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[first.flow_run_id]),
                key=ArtifactFilterKey(any_=["e2e-model-2026-03-01-03-02-verdict"]),
            )
        )
        # The re-evaluating run's page holds its own window's card only.
        own = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[second.flow_run_id]))
        )
    # The run's state is the worst verdict it produced, named the way automations match it
    # (`prefect.flow-run.Critical`), and its message says which window and why.
    assert (run.state.type.value, run.state.name) == ("COMPLETED", "Critical")
    assert run.state.message.startswith(
        "e2e-model: Critical — 2026-03-01 → 03-02 re-evaluated with late labels: critical (performance_drop"
    ), run.state.message
    assert f", was {before}; current window 2026-03-02 → 03-03: {second.verdict.label}" in run.state.message
    # The tags agree with the state, and name the change.
    assert {"verdict:critical", f"2026-03-01 → 03-02: {before}→critical"} <= set(run.tags)
    assert f"verdict:{second.verdict.label}" not in run.tags

    # Day 1's own run holds its newest evaluation's card (a new version of its key), said first.
    assert len(cards) == 2
    (note,) = [c for c in cards if c.description.startswith("Re-evaluated")]
    assert [a.key for a in own] == ["e2e-model-2026-03-02-03-03-verdict"]
    assert note.type == "markdown" and note.flow_run_id == UUID(first.flow_run_id)
    coverage = f"{len(labels) / 600:.0%} ({len(labels)} of 600 rows)"
    assert re.fullmatch(
        r"Re-evaluated on \d{4}-\d\d-\d\d \d\d:\d\d UTC by run e2e-model 2026-03-02 → 03-03: verdict now critical "
        rf"\(was {before}\), label coverage {re.escape(coverage)}",
        note.description,
    ), note.description
    # The verdict first, then the re-evaluation.
    assert note.data.startswith(
        "# e2e-model 2026-03-01 → 03-02: CRITICAL\n\n## e2e-model 2026-03-01 → 03-02: re-evaluated with late labels\n"
    )
    assert f"/flow-runs/flow-run/{second.flow_run_id}): verdict now **CRITICAL** (was {before})" in note.data
    assert "- [critical] performance_drop: " in note.data
