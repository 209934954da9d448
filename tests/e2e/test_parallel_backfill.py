"""A parallel backfill gives the sequential backfill's results (Prefect harness, real MLflow stores).

Two copies of the same data, one backfilled window by window (`parallel=False`), the other with its
windows prepared in parallel and folded in order. Labels arrive with no lag, so every window feeds
the sequential detectors (the demo's concept change from day 10 raises them, and the retraining
policy decides on it); one window monitored before the backfill without its labels is re-evaluated
in the fold when they land. Then everything either run left behind must be the same: the backfill's
answer, each window's MLflow run (metrics, params, tags, report.json), the state database (window
records, alert state and deliveries, the detector state, the audit trail).
"""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from mlflow.tracking import MlflowClient

from tests.e2e.conftest import Scenario
from watchkeeper import tracking
from watchkeeper.state import state_dir

pytestmark = pytest.mark.slow

FIRST, LAST = 6, 12  # days of data: drift from day 8, the latency incident on 9, concept from 10
UNLABELED = 7  # monitored before the backfill without labels; they land before it starts
# The backfill covers the windows of days 8..12, prepared 2 workers (threads or Dask processes) × 2 windows at a time: days
# 8–11, then 12. The retraining in day 10's run registers version 1, whose own reference then judges
# the rows it scored: day 11, prepared against the old one, is evaluated again in its turn.
EXPECTED_AHEAD = [True, True, True, False, True]

# What differs between two evaluations of the same window by design: when, by which run, its cost.
_VOLATILE_KEYS = {
    "evaluated_at",
    "flow_run_id",
    "mlflow_run_id",
    "run_id",
    "prefect_flow_run_url",
    "mlflow_run_url",
    "url",
    "at",
    "created_at",
    "updated_at",
    "sent_at",
    "next_attempt_at",
    "prev_hash",
    "entry_hash",
    "id",
    "seq",
    "model_uri",  # MLflow logged-model ids (m-<uuid>)
    "footprint",
    # The history anchor (`watchkeeper.anchor`): each state database's identity, its chain's hash
    # (over times), when it was taken, and which MLflow store the state database records.
    "watchkeeper.anchor.state_id",
    "watchkeeper.anchor.audit_hash",
    "watchkeeper.anchor.at",
    "watchkeeper.anchor.mac",
    "tracking",
}


# ... and any key naming a run id or a link (`prefect.flow_run_id.1`, `mlflow_run_url`) or a time.
_VOLATILE_NAME = re.compile(r"run_id|url|_at$")
# A lifecycle notice's fingerprint ends with a hash of the flow run that sent it (a retried run
# does not send it twice): an id, like the others.
_NOTICE_RUN = re.compile(r"^(lifecycle:[^:]+:[^:]+:[^:]+):[0-9a-f]{8}")


def _stable(value: Any) -> Any:
    """`value` without what legitimately differs between runs (timestamps, ids, costs)."""
    if isinstance(value, str) and value.startswith("lifecycle:"):
        return _NOTICE_RUN.sub(r"\1:<run>", value)
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return _stable(json.loads(value))
        except ValueError:
            return value
    if isinstance(value, dict):
        return {
            k: _stable(v)
            for k, v in value.items()
            if k not in _VOLATILE_KEYS
            and not _VOLATILE_NAME.search(str(k))
            and not str(k).startswith(("footprint.", "footprint/"))
        }
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


def _prepare(root: Path, store: Path, monkeypatch: pytest.MonkeyPatch, engine: str) -> Scenario:
    monkeypatch.setenv("WATCHKEEPER_STATE_DIR", str(root / "state"))
    store.mkdir()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{store / 'mlflow.db'}")
    scenario = Scenario(root / "data")
    config = yaml.safe_load(scenario.config_path.read_text())
    config["window"]["label_lag"] = "0d"  # every window's labels are in at its end: detectors run
    config["execution"] = (
        {"workers": 2}
        if engine == "local"
        else {"engine": "dask", "dask": {"cluster_kwargs": {"n_workers": 2, "threads_per_worker": 1}}}
    )
    scenario.config_path.write_text(yaml.safe_dump(config))
    return scenario


def _run(
    root: Path, store: Path, monkeypatch: pytest.MonkeyPatch, *, parallel: bool, engine: str
) -> list[dict[str, Any]]:
    from flows.backfill import backfill
    from flows.monitor import monitor

    scenario = _prepare(root, store, monkeypatch, engine)
    held = None
    for day in range(FIRST - 1, LAST + 1):
        labels = scenario.write_day(day)
        if day == UNLABELED:
            held = labels
        else:
            scenario.write_labels(day, labels)
    monitor(str(scenario.config_path), window_end=scenario.window_end(UNLABELED))
    assert held is not None
    scenario.write_labels(UNLABELED, held)
    return backfill(
        str(scenario.config_path),
        start=scenario.window_end(UNLABELED),
        end=scenario.window_end(LAST),
        parallel=parallel,
    )


