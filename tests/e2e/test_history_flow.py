"""The monitor flow on a lost state database: stopped with the file named, until `new_history`.

Found by fault injection: with `state.db` removed, the next run exited 0 on a fresh database (windows
28 → 1, audit 58 → 10). Now the window's MLflow run carries the audit head (`watchkeeper.anchor`),
the next run finds its state database is not the one anchored and stops; `new_history=True` starts
over, recorded in the audit trail, and the run after it passes on its own. Real Prefect harness, real
MLflow store, the JSON log read back from disk.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from flows.monitor import monitor
from watchkeeper import anchor
from watchkeeper.state import open_state

pytestmark = pytest.mark.slow


def test_a_lost_state_database_stops_the_run_until_a_new_history_is_started(scenario, state: Path) -> None:
    config = str(scenario.config_path)
    scenario.write_day(1)
    scenario.write_day(2)
    first = monitor(config, window_end=scenario.window_end(1))
    assert first.mlflow_run_id

    # The window's run carries the audit head and the state database's identity ...
    store = open_state()
    seq, entry_hash, _ = anchor.head_of(store)
    tags = MlflowClient(os.environ["MLFLOW_TRACKING_URI"]).get_run(first.mlflow_run_id).data.tags
    assert tags[anchor.TAG_STATE_ID] == anchor.read_identity(store)
    assert (tags[anchor.TAG_AUDIT_SEQ], tags[anchor.TAG_AUDIT_HASH]) == (str(seq), entry_hash)
    assert tags[anchor.TAG_WINDOWS] == "1"
    # ... and the JSON log the same checkpoint.
    lines = (state / "logs" / "watchkeeper.jsonl").read_text().splitlines()
    logged = [json.loads(line) for line in lines if anchor.CHECKPOINT_EVENT in line]
    assert logged[-1]["fields"]["checkpoint"]["seq"] == seq
    store.engine.dispose()

    for suffix in ("", "-wal", "-shm"):
        Path(f"{state / 'state.db'}{suffix}").unlink(missing_ok=True)
    with pytest.raises(anchor.HistoryError) as caught:
        monitor(config, window_end=scenario.window_end(2))
    assert str(state / "state.db") in str(caught.value) and "--new-history" in str(caught.value)
    assert open_state().list_windows("e2e-model") == []  # stopped before anything was recorded

    second = monitor(config, window_end=scenario.window_end(2), new_history=True)
    assert second.mlflow_run_id
    entries = open_state().read_audit()
    (started,) = [e for e in entries if e["event"] == anchor.NEW_HISTORY_EVENT]
    assert started["evidence"]["superseded_state_ids"] == [tags[anchor.TAG_STATE_ID]]
    # The next run needs nothing: the new history is the anchored one now.
    monitor(config, window_end=scenario.window_end(2))
