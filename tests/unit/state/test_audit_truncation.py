"""A cut-short audit trail is reported, on SQLite and on a real PostgreSQL (issue 30, part 2).

Found by fault injection: deleting the last entries and moving the head back passed `audit verify`,
even with `WATCHKEEPER_AUDIT_KEY` set; an emptied trail passed ("intact: 0 entries"); `audit verify`
on a state directory that did not exist created an empty database and said intact; dropped triggers
were re-created by the next open, so the evidence was gone. Now the head is checkpointed outside the
database (a file, an http(s) URL, the JSON log), `audit verify` compares the chain with the latest
checkpoint, names missing triggers, and only `audit repair` re-creates them (audited).

Tampering goes through the database's own client (sqlite3, SQL on the owner's connection), never
through Watchkeeper's code; `audit verify` runs as the CLI's `main`.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import sqlalchemy as sa

from watchkeeper import anchor
from watchkeeper.audit import GENESIS, missing_triggers, protect
from watchkeeper.cli import main
from watchkeeper.logs import configure_json_logging, remove_json_logging
from watchkeeper.state import StateStore, open_state

KEY = "k3y-for-the-chain"


def _trail(url: str, n: int = 5, **kw: str) -> StateStore:
    store = open_state(url, **kw)
    for i in range(n):
        store.append_audit(model="churn", event="alert.fired", decision="warning", reasons=[f"d{i}"])
    return store


def _cut(store: StateStore, keep: int) -> None:
    """What someone with write access does: drop the triggers, delete the tail, move the head back,
    and put the triggers back so nothing looks out of place."""
    dialect = store.engine.dialect.name
    with store.engine.begin() as conn:
        if dialect == "sqlite":
            for name in ("audit_log_no_delete", "audit_head_forward_only"):
                conn.exec_driver_sql(f"DROP TRIGGER {name}")
        else:
            conn.exec_driver_sql("DROP TRIGGER audit_log_append_only ON audit_log")
            conn.exec_driver_sql("DROP TRIGGER audit_head_forward_only ON audit_head")
        conn.exec_driver_sql(f"DELETE FROM audit_log WHERE seq > {keep}")
        last = conn.exec_driver_sql(f"SELECT entry_hash FROM audit_log WHERE seq = {keep}").scalar()
        conn.execute(
            sa.text("UPDATE audit_head SET seq = :seq, entry_hash = :h"),
            {"seq": keep, "h": last or GENESIS},
        )
    protect(store.engine, force=True)
    assert missing_triggers(store.engine) == []


def _verify(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["audit", "verify", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("key", [None, KEY], ids=["no-key", "key"])
def test_shortened_trail_is_reported_against_a_checkpoint_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, key: str | None
) -> None:
    if key:
        monkeypatch.setenv("WATCHKEEPER_AUDIT_KEY", key)
    url = f"sqlite:///{tmp_path / 'state.db'}"
    store = _trail(url, audit_key=key or "")
    target = tmp_path / "elsewhere" / "checkpoints.jsonl"
    anchor.write_checkpoint(str(target), anchor.take_checkpoint(store, "churn"))
    code, out, _ = _verify(capsys, "--state-url", url, "--checkpoint", str(target))
    assert code == 0 and "latest checkpoint (seq 5" in out
    assert ("signed" if key else "unsigned") in out

    _cut(store, keep=3)
    # The chain alone cannot tell: it is a consistent chain of 3.
    assert store.verify_audit().ok
    code, out, _ = _verify(capsys, "--state-url", url, "--checkpoint", str(target))
    assert code == 1
    assert "audit trail SHORTENED" in out and "entries 4–5 were removed and the head moved back" in out


def test_with_a_key_an_altered_checkpoint_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATCHKEEPER_AUDIT_KEY", KEY)
    url = f"sqlite:///{tmp_path / 'state.db'}"
    store = _trail(url, audit_key=KEY)
    target = tmp_path / "checkpoints.jsonl"
    anchor.write_checkpoint(str(target), anchor.take_checkpoint(store, "churn"))
    _cut(store, keep=3)
    # The one who cut the trail edits the checkpoint to match; without the key the MAC cannot follow.
    record = json.loads(target.read_text())
    record.update(seq=3, entry_hash=anchor.entry_hash_at(store, 3))
    target.write_text(json.dumps(record) + "\n")
    code, out, _ = _verify(capsys, "--state-url", url, "--checkpoint", str(target))
    assert code == 1 and "audit checkpoint FORGED" in out and "not signed with this audit key" in out


def test_emptied_trail_is_reported_from_the_json_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    store = _trail(url)
    # A run's checkpoint in the JSON log beside the state database (logs/watchkeeper.jsonl).
    configure_json_logging(tmp_path / "logs")
    try:
        anchor.log_checkpoint(anchor.take_checkpoint(store, "churn"))
    finally:
        remove_json_logging()
    logged = [json.loads(line) for line in (tmp_path / "logs" / "watchkeeper.jsonl").read_text().splitlines()]
    assert [r["event"] for r in logged] == [anchor.CHECKPOINT_EVENT]
    _cut(store, keep=0)
    code, out, _ = _verify(capsys, "--state-url", url)
    assert code == 1
    assert "audit trail intact: 0 entries" in out  # the chain itself: consistent, and empty
    assert "audit trail EMPTIED" in out and "the trail holds no entries" in out


def test_verify_on_a_missing_state_dir_is_an_error_and_creates_nothing(tmp_path: Path) -> None:
    # The command as a user runs it (a process of its own), pointed at the state directory by env.
    missing = tmp_path / "no-such-dir"
    root = Path(__file__).resolve().parents[3]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(root / "src"), str(root)]),
        "WATCHKEEPER_STATE_DIR": str(missing),
    }
    env.pop("WATCHKEEPER_STATE_DB_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "watchkeeper.cli", "audit", "verify"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert f"state database {missing / 'state.db'} does not exist (nothing was created)" in done.stderr
    assert not missing.exists()


def test_verify_without_a_checkpoint_says_what_it_cannot_see(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    _trail(url, n=2)
    code, out, err = _verify(capsys, "--state-url", url)
    assert code == 0 and out == "audit trail intact: 2 entries, hash chain verified\n"
    assert "no audit checkpoint of this database found" in err


def test_dropped_triggers_are_reported_not_recreated_and_repair_is_audited(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    _trail(url, n=2)
    conn = sqlite3.connect(tmp_path / "state.db")
    conn.execute("DROP TRIGGER audit_log_no_update")
    conn.commit()
    conn.close()
    code, out, _ = _verify(capsys, "--state-url", url)
    assert code == 1 and "audit triggers MISSING" in out and "audit_log_no_update" in out
    # Neither verify nor the next run's open puts them back: the evidence stays.
    again = open_state(url)
    assert missing_triggers(again.engine) == ["audit_log_no_update"]

    assert main(["audit", "repair", "--state-url", url]) == 0
    assert "re-created audit triggers" in capsys.readouterr().out
    assert missing_triggers(again.engine) == []
    (entry,) = [e for e in again.read_audit() if e["event"] == anchor.REPAIR_EVENT]
    assert entry["evidence"]["recreated"] == ["audit_log_no_update"]
    code, out, _ = _verify(capsys, "--state-url", url)
    assert code == 0 and "audit trail intact: 3 entries" in out


class _CheckpointServer:
    """An http checkpoint store on 127.0.0.1: POST appends, GET returns every checkpoint (JSON lines)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                outer.lines.append(self.rfile.read(int(self.headers["Content-Length"])).decode())
                self._answer(b"{}")

            def do_GET(self) -> None:
                self._answer("\n".join(outer.lines).encode())

            def _answer(self, body: bytes) -> None:
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/checkpoints"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def checkpoint_server() -> Iterator[_CheckpointServer]:
    server = _CheckpointServer()
    yield server
    server.server.shutdown()
    server.server.server_close()


