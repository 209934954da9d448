"""Damage is named (issue 30, part 4): a full disk, damaged SQLite files, a half-written log line and
a stray spool temporary, each against real files and real SQLite.

Found by fault injection: `OSError: [Errno 28] No space left on device` with no file named, a raw
"file is not a database" traceback, `watchkeeper.jsonl` keeping half a record glued to the next
one, a `spool/…/*.tmp` left forever, and one damaged index page in `mlflow.db` going unnoticed.

The full disk is a 1 MiB tmpfs where this process may mount one (root, outside most containers);
the same writes also run under a file-size limit (RLIMIT_FSIZE, SIGXFSZ ignored, in a subprocess),
which fails them with EFBIG anywhere: the fallback is tested wherever the tmpfs is.
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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from watchkeeper.logs import LOG_FILE_NAME, configure_json_logging, remove_json_logging
from watchkeeper.state import open_state
from watchkeeper.storage import (
    STRAY_AFTER_S,
    DamagedDatabaseError,
    StorageError,
    check_sqlite_file,
    quick_check,
)

ROOT = Path(__file__).resolve().parents[2]
PAGE_GARBAGE = 0x5A

# What the subprocess does on the full disk: a state database write, a spooled report and a JSON
# log record, each larger than the room left (8 KiB on the tmpfs; 8 KiB past the log's end under
# RLIMIT_FSIZE, so the log record's first write is short and its second one fails).
FULL_DISK_SCRIPT = textwrap.dedent(
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
    log = logging.getLogger("watchkeeper.test")
    log.warning("before the disk filled")
    room = 8192
    if mode == "tmpfs":
        fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT)
        try:
            while True:
                os.write(fd, b"0" * 4096)
        except OSError:
            pass
        os.ftruncate(fd, os.fstat(fd).st_size - room)
        os.close(fd)
    else:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        limit = (disk / "logs" / "watchkeeper.jsonl").stat().st_size + room
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
    log.warning("and another one: " + "filler " * 10_000)
    print(json.dumps(out))
    """
)


