"""The audit trail's hash chain on SQLite, tampered with through sqlite3 itself (not our code).

Found by fault injection: UPDATE and DELETE were refused, but `INSERT OR REPLACE` with an existing
id silently rewrote entry 1 into a forged event, and `DROP TRIGGER` then UPDATE went unnoticed.
Now REPLACE is refused too, and whatever gets past the triggers is named by `watchkeeper audit
verify`: the first entry changed, removed or forged.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from watchkeeper.audit import hash_entry
from watchkeeper.cli import main
from watchkeeper.state import StateStore, open_state

AT = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)


def _trail(path: Path, n: int = 5, **kw: str) -> tuple[str, StateStore]:
    url = f"sqlite:///{path / 'state.db'}"
    store = open_state(url, **kw)
    for i in range(n):
        store.append_audit(
            model="churn",
            event="alert_fired",
            decision="warning",
            reasons=[f"decision {i}"],
            evidence={"i": i},
            at=AT + timedelta(hours=i),
        )
    return url, store


def _sql(path: Path, *statements: str) -> None:
    conn = sqlite3.connect(path / "state.db")
    try:
        for statement in statements:
            conn.execute(statement)
        conn.commit()
    finally:
        conn.close()


def _verify(url: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["audit", "verify", "--state-url", url])
    return code, capsys.readouterr().out


def test_intact_chain_verifies(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url, store = _trail(tmp_path)
    rows = store.read_audit()
    assert [r["seq"] for r in rows] == [1, 2, 3, 4, 5]
    assert rows[1]["prev_hash"] == rows[0]["entry_hash"]
    assert _verify(url, capsys) == (0, "audit trail intact: 5 entries, hash chain verified\n")


def test_insert_or_replace_is_refused(tmp_path: Path) -> None:
    _, store = _trail(tmp_path)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        _sql(
            tmp_path,
            "INSERT OR REPLACE INTO audit_log (id, at, model, event, reasons, evidence) "
            "VALUES (1, '2026-01-01 00:00:00', 'churn', 'forged', '[]', '{}')",
        )
    assert store.read_audit()[0]["event"] == "alert_fired"
    assert store.verify_audit().ok


def test_dropped_trigger_then_update_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url, _ = _trail(tmp_path)
    _sql(
        tmp_path,
        "DROP TRIGGER audit_log_no_update",
        "UPDATE audit_log SET decision = 'ok' WHERE seq = 3",
    )
    code, out = _verify(url, capsys)
    assert code == 1
    assert out.startswith("audit trail BROKEN at entry seq=3 (id 3) changed")


def test_removed_entry_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url, store = _trail(tmp_path)
    _sql(tmp_path, "DROP TRIGGER audit_log_no_delete", "DELETE FROM audit_log WHERE seq = 2")
    problem = store.verify_audit().problem
    assert problem is not None and (problem.kind, problem.seq) == ("removed", 2)
    assert _verify(url, capsys)[0] == 1


def test_removed_tail_is_named(tmp_path: Path) -> None:
    _, store = _trail(tmp_path)
    _sql(tmp_path, "DROP TRIGGER audit_log_no_delete", "DELETE FROM audit_log WHERE seq >= 4")
    problem = store.verify_audit().problem
    assert problem is not None and (problem.kind, problem.seq) == ("removed", 4)


def test_entry_inserted_outside_the_chain_is_forged(tmp_path: Path) -> None:
    _, store = _trail(tmp_path)
    _sql(
        tmp_path,
        "INSERT INTO audit_log (at, model, event, reasons, evidence) "
        "VALUES ('2026-11-27 04:30:00', 'churn', 'model_promoted', '[]', '{}')",
    )
    problem = store.verify_audit().problem
    assert problem is not None and (problem.kind, problem.id) == ("forged", 6)


def test_rewritten_and_rehashed_entry_is_named_by_the_next_link(tmp_path: Path) -> None:
    """A forger who recomputes the entry's own SHA-256 still breaks the link of the entry after it."""
    _, store = _trail(tmp_path)
    (row,) = [r for r in _raw(tmp_path) if r["seq"] == 2]
    row["decision"] = "ok"
    forged = hash_entry(row)
    _sql(
        tmp_path,
        "DROP TRIGGER audit_log_no_update",
        f"UPDATE audit_log SET decision = 'ok', entry_hash = '{forged}' WHERE seq = 2",
    )
    problem = store.verify_audit().problem
    assert problem is not None and (problem.kind, problem.seq) == ("forged", 3)


def test_with_a_key_a_consistent_forgery_is_detected(tmp_path: Path) -> None:
    """With WATCHKEEPER_AUDIT_KEY the hashes are HMACs: an appended entry hashed without the key fails."""
    _, store = _trail(tmp_path, audit_key="k3y-for-the-chain")
    last = _raw(tmp_path)[-1]
    forged = {
        "seq": 6,
        "prev_hash": last["entry_hash"],
        "at": "2026-11-27 09:00:00",
        "model": "churn",
        "event": "model_promoted",
        "window_start": None,
        "window_end": None,
        "decision": "promote",
        "reasons": "[]",
        "evidence": "{}",
        "config_hash": None,
        "code_version": None,
    }
    digest = hash_entry({**forged, "at": datetime(2026, 11, 27, 9, tzinfo=UTC)})
    _sql(
        tmp_path,
        "INSERT INTO audit_log (seq, prev_hash, entry_hash, at, model, event, decision, reasons, evidence) "
        f"VALUES (6, '{last['entry_hash']}', '{digest}', '2026-11-27 09:00:00.000000', 'churn', "
        "'model_promoted', 'promote', '[]', '{}')",
        f"UPDATE audit_head SET seq = 6, entry_hash = '{digest}'",
    )
    problem = store.verify_audit().problem
    assert problem is not None and (problem.kind, problem.seq) == ("changed", 6)
    assert [r["seq"] for r in store.read_audit()] == [1, 2, 3, 4, 5, 6]  # the entries 1–5 verify


def test_head_cannot_move_back(tmp_path: Path) -> None:
    _trail(tmp_path)
    with pytest.raises(sqlite3.DatabaseError, match="forward"):
        _sql(tmp_path, "UPDATE audit_head SET seq = 2")


def _raw(path: Path) -> list[dict]:
    conn = sqlite3.connect(path / "state.db")
    conn.row_factory = sqlite3.Row
    try:
        rows = [dict(r) for r in conn.execute("SELECT * FROM audit_log ORDER BY seq")]
    finally:
        conn.close()
    for row in rows:
        for key in ("at", "window_start", "window_end"):
            if row[key] is not None:
                row[key] = datetime.fromisoformat(row[key]).replace(tzinfo=UTC)
    assert json.loads(rows[0]["evidence"]) == {"i": 0}
    return rows
