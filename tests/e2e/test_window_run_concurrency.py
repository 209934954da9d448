"""One MLflow run per window under concurrency: processes released together, many times.

Create-or-update of a window's run used to be find-then-create: two processes released together
made 2 runs for one window in 1 of 6 trials. Now it holds the window's lease in the state database.
Each spawned process (nothing shared but the files) logs the same windows in lockstep, a barrier
releasing all of them at once before each window; every window must end with exactly one run whose
evaluation count is the number of writers (no update lost either).
"""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

import pytest
from mlflow.tracking import MlflowClient

from tasks.tracking_tasks import ensure_experiment, open_tracking, write_report_run
from watchkeeper import tracking
from watchkeeper.state import open_state

pytestmark = pytest.mark.slow

WRITERS = 4
TRIALS = 8
EXPERIMENT = "watchkeeper/race"


def _payload(trial: int, writer: int) -> dict[str, Any]:
    key = f"race|2026-03-{trial + 1:02d}T00:00:00Z"
    return {
        "tags": {tracking.TAG_WINDOW_KEY: key, tracking.TAG_KIND: "monitor", tracking.TAG_MODEL: "race"},
        "metrics": {"window/rows": float(writer)},
        "timestamp_ms": 1_700_000_000_000 + trial,
        "run_name": f"race {trial}",
        "report": {"writer": writer, "trial": trial},
    }


def _writer(state_url: str, mlflow_uri: str, writer: int, barrier: Any, errors: Any) -> None:
    store = open_state(state_url)
    target = open_tracking(mlflow_uri, leases=store)
    for trial in range(TRIALS):
        barrier.wait(timeout=120)
        try:
            write_report_run(_payload(trial, writer), tracking=target, experiment=EXPERIMENT, artifacts={})
        except Exception as exc:  # reported by the parent
            errors.put(f"writer {writer} trial {trial}: {type(exc).__name__}: {exc}")


def test_processes_released_together_make_one_run_per_window(tmp_path: Path) -> None:
    state_url = f"sqlite:///{tmp_path / 'state.db'}"
    mlflow_uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    open_state(state_url)
    client = MlflowClient(mlflow_uri)
    experiment_id = ensure_experiment(client, EXPERIMENT)  # the store's schema, created once

    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(WRITERS)
    errors = ctx.Queue()
    procs = [
        ctx.Process(target=_writer, args=(state_url, mlflow_uri, w, barrier, errors)) for w in range(WRITERS)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=600)
    assert [p.exitcode for p in procs] == [0] * WRITERS
    problems = []
    while not errors.empty():
        problems.append(errors.get())
    assert problems == []

    runs = client.search_runs([experiment_id], max_results=1000)
    by_window: dict[str, list[Any]] = {}
    for run in runs:
        by_window.setdefault(run.data.tags[tracking.TAG_WINDOW_KEY], []).append(run)
    assert len(by_window) == TRIALS
    assert {k: len(v) for k, v in by_window.items()} == {k: 1 for k in by_window}
    # Every writer's update landed (one evaluation each), none lost to a read-then-write race.
    assert {v[0].data.tags[tracking.TAG_EVALUATIONS] for v in by_window.values()} == {str(WRITERS)}
    leases = open_state(state_url).get_json("mlflow.window-run", "anything")
    assert leases is None