def _mount_tmpfs(target: Path) -> str | None:
    """Mount a 1 MiB tmpfs on `target`; the reason when that is not possible here."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or shutil.which("mount") is None:
        return "mounting a tmpfs needs root and mount(8)"
    target.mkdir(parents=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(target)], capture_output=True, text=True
    )
    return None if done.returncode == 0 else f"mount -t tmpfs refused: {done.stderr.strip()}"


@pytest.fixture(scope="module", params=["tmpfs", "rlimit"])
def full_disk(request: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The subprocess run once per kind of full disk: its results, stderr and directory."""
    disk = tmp_path_factory.mktemp(f"full-{request.param}") / "disk"
    if request.param == "tmpfs":
        reason = _mount_tmpfs(disk)
        if reason:
            pytest.skip(f"{reason}; the RLIMIT_FSIZE case covers a full disk here")
    else:
        disk.mkdir()
    try:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
        done = subprocess.run(
            [sys.executable, "-c", FULL_DISK_SCRIPT, request.param, str(disk)],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        # Read what the subprocess left before the tmpfs goes.
        log_text = (disk / "logs" / LOG_FILE_NAME).read_bytes()
        with sqlite3.connect(disk / "state.db") as conn:
            events = [r[0] for r in conn.execute("SELECT event FROM audit_log ORDER BY id")]
        yield {
            "mode": request.param,
            "disk": disk,
            "results": json.loads(done.stdout.splitlines()[-1]),
            "stderr": done.stderr,
            "log": log_text,
            "events": events,
            "findings": quick_check(disk / "state.db"),
            "spool": sorted(p.name for p in (disk / "spool").iterdir()),
        }
    finally:
        if request.param == "tmpfs" and disk.is_mount():
            # Lazily when busy (a subprocess that outlived its timeout still holds files there).
            unmounted = subprocess.run(["umount", str(disk)], capture_output=True).returncode == 0
            if not unmounted:
                subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def _no_room(mode: str) -> str:
    return "no space left on device (errno 28)" if mode == "tmpfs" else "file too large (errno 27)"


def test_state_database_write_on_a_full_disk_names_the_file(full_disk: dict[str, Any]) -> None:
    message = full_disk["results"]["state"]
    path = full_disk["disk"] / "state.db"
    assert message.startswith(f"StorageError: writing the state database {path}: ")
    # SQLite maps ENOSPC to SQLITE_FULL, and any other failed write (EFBIG) to SQLITE_IOERR_WRITE.
    if full_disk["mode"] == "tmpfs":
        assert "database or disk is full (SQLITE_FULL); free space on its file system" in message
    else:
        assert "disk I/O error (SQLITE_IOERR_WRITE); a read or write failed" in message
    # The failed transaction left the database whole, without the entry.
    assert full_disk["events"] == ["before"] and full_disk["findings"] == []


def test_spooling_on_a_full_disk_names_the_file_and_leaves_no_temporary(full_disk: dict[str, Any]) -> None:
    tmp = full_disk["disk"] / "spool" / "m_2026-03-01_2026-03-02.tmp"
    assert full_disk["results"]["spool"] == (
        f"StorageError: writing the report spool {tmp}: {_no_room(full_disk['mode'])}; "
        "free space on its file system (or raise the quota or file-size limit that stopped it), then run again"
    )
    assert full_disk["spool"] == []


def test_json_log_on_a_full_disk_keeps_whole_lines_and_says_so_once(full_disk: dict[str, Any]) -> None:
    log_file = full_disk["disk"] / "logs" / LOG_FILE_NAME
    # The first big record was written in part (8 KiB of room), then cut back: the file holds the
    # whole lines written before, nothing of the two records that did not fit.
    assert full_disk["log"].endswith(b"\n")
    lines = [json.loads(line) for line in full_disk["log"].decode().splitlines()]
    assert [line["message"] for line in lines] == ["before the disk filled"]
    named = [line for line in full_disk["stderr"].splitlines() if "JSON log" in line]
    assert named == [
        f"watchkeeper: writing the JSON log {log_file}: {_no_room(full_disk['mode'])}; free space on its "
        "file system (or raise the quota or file-size limit that stopped it), then run again "
        "(log records are dropped until it can be written)"
    ]
    assert "Traceback" not in full_disk["stderr"]


def _state_db(tmp_path: Path, entries: int = 40) -> Path:
    path = tmp_path / "state.db"
    store = open_state(f"sqlite:///{path}")
    for i in range(entries):
        store.append_audit(model=f"model-{i % 3}", event="window_evaluated", evidence={"n": "x" * 300})
    store.engine.dispose()  # checkpoints the WAL into the file
    return path


def _damage_page(path: Path, pageno: int) -> None:
    with sqlite3.connect(path) as conn:
        size = conn.execute("PRAGMA page_size").fetchone()[0]
    with open(path, "r+b") as f:
        f.seek((pageno - 1) * size)
        f.write(bytes([PAGE_GARBAGE]) * size)


def _index_leaf_page(path: Path, index: str) -> int:
    """A leaf page of `index`, found with SQLite's dbstat table."""
    with sqlite3.connect(path) as conn:
        kind = conn.execute("SELECT type FROM sqlite_schema WHERE name = ?", (index,)).fetchone()
        assert kind == ("index",)
        rows = conn.execute(
            "SELECT pageno FROM dbstat WHERE name = ? AND pagetype = 'leaf' ORDER BY pageno", (index,)
        ).fetchall()
    assert rows, f"{index} has no leaf page"
    return int(rows[-1][0])


def test_state_database_that_is_not_a_database_is_named_with_what_to_do(tmp_path: Path) -> None:
    path = _state_db(tmp_path)
    with open(path, "r+b") as f:
        f.write(b"overwritten by a bad copy")  # the 16-byte header SQLite looks for, and more
    with pytest.raises(DamagedDatabaseError) as raised:
        open_state(f"sqlite:///{path}")
    assert str(raised.value) == (
        f"checking the state database {path}: the file is damaged, PRAGMA quick_check found: "
        "file is not a database (SQLITE_NOTADB); stop the runs that use it, then restore it from a "
        f"backup, or salvage what is readable with `sqlite3 {path} .recover | sqlite3 "
        f"{tmp_path / 'state.recovered.db'}` (`.dump` where .recover fails) and put the recovered file "
        "in its place (move the damaged one and its -wal and -shm files aside first)"
    )


def test_damaged_index_page_of_the_state_database_is_found_at_open(tmp_path: Path) -> None:
    path = _state_db(tmp_path)
    _damage_page(path, _index_leaf_page(path, "ix_audit_log_model"))
    # A query that does not use the index reads every entry: nothing else would notice.
    with sqlite3.connect(path) as conn:
        assert len(conn.execute("SELECT event FROM audit_log NOT INDEXED").fetchall()) == 40
    with pytest.raises(DamagedDatabaseError) as raised:
        open_state(f"sqlite:///{path}")
    assert raised.value.path == str(path)
    assert raised.value.findings[0] == "damaged pages belong to index ix_audit_log_model"
    assert "btreeInitPage() returns error code 11" in raised.value.findings[1]
    assert ".recover" in str(raised.value) and "restore it from a backup" in str(raised.value)
    # What the message says to do works: salvaged (`.dump`, as Debian 12's sqlite3 has no working
    # `.recover`), put in place with the damaged file moved aside, every entry is back.
    recovered = tmp_path / "state.recovered.db"
    cli = shutil.which("sqlite3")
    if cli is not None:
        dump = subprocess.run([cli, str(path), ".dump"], capture_output=True, text=True, check=True).stdout
        subprocess.run([cli, str(recovered)], input=dump, text=True, check=True)
    else:
        with sqlite3.connect(path) as damaged, sqlite3.connect(recovered) as salvaged:
            salvaged.executescript("\n".join(damaged.iterdump()))
    path.rename(tmp_path / "state.damaged.db")
    recovered.rename(path)
    assert len(open_state(f"sqlite:///{path}").read_audit()) == 40


def test_a_file_is_checked_once_per_version(tmp_path: Path) -> None:
    path = _state_db(tmp_path)
    check_sqlite_file(path, what="the state database")
    before = path.stat()
    _damage_page(path, _index_leaf_page(path, "ix_audit_log_model"))
    # Same inode, size and modification time as the version already checked: not read again.
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    check_sqlite_file(path, what="the state database")
    # Any write since (here, the modification time moves on) makes it a new version, checked again.
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000))
    with pytest.raises(DamagedDatabaseError):
        check_sqlite_file(path, what="the state database")


