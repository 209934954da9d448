"""Fault scenarios of issue 30, part 4 (damage is named), run by `benchmarks/faults.py`.

    python benchmarks/faults.py --only damage_

A full disk (a 1 MiB tmpfs where this process may mount one, else a file-size limit: RLIMIT_FSIZE
with SIGXFSZ ignored, in a subprocess), a state.db overwritten by a bad copy, one damaged index page
in the state database and in a real MLflow store, a JSON log cut mid-line, stray spool
temporaries, and what ``PRAGMA quick_check`` costs at open on a year of one model's windows.
Real files and real SQLite throughout. Paths in the table are shown relative to the run's tmp dir.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE_GARBAGE = 0x5A

_FULL_DISK_SCRIPT = textwrap.dedent(
    """
    import json, logging, os, resource, signal, sys
    from pathlib import Path

    from tasks.tracking_tasks import Tracking, spool_report
    from watchkeeper.logs import configure_json_logging
    from watchkeeper.state import open_state

    mode, disk = sys.argv[1], Path(sys.argv[2])
    store = open_state(f"sqlite:///{disk / 'state.db'}")
    store.append_audit(model="m", event="before")
    configure_json_logging(disk / "logs")
    log = logging.getLogger("watchkeeper.faults")
    log.warning("before the disk filled")
    if mode == "tmpfs":
        fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT)
        try:
            while True:
                os.write(fd, b"0" * 4096)
        except OSError:
            pass
        os.ftruncate(fd, os.fstat(fd).st_size - 8192)
        os.close(fd)
    else:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        limit = (disk / "logs" / "watchkeeper.jsonl").stat().st_size + 8192
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
    out = {}
    try:
        store.append_audit(model="m", event="after", evidence={"x": "audited " * 25_000})
        out["state"] = "written"
    except Exception as exc:
        out["state"] = f"{type(exc).__name__}: {exc}"
    payload = {"tags": {"watchkeeper.window_key": "m@2026-03-01/2026-03-02"}, "metrics": {}}
    tracking = Tracking(client=None, uri="sqlite:///unused.db", ui_url="")
    try:
        spool_report(payload, spool=disk / "spool", tracking=tracking, experiment="e",
                     artifacts={"big.txt": "spooled text " * 16_000})
        out["spool"] = "written"
    except Exception as exc:
        out["spool"] = f"{type(exc).__name__}: {exc}"
    log.warning("a record larger than the room left: " + "filler " * 10_000)
    print(json.dumps(out))
    """
)


def _short(text: str, tmp: Path) -> str:
    """A message with the tmp dir elided and without its advice (what follows the first '; ')."""
    return text.replace(str(tmp), "…").split("; ", 1)[0]


def _mount_tmpfs(target: Path) -> bool:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(target)], capture_output=True, text=True
    )
    return done.returncode == 0


def disk_full(tmp: Path) -> tuple[str, str, bool]:
    disk = tmp / "damage-disk"
    disk.mkdir()
    mode = "tmpfs" if _mount_tmpfs(disk) else "rlimit"
    try:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
        done = subprocess.run(
            [sys.executable, "-c", _FULL_DISK_SCRIPT, mode, str(disk)],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
            timeout=120,
        )
        out = json.loads(done.stdout.splitlines()[-1])
        log = (disk / "logs" / "watchkeeper.jsonl").read_bytes()
        whole = log.endswith(b"\n") and all(json.loads(line) for line in log.splitlines())
        stray = sorted(p.name for p in (disk / "spool").glob("*")) if (disk / "spool").exists() else []
        named = [line for line in done.stderr.splitlines() if "JSON log" in line]
    finally:
        if mode == "tmpfs":
            subprocess.run(["umount", "-l", str(disk)], capture_output=True)
    ok = (
        f"writing the state database {disk / 'state.db'}:" in out["state"]
        and f"writing the report spool {disk / 'spool'}" in out["spool"]
        and not stray
        and whole
        and len(named) == 1
    )
    how = "1 MiB tmpfs" if mode == "tmpfs" else "RLIMIT_FSIZE"
    return (
        "each error names the file and operation; no stray .tmp; log lines whole",
        f"[{how}] {_short(out['state'], tmp)} | {_short(out['spool'], tmp)} | spool left {stray} | "
        f"log {len(log.splitlines())} whole line(s), {_short(named[0] if named else 'no stderr line', tmp)}",
        ok,
    )


def _state_db(path: Path) -> Path:
    from watchkeeper.state import open_state

    store = open_state(f"sqlite:///{path}")
    for i in range(40):
        store.append_audit(model=f"model-{i % 3}", event="window_evaluated", evidence={"n": "x" * 300})
    store.engine.dispose()
    return path


def _damage_page(path: Path, pageno: int) -> None:
    with sqlite3.connect(path) as conn:
        size = conn.execute("PRAGMA page_size").fetchone()[0]
    with open(path, "r+b") as f:
        f.seek((pageno - 1) * size)
        f.write(bytes([PAGE_GARBAGE]) * size)


def _index_leaf_page(path: Path, index: str) -> int:
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT pageno FROM dbstat WHERE name = ? AND pagetype = 'leaf' ORDER BY pageno", (index,)
        ).fetchall()
    return int(rows[-1][0])


def state_db_not_a_database(tmp: Path) -> tuple[str, str, bool]:
    from watchkeeper.state import open_state
    from watchkeeper.storage import DamagedDatabaseError

    path = _state_db(tmp / "damage-header.db")
    with open(path, "r+b") as f:
        f.write(b"overwritten by a bad copy")
    try:
        open_state(f"sqlite:///{path}")
        observed, ok = "opened", False
    except DamagedDatabaseError as exc:
        observed = _short(str(exc), tmp)
        ok = str(path) in str(exc) and ".recover" in str(exc) and "backup" in str(exc)
    return ("stops at open, names the file, says restore or .recover", observed, ok)


def state_db_index_page(tmp: Path) -> tuple[str, str, bool]:
    from watchkeeper.state import open_state
    from watchkeeper.storage import DamagedDatabaseError

    path = _state_db(tmp / "damage-index.db")
    _damage_page(path, _index_leaf_page(path, "ix_audit_log_model"))
    try:
        open_state(f"sqlite:///{path}")
        observed, ok = "opened", False
    except DamagedDatabaseError as exc:
        observed = _short(str(exc), tmp)
        ok = "index ix_audit_log_model" in str(exc) and ".recover" in str(exc)
    return ("stops at open, names the file and the index", observed, ok)


def _mlflow_store(path: Path, runs: int = 3) -> Path:
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{path}")
    experiment = client.create_experiment("damage")
    for run in range(runs):
        run_id = client.create_run(experiment, tags={"watchkeeper.model": "churn"}).info.run_id
        metrics = [Metric(f"drift/col{i}/score", i / 10, 1000 * run, s) for i in range(40) for s in (0, 1)]
        client.log_batch(run_id, metrics=metrics)
        client.set_terminated(run_id)
    return path


def mlflow_db_index_page(tmp: Path) -> tuple[str, str, bool]:
    from mlflow.tracking import MlflowClient

    from tasks.tracking_tasks import open_tracking
    from watchkeeper.storage import DamagedDatabaseError

    path = _mlflow_store(tmp / "damage-mlflow.db")
    _damage_page(path, _index_leaf_page(path, "index_metrics_run_uuid"))
    unnoticed = MlflowClient(tracking_uri=f"sqlite:///{path}").get_experiment_by_name("damage") is not None
    try:
        open_tracking(f"sqlite:///{path}")
        observed, ok = "opened", False
    except DamagedDatabaseError as exc:
        observed = _short(str(exc), tmp)
        ok = "index index_metrics_run_uuid" in str(exc) and str(path) in str(exc)
    return (
        "MLflow alone answers as if whole; open_tracking stops, names file and index",
        f"MLflow alone: {'answers' if unnoticed else 'fails'}; {observed}",
        ok,
    )


def log_partial_line(tmp: Path) -> tuple[str, str, bool]:
    from watchkeeper.logs import LOG_FILE_NAME, configure_json_logging, remove_json_logging

    log_dir = tmp / "damage-logs"
    log_dir.mkdir()
    log_file = log_dir / LOG_FILE_NAME
    log_file.write_text('{"message": "whole"}\n{"time": "2026-12-08T03:00:00', encoding="utf-8")
    try:
        configure_json_logging(log_dir)
        logging.getLogger("watchkeeper.faults").warning("after the restart")
    finally:
        remove_json_logging()
    lines = [json.loads(line) for line in log_file.read_text(encoding="utf-8").splitlines()]
    events = [line.get("event") or line["message"] for line in lines]
    return (
        "partial line cut at start, noted; every line parses",
        f"lines: {events}",
        events == ["whole", "log_partial_line_truncated", "after the restart"],
    )


def spool_stray_tmp(tmp: Path) -> tuple[str, str, bool]:
    from tasks.tracking_tasks import flush_mlflow_spool, open_tracking, spool_report
    from watchkeeper.storage import STRAY_AFTER_S

    tracking = open_tracking(f"sqlite:///{tmp / 'damage-spool-mlflow.db'}")
    spool = tmp / "damage-spool"
    payload = {
        "tags": {"watchkeeper.window_key": "churn@2026-03-01/2026-03-02", "watchkeeper.kind": "monitor"},
        "metrics": {"perf/accuracy": 0.9},
        "timestamp_ms": 1,
        "run_name": "2026-03-01 → 2026-03-02",
        "report": {},
    }
    complete = spool_report(payload, spool=spool, tracking=tracking, experiment="damage", artifacts={})
    complete = complete.rename(complete.with_suffix(".tmp"))
    truncated = spool / "churn_2026-03-02_2026-03-03.tmp"
    truncated.write_text(complete.read_text()[:100])
    old = time.time() - STRAY_AFTER_S - 5
    for path in (complete, truncated):
        os.utime(path, (old, old))
    logged = flush_mlflow_spool.fn(spool, tracking)
    left = sorted(p.name for p in spool.iterdir())
    return (
        "complete .tmp adopted and logged, partial one removed",
        f"logged {len(logged)} run(s), spool left {left}",
        len(logged) == 1 and left == [],
    )


def _clone_runs(path: Path, copies: int) -> None:
    """Add `copies` copies of every run (rows of each table keyed by run_uuid) under new ids."""
    with sqlite3.connect(path) as conn:
        tables = [
            t
            for (t,) in conn.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")
            if any(c[1] == "run_uuid" for c in conn.execute(f"PRAGMA table_info({t})"))
        ]
        runs = [r for (r,) in conn.execute("SELECT run_uuid FROM runs")]
        for _ in range(copies):
            for run in runs:
                new = uuid.uuid4().hex
                for table in tables:
                    columns = [c[1] for c in conn.execute(f"PRAGMA table_info({table})")]
                    chosen = ", ".join("?" if c == "run_uuid" else c for c in columns)
                    conn.execute(
                        f"INSERT INTO {table} ({', '.join(columns)}) SELECT {chosen} FROM {table} "
                        "WHERE run_uuid = ?",
                        (new, run),
                    )


def quick_check_cost(tmp: Path) -> tuple[str, str, bool]:
    """quick_check on a year of one model's daily windows in MLflow (376 metric rows per window
    evaluation, twice, as in the demo's store) and on the demo-sized state database."""
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    from watchkeeper.storage import quick_check

    path = tmp / "damage-year-mlflow.db"
    client = MlflowClient(tracking_uri=f"sqlite:///{path}")
    experiment = client.create_experiment("year")
    run_id = client.create_run(
        experiment, tags={f"watchkeeper.t{i}": "x" * 40 for i in range(15)}
    ).info.run_id
    for step in (0, 1):
        metrics = [Metric(f"drift/col{i}/score", i / 7, 1000 * step, step) for i in range(376)]
        client.log_batch(run_id, metrics=metrics)
    _clone_runs(path, 364)
    size_mb = path.stat().st_size / 2**20
    timings = {}
    with sqlite3.connect(path) as conn:
        for pragma in ("quick_check", "integrity_check"):
            started = time.perf_counter()
            conn.execute(f"PRAGMA {pragma}").fetchall()
            timings[pragma] = time.perf_counter() - started
    # As at open (a fresh connection): first with the file out of the page cache (a run's first
    # open after a quiet night), then again with it cached (a second open in the same hour).
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    started = time.perf_counter()
    findings = quick_check(path)
    cold = time.perf_counter() - started
    started = time.perf_counter()
    findings += quick_check(path)
    at_open = time.perf_counter() - started
    state = _state_db(tmp / "damage-cost-state.db")
    started = time.perf_counter()
    quick_check(state)
    state_ms = (time.perf_counter() - started) * 1000
    return (
        "quick_check at open under a second for a year of one model (file in the page cache)",
        f"mlflow.db {size_mb:.0f} MiB (365 runs): quick_check at open {cold * 1000:.0f} ms from disk, "
        f"{at_open * 1000:.0f} ms cached ({size_mb / at_open:.0f} MiB/s); integrity_check "
        f"{timings['integrity_check'] * 1000:.0f} ms cached; state.db {state.stat().st_size // 1024} KiB: "
        f"{state_ms:.1f} ms",
        findings == [] and at_open < 1.0,
    )


SCENARIOS: dict[str, Callable[[Path], tuple[str, str, bool]]] = {
    "damage_disk_full": disk_full,
    "damage_state_db_not_a_database": state_db_not_a_database,
    "damage_state_db_index_page": state_db_index_page,
    "damage_mlflow_db_index_page": mlflow_db_index_page,
    "damage_log_partial_line": log_partial_line,
    "damage_spool_stray_tmp": spool_stray_tmp,
    "damage_quick_check_cost": quick_check_cost,
}
