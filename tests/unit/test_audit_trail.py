"""The audit trail in the state database: append-only, loss-free under concurrent writers, any URL.

Concurrency is tested with real processes (multiprocessing, spawn: nothing shared but the file),
started together on a barrier so their appends interleave. Append-only is checked twice: the
`StateStore` offers no mutating audit method, and no module of the package builds an UPDATE,
DELETE or DROP on the audit table.

The tests of concurrent schema creation, SQLAlchemy dialect URLs, in-memory databases shared by
threads and non-UTC offsets guard against defects found (and fixed) in `watchkeeper.state`.
"""

from __future__ import annotations

import ast
import inspect
import itertools
import multiprocessing
import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

import watchkeeper
from watchkeeper.state import StateStore, open_state

WRITERS = 2
APPENDS_PER_WRITER = 100
AT = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)


def _append_many(url: str, writer: int, count: int, barrier: threading.Barrier) -> None:
    """Runs in a spawned process: opens its own store and appends `count` decisions."""
    store = open_state(url)
    barrier.wait(timeout=60)
    for seq in range(count):
        # A breath between appends, as real runs have: SQLite's busy handler sleeps while the lock is
        # held, so a writer appending back to back can starve the other and nothing would interleave.
        time.sleep(0.002)
        store.append_audit(
            model="churn",
            event="alert_fired",
            decision="warning",
            reasons=[f"writer {writer} decision {seq}"],
            evidence={"writer": writer, "seq": seq, "mlflow_run_id": f"run-{writer}-{seq}"},
        )


def _open_and_append(url: str, writer: int, barrier: threading.Barrier) -> None:
    barrier.wait(timeout=60)
    store = open_state(url)  # the schema does not exist yet: both processes create it at once
    store.append_audit(model="churn", event="started", evidence={"writer": writer})


def _run_processes(target, args_per_process: list[tuple]) -> list[int | None]:
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=target, args=args) for args in args_per_process]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    return [p.exitcode for p in procs]


def test_two_processes_appending_lose_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    open_state(url)  # schema first: this test is about concurrent appends, not creation
    barrier = multiprocessing.get_context("spawn").Barrier(WRITERS)
    exitcodes = _run_processes(
        _append_many, [(url, writer, APPENDS_PER_WRITER, barrier) for writer in range(WRITERS)]
    )
    assert exitcodes == [0] * WRITERS
    rows = open_state(url).read_audit(model="churn")
    assert len(rows) == WRITERS * APPENDS_PER_WRITER
    seen = sorted((r["evidence"]["writer"], r["evidence"]["seq"]) for r in rows)
    assert seen == [(w, s) for w in range(WRITERS) for s in range(APPENDS_PER_WRITER)]
    assert len({r["id"] for r in rows}) == len(rows)
    # Each writer's decisions keep their order: ids grow in the order each process appended.
    by_id = sorted(rows, key=lambda r: r["id"])
    for writer in range(WRITERS):
        mine = [r["evidence"]["seq"] for r in by_id if r["evidence"]["writer"] == writer]
        assert mine == list(range(APPENDS_PER_WRITER))
    # Both really ran at once: their appends interleave rather than one finishing first.
    writers_in_id_order = [r["evidence"]["writer"] for r in by_id]
    switches = sum(a != b for a, b in itertools.pairwise(writers_in_id_order))
    assert switches > 1
    # … and the hash chain did not fork: every entry links to the one before it.
    assert open_state(url).verify_audit().ok
    assert sorted(r["seq"] for r in rows) == list(range(1, WRITERS * APPENDS_PER_WRITER + 1))


def test_two_processes_opening_a_fresh_database_at_once(tmp_path: Path) -> None:
    for round_ in range(2):  # the race is timing-dependent: a few rounds make it show
        url = f"sqlite:///{tmp_path / f'fresh-{round_}.db'}"
        barrier = multiprocessing.get_context("spawn").Barrier(2)
        exitcodes = _run_processes(_open_and_append, [(url, w, barrier) for w in range(2)])
        assert exitcodes == [0, 0]
        assert len(open_state(url).read_audit()) == 2


# -- any SQLAlchemy URL --------------------------------------------------------------------------
def _urls(tmp_path: Path) -> dict[str, str]:
    return {
        "sqlite-file": f"sqlite:///{tmp_path / 'a' / 'state.db'}",  # parent directory created
        "pysqlite-file": f"sqlite+pysqlite:///{tmp_path / 'state2.db'}",
        "memory": "sqlite:///:memory:",
        "memory-empty": "sqlite://",
    }


