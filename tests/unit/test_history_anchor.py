"""History anchors between the state database and the MLflow store (issue 30, part 1).

Found by fault injection: with `state.db` or `mlflow.db` emptied or removed, the next run exited 0
on a fresh store (windows 28 → 1, audit entries 58 → 10, MLflow runs 32 → 2). Now each run anchors
the audit head in the window's MLflow run and records the MLflow run in the state database, and the
next run's check stops with an error naming the file when either side lost its history.

Real pieces: SQLite state databases, MLflow's client on a SQLite store (built once per module and
copied per test: a fresh MLflow store takes seconds to create), the flow's tasks called as plain
functions (`.fn`, no Prefect engine), files removed and truncated as an operator would.
"""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from tasks.tracking_tasks import (
    Tracking,
    check_history,
    checkpoint_history,
    ensure_experiment,
    forget_tracking_cache,
    open_tracking,
)
from watchkeeper import anchor
from watchkeeper.cli import main
from watchkeeper.config import TrackingConfig
from watchkeeper.state import StateStore, open_state

MODEL, EXPERIMENT = "churn", "watchkeeper/churn"
T0 = datetime(2026, 3, 1, tzinfo=UTC)


class World:
    """A state directory with `state.db` and an MLflow store `mlflow.db`, as a scheduled run sees them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.state_db = root / "state.db"
        self.mlflow_db = root / "mlflow.db"
        self.store: StateStore = open_state(f"sqlite:///{self.state_db}")
        self.tracking: Tracking = open_tracking(f"sqlite:///{self.mlflow_db}", leases=self.store)

    def window(self, day: int) -> str:
        """One monitored window, as the flow leaves it: audited, recorded, logged, anchored."""
        end = T0 + timedelta(days=day)
        self.store.append_audit(model=MODEL, event="alert.fired", decision="warning", window_end=end)
        client = self.tracking.client
        run_id = client.create_run(ensure_experiment(client, EXPERIMENT), run_name=f"day {day}").info.run_id
        self.store.record_window(
            model=MODEL,
            window_start=end - timedelta(days=1),
            window_end=end,
            n_rows=10,
            n_labeled=0,
            verdict="ok",
            usable_for_training=True,
            mlflow_run_id=run_id,
        )
        checkpoint_history.fn(self.store, self.tracking, experiment=EXPERIMENT, model=MODEL, run_id=run_id)
        return run_id

    def check(self, *, new_history: bool = False) -> anchor.HistoryCheck:
        result: anchor.HistoryCheck = check_history.fn(
            self.store, self.tracking, experiment=EXPERIMENT, model=MODEL, new_history=new_history
        )
        return result

    def reopen(self) -> None:
        """The next run: a new process opens both stores afresh."""
        self.store.engine.dispose()
        forget_tracking_cache()
        self.store = open_state(f"sqlite:///{self.state_db}")
        self.tracking = open_tracking(f"sqlite:///{self.mlflow_db}", leases=self.store)


def _remove_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three windows monitored and anchored; each test copies the two databases."""
    root = tmp_path_factory.mktemp("history")
    world = World(root)
    for day in (1, 2, 3):
        world.window(day)
    world.store.engine.dispose()
    forget_tracking_cache()
    return root


@pytest.fixture
def world(template: Path, tmp_path: Path) -> Iterator[World]:
    for name in ("state.db", "mlflow.db"):
        shutil.copy(template / name, tmp_path / name)
    w = World(tmp_path)
    yield w
    w.store.engine.dispose()
    forget_tracking_cache()


def test_an_intact_history_passes_and_the_run_is_anchored(world: World) -> None:
    check = world.check()
    assert check.ok and check.problems == ()
    runs = world.tracking.client.search_runs(
        [ensure_experiment(world.tracking.client, EXPERIMENT)], order_by=[anchor.ANCHOR_ORDER], max_results=1
    )
    tags = runs[0].data.tags
    assert tags[anchor.TAG_STATE_ID] == anchor.read_identity(world.store)
    assert (tags[anchor.TAG_AUDIT_SEQ], tags[anchor.TAG_WINDOWS]) == ("3", "3")


def test_a_fresh_first_run_is_unaffected(tmp_path: Path, template: Path) -> None:
    # A fresh state database with a fresh experiment (the MLflow store's file copied, the experiment
    # new): nothing to compare, nothing refused.
    shutil.copy(template / "mlflow.db", tmp_path / "mlflow.db")
    world = World(tmp_path)
    check = check_history.fn(
        world.store, world.tracking, experiment="watchkeeper/new-model", model="new-model"
    )
    assert check.ok


@pytest.mark.parametrize("damage", ["removed", "emptied"])
def test_state_db_lost_is_an_error_naming_the_file(world: World, damage: str) -> None:
    world.store.engine.dispose()
    _remove_sqlite(world.state_db)
    if damage == "emptied":
        world.state_db.write_bytes(b"")  # `: > state.db`
    world.reopen()
    with pytest.raises(anchor.HistoryError) as caught:
        world.check()
    message = str(caught.value)
    assert str(world.state_db) in message
    assert "holds no history" in message and "audit seq 3, windows 3" in message
    assert "--new-history" in message and "Restore" in message


# The next run, in a process of its own: MLflow keeps one SQLite engine per URI for the life of a
# process, so a file removed under it stays readable there.
NEXT_RUN = """
import sys
from tasks.tracking_tasks import check_history, open_tracking
from watchkeeper.anchor import HistoryError
from watchkeeper.state import open_state
root = sys.argv[1]
store = open_state(f"sqlite:///{root}/state.db")
tracking = open_tracking(f"sqlite:///{root}/mlflow.db", leases=store)
try:
    check_history.fn(store, tracking, experiment=sys.argv[2], model=sys.argv[3])
except HistoryError as exc:
    print(exc)
    raise SystemExit(2)
"""