def _tables() -> dict[str, Any]:
    """Every table of the state database, rows in a stable order."""
    with sqlite3.connect(state_dir() / "state.db") as db:
        db.row_factory = sqlite3.Row
        names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        out = {}
        for name in sorted(names):
            rows = [_stable(dict(r)) for r in db.execute(f"SELECT * FROM {name}")]
            out[name] = sorted(rows, key=lambda r: json.dumps(r, sort_keys=True, default=str))
    return out


def _mlflow(store: Path) -> dict[str, Any]:
    client = MlflowClient(f"sqlite:///{store / 'mlflow.db'}")
    out: dict[str, Any] = {}
    for exp in client.search_experiments():
        for run in client.search_runs([exp.experiment_id]):
            name = run.info.run_name
            entry: dict[str, Any] = {
                "metrics": _stable(dict(run.data.metrics)),
                "params": _stable(dict(run.data.params)),
                "tags": _stable(
                    {
                        k: v
                        for k, v in run.data.tags.items()
                        if not k.startswith("mlflow.") or k == "mlflow.runName"
                    }
                ),
                "status": run.info.status,
            }
            if run.data.tags.get(tracking.TAG_KIND) == "monitor":
                path = client.download_artifacts(run.info.run_id, tracking.REPORT_ARTIFACT)
                entry["report"] = _stable(json.loads(Path(path).read_text()))
            out[f"{exp.name}/{name}"] = entry
    return out


def _first_difference(where: str, expected: Any, got: Any, path: str = "") -> str:
    """Where two values first differ, as a path and the two values (a readable failure)."""
    if isinstance(expected, dict) and isinstance(got, dict):
        for k in sorted(set(expected) | set(got), key=str):
            if expected.get(k) != got.get(k):
                return _first_difference(where, expected.get(k), got.get(k), f"{path}.{k}")
    if isinstance(expected, list) and isinstance(got, list) and len(expected) == len(got):
        for i, (a, b) in enumerate(zip(expected, got, strict=True)):
            if a != b:
                return _first_difference(where, a, b, f"{path}[{i}]")
    return f"{where} differs at {path or '(top)'}: sequential {expected!r}, parallel {got!r}"


@pytest.mark.parametrize("engine", ["local", "dask"])
def test_parallel_backfill_equals_sequential(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, engine: str
) -> None:
    # local: 2 threads; dask: a LocalCluster of 2 worker processes, each reading its windows itself
    # (the fitted references and the checks, the model loader of the reset impact included, travel
    # to the workers once).
    # The same paths for both runs (the config, its hash and the sources' paths are the same): the
    # sequential run's results are read, then its data and state moved aside. Each run has its own
    # MLflow store (MLflow keeps a store open per URI for the process).
    root = tmp_path / "run"
    sequential = _run(root, tmp_path / "mlflow-sequential", monkeypatch, parallel=False, engine=engine)
    seq_tables, seq_runs = _tables(), _mlflow(tmp_path / "mlflow-sequential")
    root.rename(tmp_path / "sequential")

    parallel = _run(root, tmp_path / "mlflow-parallel", monkeypatch, parallel=True, engine=engine)
    par_tables, par_runs = _tables(), _mlflow(tmp_path / "mlflow-parallel")

    ahead = [w.pop("prepared_ahead") for w in parallel]
    assert not any(w.pop("prepared_ahead") for w in sequential)
    assert [_stable(w) for w in parallel] == [_stable(w) for w in sequential]
    assert ahead == EXPECTED_AHEAD
    assert len(sequential) == LAST - UNLABELED
    # The scenario exercised what is stateful: detectors fed and alarmed, alerts, a re-evaluation.
    windows = {r["window_end"]: r for r in seq_tables["window_evaluations"]}
    assert len(windows) == LAST - UNLABELED + 1  # with the re-evaluated one
    reports = [e["report"] for e in seq_runs.values() if "report" in e]
    assert any(r["figures"].get("perf.concept_drift") == 1.0 for r in reports)
    assert seq_tables["alert_transitions"], "no alert fired: the scenario tests nothing stateful"
    assert any(e.get("event") for e in seq_tables["audit_log"])

    assert par_tables.keys() == seq_tables.keys()
    for name in seq_tables:
        assert par_tables[name] == seq_tables[name], _first_difference(
            f"state table {name}", seq_tables[name], par_tables[name]
        )
    assert par_runs.keys() == seq_runs.keys()
    for key in seq_runs:
        assert par_runs[key] == seq_runs[key], _first_difference(
            f"MLflow run {key}", seq_runs[key], par_runs[key]
        )
    assert pd.Series([w["verdict"] for w in parallel]).isin(["ok", "warning", "critical"]).all()