def test_shortened_trail_is_reported_against_an_http_checkpoint(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    checkpoint_server: _CheckpointServer,
) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    store = _trail(url, audit_key=KEY)
    anchor.write_checkpoint(checkpoint_server.url, anchor.take_checkpoint(store, "churn"))
    assert json.loads(checkpoint_server.lines[0])["mac"]
    _cut(store, keep=4)
    monkeypatch.setenv(anchor.CHECKPOINT_ENV, checkpoint_server.url)
    monkeypatch.setenv("WATCHKEEPER_AUDIT_KEY", KEY)
    code, out, _ = _verify(capsys, "--state-url", url)
    assert code == 1 and "audit trail SHORTENED against http://127.0.0.1" in out


def test_unreachable_checkpoint_url_is_an_error_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    _trail(url, n=1)
    with pytest.raises(anchor.CheckpointError, match=r"POST to http://127\.0\.0\.1:9/x failed"):
        anchor.write_checkpoint("http://127.0.0.1:9/x", anchor.take_checkpoint(open_state(url)))
    assert main(["audit", "verify", "--state-url", url, "--checkpoint", "http://127.0.0.1:9/x"]) == 2
    assert "GET http://127.0.0.1:9/x failed" in capsys.readouterr().err


# PostgreSQL: the owner (who can drop triggers) cuts the trail; the checkpoint outside still tells.


