"""MLflow logging in batches, against a real SQLite store: what the store holds after a window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from mlflow.entities import Metric, RunTag

from tasks.tracking_tasks import forget_tracking_cache, log_batches, open_tracking, write_report_run
from watchkeeper import tracking as wk_tracking
from watchkeeper.report import MonitoringReport


@pytest.mark.parametrize(
    ("n_metrics", "n_tags", "calls"),
    [
        (300, 20, 1),  # a usual window: one call
        (0, 5, 1),  # tags only still make one call
        (1000, 0, 1),  # exactly MLflow's metric limit
        (1001, 0, 2),  # one metric over the limit
        (950, 100, 2),  # 1050 entities: over the 1000-entity limit though each kind fits
        (10, 250, 3),  # over the 100-tag limit
    ],
)
def test_log_batches_respects_mlflow_limits(n_metrics: int, n_tags: int, calls: int) -> None:
    metrics = [Metric(f"m{i}", 1.0, 0, 0) for i in range(n_metrics)]
    tags = [RunTag(f"t{i}", "v") for i in range(n_tags)]
    batches = list(log_batches(metrics, tags))
    assert len(batches) == calls
    assert [m.key for b in batches for m in b[0]] == [m.key for m in metrics]
    assert [t.key for b in batches for t in b[1]] == [t.key for t in tags]
    for chunk_metrics, chunk_tags in batches:
        assert len(chunk_metrics) <= 1000 and len(chunk_tags) <= 100
        assert len(chunk_metrics) + len(chunk_tags) <= 1000


_END = datetime(2026, 3, 2, tzinfo=UTC)
_REPORT = MonitoringReport("m", _END - timedelta(days=1), _END, _END, ("1",), "h")


def _payload(window_key: str, n_metrics: int) -> dict[str, object]:
    return {
        "tags": {wk_tracking.TAG_WINDOW_KEY: window_key, "watchkeeper.model": "m"},
        "metrics": {f"drift/c{i}/score": i / 10 for i in range(n_metrics)},
        "timestamp_ms": 1_700_000_000_000,
        "run_name": "m 2026-03-01",
        "report": _REPORT.to_dict(),
    }


def test_window_run_holds_every_metric_tag_and_artifact(tmp_path: Path) -> None:
    tracking = open_tracking(f"sqlite:///{tmp_path / 'mlflow.db'}")
    artifacts = {"validation/gx_result.json": "{}", "drift.md": "# drift"}
    first = write_report_run(_payload("k1", 1200), tracking=tracking, experiment="e", artifacts=artifacts)
    second = write_report_run(_payload("k1", 1200), tracking=tracking, experiment="e", artifacts=artifacts)
    # A re-evaluation updates the same run, at the next step.
    assert second["run_id"] == first["run_id"]
    client = tracking.client
    run = client.get_run(first["run_id"])
    assert len(run.data.metrics) == 1200
    assert run.data.tags[wk_tracking.TAG_EVALUATIONS] == "2"
    history = client.get_metric_history(first["run_id"], "drift/c7/score")
    assert [m.step for m in history] == [0, 1]
    listed = {a.path for a in client.list_artifacts(first["run_id"])}
    assert listed == {"report.json", "drift.md", "validation"}
    assert [a.path for a in client.list_artifacts(first["run_id"], "validation")] == [
        "validation/gx_result.json"
    ]


def test_a_deleted_cached_run_is_looked_up_again(tmp_path: Path) -> None:
    tracking = open_tracking(f"sqlite:///{tmp_path / 'mlflow.db'}")
    first = write_report_run(_payload("k2", 3), tracking=tracking, experiment="e", artifacts={})
    tracking.client.delete_run(first["run_id"])
    again = write_report_run(_payload("k2", 3), tracking=tracking, experiment="e", artifacts={})
    # The cached id points at a deleted run: a new run is made, not an error.
    assert again["run_id"] != first["run_id"]
    assert tracking.client.get_run(again["run_id"]).data.tags[wk_tracking.TAG_EVALUATIONS] == "1"
    forget_tracking_cache(tracking.uri)


def test_a_deleted_cached_experiment_is_looked_up_again(tmp_path: Path) -> None:
    tracking = open_tracking(f"sqlite:///{tmp_path / 'mlflow.db'}")
    first = write_report_run(_payload("k3", 3), tracking=tracking, experiment="e", artifacts={})
    # Gone under its name (renamed away, then deleted) while the id is still cached.
    tracking.client.rename_experiment(first["experiment_id"], "e-old")
    tracking.client.delete_experiment(first["experiment_id"])
    again = write_report_run(_payload("k3", 3), tracking=tracking, experiment="e", artifacts={})
    assert again["experiment_id"] != first["experiment_id"]
    assert tracking.client.get_experiment(again["experiment_id"]).name == "e"
