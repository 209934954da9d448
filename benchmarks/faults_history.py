"""Fault injection for issue 30, parts 1 and 2: lost history and a cut-short audit trail.

    python benchmarks/faults.py --only history_,truncation_

Real pieces: SQLite state databases and MLflow's client on a SQLite store, the monitor flow's
history tasks called as plain functions (`.fn`, no Prefect engine), files removed and truncated as
an operator would, the audit trail cut through sqlite3 itself, `watchkeeper audit verify` and
`audit repair` through the CLI's `main`. The MLflow store removed is read by a new process (MLflow
keeps one SQLite engine per URI for the life of a process).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for _path in (str(ROOT / "src"), str(ROOT)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

MODEL, EXPERIMENT = "churn", "watchkeeper/churn"
T0 = datetime(2026, 3, 1, tzinfo=UTC)
KEY = "faults-audit-key"


class _World:
    """A state database and an MLflow store with three monitored, anchored windows."""

    def __init__(self, root: Path, windows: int = 3) -> None:
        from tasks.tracking_tasks import checkpoint_history, ensure_experiment, open_tracking
        from watchkeeper.state import open_state

        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self.state_db, self.mlflow_db = root / "state.db", root / "mlflow.db"
        self.store = open_state(f"sqlite:///{self.state_db}")
        self.tracking = open_tracking(f"sqlite:///{self.mlflow_db}", leases=self.store)
        client = self.tracking.client
        for day in range(1, windows + 1):
            end = T0 + timedelta(days=day)
            self.store.append_audit(model=MODEL, event="alert.fired", decision="warning", window_end=end)
            run_id = client.create_run(ensure_experiment(client, EXPERIMENT)).info.run_id
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
            checkpoint_history.fn(
                self.store, self.tracking, experiment=EXPERIMENT, model=MODEL, run_id=run_id
            )

    def reopen(self) -> None:
        from tasks.tracking_tasks import forget_tracking_cache, open_tracking
        from watchkeeper.state import open_state

        self.store.engine.dispose()
        forget_tracking_cache()
        self.store = open_state(f"sqlite:///{self.state_db}")
        self.tracking = open_tracking(f"sqlite:///{self.mlflow_db}", leases=self.store)

    def check(self, *, new_history: bool = False) -> str:
        """The next run's history check: "ok", or the error's message."""
        from tasks.tracking_tasks import check_history
        from watchkeeper.anchor import HistoryError

        try:
            check_history.fn(
                self.store, self.tracking, experiment=EXPERIMENT, model=MODEL, new_history=new_history
            )
        except HistoryError as exc:
            return str(exc)
        return "ok"


def _remove(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def _lost_state(tmp: Path, *, emptied: bool) -> tuple[str, str, bool]:
    world = _World(tmp / ("history-emptied" if emptied else "history-removed"))
    world.store.engine.dispose()
    _remove(world.state_db)
    if emptied:
        world.state_db.write_bytes(b"")
    world.reopen()
    message = world.check()
    ok = str(world.state_db) in message and "--new-history" in message and "holds no history" in message
    shown = message[message.find("but the state database") :]
    return "the run stops: error names state.db, says restore or --new-history", shown[:150] + "…", ok


def state_db_removed(tmp: Path) -> tuple[str, str, bool]:
    return _lost_state(tmp, emptied=False)


def state_db_emptied(tmp: Path) -> tuple[str, str, bool]:
    return _lost_state(tmp, emptied=True)


_NEXT_RUN = """
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
print("ok")
"""


def mlflow_db_removed(tmp: Path) -> tuple[str, str, bool]:
    world = _World(tmp / "history-mlflow")
    _remove(world.mlflow_db)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    done = subprocess.run(
        [sys.executable, "-c", _NEXT_RUN, str(world.root), EXPERIMENT, MODEL],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    message = done.stdout.strip()
    ok = done.returncode == 2 and str(world.mlflow_db) in message and "--new-history" in message
    shown = message[message.find("the MLflow store") :]
    return "the run stops: error names mlflow.db", f"exit {done.returncode}: {shown[:130]}…", ok


def new_history_audited(tmp: Path) -> tuple[str, str, bool]:
    world = _World(tmp / "history-new")
    world.store.engine.dispose()
    _remove(world.state_db)
    world.reopen()
    refused = world.check()
    proceeded = world.check(new_history=True)
    events = [e["event"] for e in world.store.read_audit()]
    after = world.check()
    ok = refused != "ok" and proceeded == "ok" and events == ["history.new"] and after == "ok"
    return (
        "refused, then --new-history proceeds, audited; the next run passes",
        f"without: {'refused' if refused != 'ok' else 'ok'}; with: {proceeded}; audit {events}; next: {after}",
        ok,
    )


def _trail(db: Path, n: int = 5, key: str | None = None) -> Any:
    from watchkeeper.state import open_state

    store = open_state(f"sqlite:///{db}", audit_key=key or "")
    for i in range(n):
        store.append_audit(model=MODEL, event="alert.fired", decision="warning", reasons=[f"d{i}"])
    return store


def _cut(db: Path, keep: int) -> None:
    """Drop the triggers, delete the tail, move the head back, put the triggers back: via sqlite3."""
    from watchkeeper.audit import GENESIS, protect
    from watchkeeper.state import open_state

    conn = sqlite3.connect(db)
    for name in ("audit_log_no_delete", "audit_head_forward_only"):
        conn.execute(f"DROP TRIGGER {name}")
    conn.execute("DELETE FROM audit_log WHERE seq > ?", (keep,))
    row = conn.execute("SELECT entry_hash FROM audit_log WHERE seq = ?", (keep,)).fetchone()
    conn.execute("UPDATE audit_head SET seq = ?, entry_hash = ?", (keep, row[0] if row else GENESIS))
    conn.commit()
    conn.close()
    protect(open_state(f"sqlite:///{db}").engine, force=True)


def _cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    from watchkeeper.cli import main

    out, err = io.StringIO(), io.StringIO()
    saved = {k: os.environ.get(k) for k in (env or {})}
    os.environ.update(env or {})
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(args))
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return code, (out.getvalue() + err.getvalue()).strip()


def _tail_cut(tmp: Path, key: str | None) -> tuple[str, str, bool]:
    from watchkeeper import anchor

    root = tmp / f"truncation-{'key' if key else 'nokey'}"
    root.mkdir(parents=True, exist_ok=True)
    db, target = root / "state.db", root / "outside" / "checkpoints.jsonl"
    store = _trail(db, key=key)
    anchor.write_checkpoint(str(target), anchor.take_checkpoint(store, MODEL))
    _cut(db, keep=3)
    chain_alone = "intact" if store.verify_audit().ok else "broken"
    env = {"WATCHKEEPER_AUDIT_KEY": key} if key else {}
    code, text = _cli(
        "audit", "verify", "--state-url", f"sqlite:///{db}", "--checkpoint", str(target), env=env
    )
    line = next((x for x in text.splitlines() if "SHORTENED" in x), text.splitlines()[-1])
    return (
        "verify exit 1: trail SHORTENED (entries 4–5 removed)",
        f"chain alone {chain_alone}; exit {code}: {line[:120]}…",
        code == 1 and "entries 4–5 were removed" in text,
    )


def tail_cut_no_key(tmp: Path) -> tuple[str, str, bool]:
    return _tail_cut(tmp, None)


def tail_cut_with_key(tmp: Path) -> tuple[str, str, bool]:
    return _tail_cut(tmp, KEY)


def emptied_trail(tmp: Path) -> tuple[str, str, bool]:
    from watchkeeper import anchor
    from watchkeeper.logs import configure_json_logging, remove_json_logging

    root = tmp / "truncation-emptied"
    root.mkdir(parents=True, exist_ok=True)
    db = root / "state.db"
    store = _trail(db)
    configure_json_logging(root / "logs")  # a run's JSON log beside the state database
    try:
        anchor.log_checkpoint(anchor.take_checkpoint(store, MODEL))
    finally:
        remove_json_logging()
    _cut(db, keep=0)
    code, text = _cli("audit", "verify", "--state-url", f"sqlite:///{db}")
    line = next((x for x in text.splitlines() if "EMPTIED" in x), text.splitlines()[-1])
    return (
        "verify exit 1: trail EMPTIED (from the JSON log)",
        f"exit {code}: {line[:120]}…",
        code == 1 and "EMPTIED" in text,
    )


def verify_missing_dir(tmp: Path) -> tuple[str, str, bool]:
    missing = tmp / "truncation-missing" / "state.db"
    code, text = _cli("audit", "verify", "--state-url", f"sqlite:///{missing}")
    created = missing.parent.exists()
    return (
        "exit 2 naming the file; nothing created",
        f"exit {code}, created={created}: {text.splitlines()[0][:110]}…",
        code == 2 and str(missing) in text and not created,
    )


def dropped_triggers(tmp: Path) -> tuple[str, str, bool]:
    from watchkeeper.audit import missing_triggers
    from watchkeeper.state import open_state

    root = tmp / "truncation-triggers"
    root.mkdir(parents=True, exist_ok=True)
    db = root / "state.db"
    _trail(db, n=2)
    conn = sqlite3.connect(db)
    conn.execute("DROP TRIGGER audit_log_no_update")
    conn.commit()
    conn.close()
    url = f"sqlite:///{db}"
    verify_code, _ = _cli("audit", "verify", "--state-url", url)
    store = open_state(url)  # the next run's open
    still_missing = missing_triggers(store.engine)
    repair_code, _ = _cli("audit", "repair", "--state-url", url)
    audited = [e["event"] for e in store.read_audit()][-1]
    after_code, _ = _cli("audit", "verify", "--state-url", url)
    return (
        "verify exit 1; open keeps them missing; repair re-creates, audited",
        f"verify {verify_code}; after open missing {still_missing}; repair {repair_code} → {audited!r}; verify {after_code}",
        verify_code == 1
        and still_missing == ["audit_log_no_update"]
        and audited == "audit.repair"
        and after_code == 0,
    )


SCENARIOS: dict[str, Callable[[Path], tuple[str, str, bool]]] = {
    "history_state_db_removed": state_db_removed,
    "history_state_db_emptied": state_db_emptied,
    "history_mlflow_db_removed": mlflow_db_removed,
    "history_new_history_audited": new_history_audited,
    "truncation_tail_cut_no_key": tail_cut_no_key,
    "truncation_tail_cut_with_key": tail_cut_with_key,
    "truncation_emptied_trail": emptied_trail,
    "truncation_verify_missing_dir": verify_missing_dir,
    "truncation_dropped_triggers": dropped_triggers,
}


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory(prefix="wk-faults-history-") as tmp_dir:
        rows = [
            {"scenario": name, **dict(zip(("expected", "observed", "ok"), fn(Path(tmp_dir)), strict=True))}
            for name, fn in SCENARIOS.items()
        ]
    print(json.dumps({"faults": rows, "all_ok": all(r["ok"] for r in rows)}, ensure_ascii=False))