def test_mlflow_db_removed_is_an_error_naming_the_file(world: World) -> None:
    _remove_sqlite(world.mlflow_db)
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root / "src"), str(root)])}
    done = subprocess.run(
        [sys.executable, "-c", NEXT_RUN, str(world.root), EXPERIMENT, MODEL],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr[-2000:]
    message = done.stdout
    assert str(world.mlflow_db) in message and f"no experiment {EXPERIMENT!r}" in message
    assert str(world.state_db) in message and "--new-history" in message


def test_mlflow_runs_deleted_is_an_error(world: World) -> None:
    client = world.tracking.client
    experiment_id = ensure_experiment(client, EXPERIMENT)
    for run in client.search_runs([experiment_id]):
        client.delete_run(run.info.run_id)
    with pytest.raises(anchor.HistoryError, match="is missing runs of experiment"):
        world.check()


def _move_head_back(state_db: Path) -> None:
    """The last audit entry deleted and the head moved back to the one before, through sqlite3."""
    conn = sqlite3.connect(state_db)
    (hash_2,) = conn.execute("SELECT entry_hash FROM audit_log WHERE seq = 2").fetchone()
    for statement in (
        "DROP TRIGGER audit_log_no_delete",
        "DROP TRIGGER audit_head_forward_only",
        "DELETE FROM audit_log WHERE seq = 3",
        f"UPDATE audit_head SET seq = 2, entry_hash = '{hash_2}'",
    ):
        conn.execute(statement)
    conn.commit()
    conn.close()


def test_audit_head_behind_the_anchor_is_an_error(world: World) -> None:
    _move_head_back(world.state_db)
    with pytest.raises(anchor.HistoryError, match="ends at seq 2, behind the anchor"):
        world.check()
    # Accepting it (a state database restored from an older backup, say) is deliberate and audited;
    # the run after passes even before a new anchor is written.
    world.check(new_history=True)
    assert [e["event"] for e in world.store.read_audit()][-1] == anchor.NEW_HISTORY_EVENT
    assert world.check().ok


def test_new_history_proceeds_and_is_audited(world: World) -> None:
    old_id = anchor.read_identity(world.store)
    world.store.engine.dispose()
    _remove_sqlite(world.state_db)
    world.reopen()
    check = world.check(new_history=True)
    assert not check.ok  # what was overridden, deliberately
    (entry,) = [e for e in world.store.read_audit() if e["event"] == anchor.NEW_HISTORY_EVENT]
    assert entry["evidence"]["superseded_state_ids"] == [old_id]
    assert any("holds no history" in r for r in entry["reasons"])
    # The next run passes, before and after its own window is anchored.
    assert world.check().ok
    world.window(4)
    assert world.check().ok


def test_mlflow_unreachable_skips_the_mlflow_side_visibly(
    world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    down = open_tracking(TrackingConfig(tracking_uri=f"http://127.0.0.1:{port}"), leases=world.store)
    with caplog.at_level("WARNING", logger="watchkeeper.tracking"):
        check = check_history.fn(world.store, down, experiment=EXPERIMENT, model=MODEL)
    assert check.ok and down.outage.down
    assert any("history not checked against MLflow" in r.getMessage() for r in caplog.records)


def test_checkpoint_file_anchors_without_mlflow(world: World, tmp_path: Path) -> None:
    """The configured checkpoint file is an anchor of its own: a state database replaced while the
    MLflow side cannot be read is still caught."""
    target = tmp_path / "outside" / "checkpoints.jsonl"
    checkpoint_history.fn(
        world.store,
        world.tracking,
        experiment=EXPERIMENT,
        model=MODEL,
        run_id=None,
        checkpoint_target=str(target),
    )
    assert anchor.read_checkpoints(str(target))[0].seq == 3
    world.store.engine.dispose()
    _remove_sqlite(world.state_db)
    world.reopen()
    with pytest.raises(anchor.HistoryError, match=r"checkpoints\.jsonl is anchored to state database"):
        check_history.fn(
            world.store,
            world.tracking,
            experiment="watchkeeper/other",  # no MLflow anchor for this one: only the file tells
            model=MODEL,
            checkpoint_target=str(target),
        )


def test_audit_verify_compares_with_the_models_mlflow_anchor(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With `--config`, `audit verify` also reads the model's latest anchored MLflow run: a trail cut
    short is reported even where no JSON log or checkpoint file survived."""
    repo = Path(__file__).resolve().parents[2]
    config = yaml.safe_load((repo / "configs/models/credit-risk.yaml").read_text())
    config["model"]["name"] = MODEL
    config["tracking"] = {"tracking_uri": f"sqlite:///{world.mlflow_db}"}
    config["expectations"]["suite"] = str(repo / "configs/expectations/credit-risk.yaml")
    path = tmp_path / "churn.yaml"
    path.write_text(yaml.safe_dump(config))
    args = ["audit", "verify", "--state-url", f"sqlite:///{world.state_db}", "--config", str(path)]
    args += ["--log-dir", str(tmp_path / "no-logs")]
    assert main(args) == 0
    assert "latest checkpoint (seq 3" in capsys.readouterr().out
    _move_head_back(world.state_db)
    assert main(args) == 1
    out = capsys.readouterr().out
    assert "audit trail SHORTENED against MLflow" in out and "audit triggers MISSING" in out