def test_errors_of_the_statement_stay_sqlalchemys(tmp_path: Path) -> None:
    import sqlalchemy as sa

    store = open_state(f"sqlite:///{tmp_path / 'state.db'}")
    # Callers catch these (a concurrent creator's "table already exists"): only file or disk
    # failures become StorageError.
    with pytest.raises(sa.exc.OperationalError) as raised, store.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE audit_log (x INTEGER)")
    assert not isinstance(raised.value, StorageError)


@pytest.fixture(scope="module")
def mlflow_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real MLflow SQLite store with a few runs, logged through MLflow's client."""
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    path = tmp_path_factory.mktemp("mlflow") / "mlflow.db"
    client = MlflowClient(tracking_uri=f"sqlite:///{path}")
    experiment = client.create_experiment("damage")
    for run in range(3):
        run_id = client.create_run(experiment, tags={"watchkeeper.model": "churn"}).info.run_id
        metrics = [
            Metric(f"drift/col{i}/score", i / 10, 1000 * run, step) for i in range(40) for step in (0, 1)
        ]
        client.log_batch(run_id, metrics=metrics)
        client.set_terminated(run_id)
    return path


def test_damaged_index_page_in_mlflow_db_stops_the_run_named(mlflow_store: Path, tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    from tasks.tracking_tasks import open_tracking

    path = tmp_path / "mlflow.db"
    shutil.copy(mlflow_store, path)
    _damage_page(path, _index_leaf_page(path, "index_metrics_run_uuid"))
    # What happened before: MLflow opens the store and answers as if nothing were wrong.
    assert MlflowClient(tracking_uri=f"sqlite:///{path}").get_experiment_by_name("damage") is not None
    with pytest.raises(DamagedDatabaseError) as raised:
        open_tracking(f"sqlite:///{path}")
    message = str(raised.value)
    assert message.startswith(
        f"checking the MLflow store {path}: the file is damaged, PRAGMA quick_check found: "
        "damaged pages belong to index index_metrics_run_uuid; Page "
    )
    assert f"`sqlite3 {path} .recover | sqlite3 {tmp_path / 'mlflow.recovered.db'}`" in message


def test_partial_log_line_is_truncated_back_at_the_next_start(tmp_path: Path) -> None:
    log_file = tmp_path / LOG_FILE_NAME
    whole = [json.dumps({"message": f"line {i}"}) for i in range(3)]
    # A crash (or a full disk, before whole-line writes) in the middle of the fourth record.
    partial = '{"time": "2026-12-08T03:00:00'
    log_file.write_text("\n".join(whole) + "\n" + partial, encoding="utf-8")
    try:
        handler = configure_json_logging(tmp_path)
        logging.getLogger("watchkeeper.test").warning("after the restart")
        handler.flush()
    finally:
        remove_json_logging()
    lines = [json.loads(line) for line in log_file.read_text(encoding="utf-8").splitlines()]
    assert [line["message"] for line in lines[:3]] == ["line 0", "line 1", "line 2"]
    note = lines[3]
    assert note["event"] == "log_partial_line_truncated" and note["fields"]["bytes"] == len(partial)
    assert note["message"] == (
        f"the JSON log {log_file} ended with a partial line ({len(partial)} bytes, left by a crash or a full disk): "
        "truncated back to the last whole line"
    )
    assert lines[4]["message"] == "after the restart"


def test_stray_spool_temporaries_are_adopted_when_complete_and_removed_otherwise(
    mlflow_store: Path, tmp_path: Path
) -> None:
    from tasks.tracking_tasks import flush_mlflow_spool, open_tracking, spool_report

    shutil.copy(mlflow_store, tmp_path / "mlflow.db")
    tracking = open_tracking(f"sqlite:///{tmp_path / 'mlflow.db'}")
    spool = tmp_path / "spool"
    payload = {
        "tags": {"watchkeeper.window_key": "churn@2026-03-01/2026-03-02", "watchkeeper.kind": "monitor"},
        "metrics": {"perf/accuracy": 0.9},
        "timestamp_ms": 1,
        "run_name": "2026-03-01 → 2026-03-02",
        "report": {},
    }
    # A crash between writing a complete temporary and renaming it: complete, so adopted.
    spooled = spool_report(payload, spool=spool, tracking=tracking, experiment="damage", artifacts={})
    complete = spooled.rename(spooled.with_suffix(".tmp"))
    # A crash in the middle of writing one: removed.
    truncated = spool / "churn@2026-03-02_2026-03-03.tmp"
    truncated.write_text(complete.read_text()[:100])
    # One being written right now by a concurrent run: left to its writer.
    fresh = spool / "churn@2026-03-03_2026-03-04.tmp"
    fresh.write_text("{")
    # A complete one older than the report in its place (say, restored from a backup): that wins.
    later = {**payload, "tags": {**payload["tags"], "watchkeeper.window_key": "churn@2026-03-04/2026-03-05"}}
    first = spool_report(later, spool=spool, tracking=tracking, experiment="damage", artifacts={})
    earlier_text = first.read_text()
    later["metrics"] = {"perf/accuracy": 0.5}
    spool_report(later, spool=spool, tracking=tracking, experiment="damage", artifacts={})
    stale = first.with_suffix(".tmp")
    stale.write_text(earlier_text)
    old = time.time() - STRAY_AFTER_S - 5
    for path in (complete, truncated, stale):
        os.utime(path, (old, old))
    logged = flush_mlflow_spool.fn(spool, tracking)
    # The adopted report and the newer one, logged to MLflow like any spooled report.
    runs = {(r := tracking.client.get_run(i)).data.tags["watchkeeper.window_key"]: r for i in logged}
    assert sorted(runs) == ["churn@2026-03-01/2026-03-02", "churn@2026-03-04/2026-03-05"]
    assert runs["churn@2026-03-04/2026-03-05"].data.metrics == {"perf/accuracy": 0.5}
    assert sorted(p.name for p in spool.iterdir()) == [fresh.name]