@pytest.mark.parametrize("kind", ["sqlite-file", "pysqlite-file", "memory", "memory-empty"])
def test_round_trip_on_any_url(tmp_path: Path, kind: str) -> None:
    store = open_state(_urls(tmp_path)[kind])
    start, end = AT - timedelta(days=1), AT
    store.append_audit(
        model="churn",
        event="retraining_triggered",
        decision="retrain",
        reasons=["drift share 0.40 ≥ 0.30", "f1 below band"],
        evidence={"mlflow_run_id": "abc123", "figures": {"drift.share": 0.4}},
        window_start=start,
        window_end=end,
        config_hash="0123456789abcdef",
        code_version="9b641d5",
        at=AT,
    )
    store.append_audit(model="fraud", event="alert_resolved", at=AT + timedelta(minutes=5))
    store.append_audit(model="churn", event="model_promoted", decision="promote", at=AT + timedelta(hours=1))
    rows = store.read_audit(model="churn")
    assert [r["event"] for r in rows] == ["retraining_triggered", "model_promoted"]
    first = rows[0]
    assert first["at"] == AT and first["at"].tzinfo is not None
    assert (first["window_start"], first["window_end"]) == (start, end)
    assert first["reasons"] == ["drift share 0.40 ≥ 0.30", "f1 below band"]
    assert first["evidence"] == {"mlflow_run_id": "abc123", "figures": {"drift.share": 0.4}}
    assert (first["config_hash"], first["code_version"], first["decision"]) == (
        "0123456789abcdef",
        "9b641d5",
        "retrain",
    )
    assert rows[1]["reasons"] == [] and rows[1]["evidence"] == {}
    assert [r["event"] for r in store.read_audit(since=AT + timedelta(minutes=1))] == [
        "alert_resolved",
        "model_promoted",
    ]
    assert len(store.read_audit()) == 3


def test_driver_qualified_sqlite_url_creates_its_directory(tmp_path: Path) -> None:
    store = open_state(f"sqlite+pysqlite:///{tmp_path / 'missing' / 'dir' / 'state.db'}")
    store.append_audit(model="churn", event="e", at=AT)
    assert len(store.read_audit()) == 1


def test_in_memory_store_is_shared_across_threads() -> None:
    store = open_state("sqlite:///:memory:")
    errors: list[BaseException] = []

    def append() -> None:
        try:
            store.append_audit(model="churn", event="from-thread", at=AT)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=append)
    thread.start()
    thread.join()
    assert errors == []
    assert [r["event"] for r in store.read_audit()] == ["from-thread"]


def test_non_utc_times_keep_their_instant(tmp_path: Path) -> None:
    store = open_state(f"sqlite:///{tmp_path / 'state.db'}")
    cest = timezone(timedelta(hours=2))
    at = datetime(2026, 11, 27, 12, 0, tzinfo=cest)  # 10:00 UTC
    store.append_audit(model="churn", event="e", at=at, window_end=at)
    [row] = store.read_audit()
    assert row["at"] == at and row["window_end"] == at
    assert store.read_audit(since=datetime(2026, 11, 27, 10, 30, tzinfo=UTC)) == []


# -- append-only ---------------------------------------------------------------------------------
_MUTATING = ("update", "delete", "remove", "purge", "truncate", "drop", "clear", "edit", "amend", "rewrite")


def test_store_has_no_mutating_audit_method() -> None:
    public = {name for name, _ in inspect.getmembers(StateStore, callable) if not name.startswith("_")}
    assert {name for name in public if "audit" in name} == {
        "append_audit",
        "chain_audit",
        "read_audit",
        "verify_audit",
    }
    assert not [name for name in public if any(verb in name for verb in _MUTATING)]


def _audit_mutations(source: str) -> list[str]:
    """UPDATE / DELETE / DROP / TRUNCATE on the audit table built in `source`, as SQLAlchemy or SQL."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            func = node.func
            # audit_log.update() / audit_log.delete() / state.audit_log.delete()
            if isinstance(func, ast.Attribute) and func.attr in {"update", "delete", "drop"}:
                target = func.value
                name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
                if name == "audit_log":
                    found.append(ast.unparse(node))
            # sa.update(audit_log) / delete(audit_log)
            callee = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if callee in {"update", "delete"} and node.args:
                arg = node.args[0]
                name = arg.attr if isinstance(arg, ast.Attribute) else getattr(arg, "id", "")
                if name == "audit_log":
                    found.append(ast.unparse(node))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = " ".join(node.value.lower().split())
            for sql in (
                "update audit_log",
                "delete from audit_log",
                "drop table audit_log",
                "truncate audit_log",
            ):
                if sql in text:
                    found.append(node.value)
    return found


@pytest.mark.parametrize(
    ("source", "hits"),
    [
        # The scanner itself must catch each form, or the test below proves nothing.
        ("audit_log.update().values(x=1)", 1),
        ("state.audit_log.delete()", 1),
        ("sa.delete(audit_log).where(True)", 1),
        ("conn.execute(text('DELETE FROM  audit_log WHERE id=1'))", 1),
        ("audit_log.insert().values(x=1); window_evaluations.update()", 0),
    ],
)
def test_mutation_scanner(source: str, hits: int) -> None:
    assert len(_audit_mutations(source)) == hits


def test_no_module_updates_or_deletes_audit_rows() -> None:
    package = Path(next(iter(watchkeeper.__path__)))
    offenders = {
        str(path.relative_to(package)): hits
        for path in sorted(package.rglob("*.py"))
        if (hits := _audit_mutations(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}
    assert (package / "state.py").exists()  # the scan did look at the module that owns the table


def test_database_refuses_to_rewrite_the_audit_trail(tmp_path) -> None:
    import sqlalchemy as sa

    from watchkeeper.state import open_state

    store = open_state(f"sqlite:///{tmp_path / 'state.db'}")
    store.append_audit(model="m", event="retrain.skipped", reasons=["cooldown"])
    for statement in ("UPDATE audit_log SET event = 'x'", "DELETE FROM audit_log"):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"), store.begin() as conn:
            conn.exec_driver_sql(statement)
    assert [row["event"] for row in store.read_audit()] == ["retrain.skipped"]
