"""Bad data through the monitor flow (issue 30, part 5): findings, figures in MLflow, alerts.

The unit tests (`tests/unit/test_bad_data_findings.py`) cover each case on the monitor's path; here
the flow itself runs them, so the figures reach MLflow and the rules fire as alerts with runbooks.
"""

from __future__ import annotations

import os
from datetime import timedelta

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from flows.monitor import monitor
from watchkeeper import demo_data
from watchkeeper.state import open_state
from watchkeeper.timeutil import utcnow

pytestmark = pytest.mark.slow


def _firing(report) -> dict[str, str]:
    return {a.rule: a.severity for a in report.section("alerts").alerts if a.state == "firing"}


def test_rows_ahead_unmatched_labels_and_a_type_change_fire_with_runbooks(scenario) -> None:
    labels = scenario.write_day(1)
    day1 = scenario.root / "inference" / f"date={demo_data.day_plan(1).start:%Y-%m-%d}"
    # A second file of day 1 whose `months_employed` holds numeric strings (ints in the first).
    logs, _ = demo_data.make_day(1, 4, rows=50)
    logs = logs.assign(
        request_id="x" + logs["request_id"],
        months_employed=logs["months_employed"].astype("int64").astype(str),
        score=0.5,
        prediction=1,
        model_version="1",
    )
    logs.to_parquet(day1 / "part-1.parquet")
    # 30 rows stamped 30 days from now (a producer's clock ahead), in a partition of their own.
    ahead = (utcnow() + timedelta(days=30)).replace(microsecond=0)
    rows, _ = demo_data.make_day(2, 5, rows=30)
    rows = rows.assign(timestamp=pd.Timestamp(ahead), score=0.5, prediction=1, model_version="1")
    target = scenario.root / "inference" / f"date={ahead:%Y-%m-%d}"
    target.mkdir(parents=True)
    rows.to_parquet(target / "part-0.parquet")
    # Half the labels of day 1, and 300 for request ids that no inference row has.
    ghosts = labels.head(300).assign(request_id=[f"ghost-{i}" for i in range(300)])
    half = len(labels) // 2
    scenario.write_labels(1, pd.concat([labels.iloc[:half], ghosts]))

    report = monitor(str(scenario.config_path), window_end=scenario.window_end(1))
    figures = report.figures()
    assert figures["window.rows"] == 650
    assert figures["window.rows_after_evaluation"] == 30
    assert figures["window.type_changed_columns"] == 1
    assert figures["labels.unmatched"] == 300
    firing = _firing(report)
    assert firing["rows_after_evaluation"] == "warning"
    assert firing["column_type_changed"] == "warning"
    assert firing["unmatched_labels"] == "warning"
    runbooks = {r.name: r.annotations.runbook_url for r in report.rules}
    assert runbooks["unmatched_labels"] == "docs/runbooks/unmatched_labels.md"
    notes = " ".join(report.section("window").notes)
    assert "'months_employed'" in notes and "part-1.parquet" in notes and "30 row(s)" in notes

    client = MlflowClient(os.environ["MLFLOW_TRACKING_URI"])
    metrics = client.get_run(report.mlflow_run_id).data.metrics
    assert metrics["window/rows_after_evaluation"] == 30
    assert metrics["labels/unmatched"] == 300
    assert metrics["window/type_changed_columns"] == 1

    # The rest of day 1's labels land during day 2: day 2's run re-evaluates day 1, which keeps its
    # figures (a re-evaluation without them would retract what day 1's run fired).
    scenario.write_day(2)
    late = scenario.root / "labels" / "day=1-late"
    late.mkdir()
    arrived = pd.Timestamp(scenario.window_end(1)) + pd.Timedelta(hours=1)
    labels.iloc[half:].assign(label_timestamp=arrived).to_parquet(late / "part-0.parquet")
    second = monitor(str(scenario.config_path), window_end=scenario.window_end(2))
    assert _firing(second)["rows_after_evaluation"] == "warning"
    windows = {w["window_end"]: w for w in open_state().list_windows("e2e-model")}
    day1 = windows[scenario.window_end(1)]
    assert day1["n_labeled"] > figures["window.labeled"]  # re-evaluated with the late labels
    assert day1["summary"]["figures"]["window.rows_after_evaluation"] == 30
    assert day1["summary"]["figures"]["labels.unmatched"] == 300


def test_a_label_path_typo_is_critical(scenario) -> None:
    import yaml

    scenario.write_day(1)
    config = yaml.safe_load(scenario.config_path.read_text())
    typo = str(scenario.root / "lables")
    config["sources"]["ground_truth"]["path"] = typo
    scenario.config_path.write_text(yaml.safe_dump(config))
    report = monitor(str(scenario.config_path), window_end=scenario.window_end(1))
    assert report.verdict.label == "critical"
    assert _firing(report)["label_source_unreadable"] == "critical"
    assert typo in report.section("labels").error