@pytest.mark.parametrize("key", [None, KEY], ids=["no-key", "key"])
def test_shortened_and_emptied_trail_on_postgres(
    pg_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    key: str | None,
) -> None:
    if key:
        monkeypatch.setenv("WATCHKEEPER_AUDIT_KEY", key)
    store = _trail(pg_url, audit_key=key or "")
    target = tmp_path / "checkpoints.jsonl"
    anchor.write_checkpoint(str(target), anchor.take_checkpoint(store, "churn"))
    args = ("--state-url", pg_url, "--checkpoint", str(target), "--log-dir", str(tmp_path / "logs"))
    _cut(store, keep=2)
    assert store.verify_audit().ok
    code, out, _ = _verify(capsys, *args)
    assert code == 1 and "audit trail SHORTENED" in out and "entries 3–5 were removed" in out
    _cut(store, keep=0)
    code, out, _ = _verify(capsys, *args)
    assert code == 1 and "audit trail EMPTIED" in out


def test_dropped_triggers_on_postgres_are_reported_and_repaired(
    pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    store = _trail(pg_url, n=2)
    with store.engine.begin() as conn:
        conn.exec_driver_sql("DROP TRIGGER audit_log_no_truncate ON audit_log")
    open_state(pg_url)  # the next run's open: does not put it back
    assert missing_triggers(store.engine) == ["audit_log_no_truncate"]
    code, out, _ = _verify(capsys, "--state-url", pg_url, "--log-dir", "/nonexistent-logs")
    assert code == 1 and "audit triggers MISSING" in out and "audit_log_no_truncate" in out
    assert main(["audit", "repair", "--state-url", pg_url]) == 0
    assert missing_triggers(store.engine) == []
    assert [e["event"] for e in store.read_audit()][-1] == anchor.REPAIR_EVENT
    assert _verify(capsys, "--state-url", pg_url, "--log-dir", "/nonexistent-logs")[0] == 0


def test_verify_on_a_postgres_database_without_state_creates_nothing(
    pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", "verify", "--state-url", pg_url]) == 2
    assert "holds no audit trail" in capsys.readouterr().err
    assert sa.inspect(sa.create_engine(pg_url)).get_table_names() == []


def test_a_replaced_state_database_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """state.db removed and created afresh (by the next run's open): its checkpoints name another
    database, and no `history.new` entry supersedes them."""
    db = tmp_path / "state.db"
    store = _trail(f"sqlite:///{db}")
    target = tmp_path / "checkpoints.jsonl"
    anchor.write_checkpoint(str(target), anchor.take_checkpoint(store, "churn"))
    store.engine.dispose()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    fresh = open_state(f"sqlite:///{db}")
    anchor.ensure_identity(fresh)
    code, out, _ = _verify(capsys, "--state-url", f"sqlite:///{db}", "--checkpoint", str(target))
    assert code == 1 and "audit trail intact: 0 entries" in out and "audit trail REPLACED" in out
