"""The tamper-evident audit trail: a hash chain over `audit_log`, its protection and its verification.

Each entry carries its position (`seq`), the hash of the entry before it (`prev_hash`) and its own
hash (`entry_hash`, SHA-256 over a canonical JSON of its fields and `prev_hash`; an HMAC when
`WATCHKEEPER_AUDIT_KEY` is set, so that nobody without the key can forge a consistent chain).
`audit_head` keeps the chain's last position and hash: appenders take it with a write first, so
concurrent writers queue on it (SQLite's write lock, PostgreSQL's row lock) and the chain never
forks, and a removed tail shows as a head pointing past the last entry.

The database refuses changes too: on SQLite, triggers refuse UPDATE, DELETE and an INSERT that
would replace an existing entry (`INSERT OR REPLACE` deletes the old row without firing DELETE
triggers); on PostgreSQL, row and TRUNCATE triggers refuse the same (`ON CONFLICT DO UPDATE` fires
the UPDATE trigger). Whoever can drop triggers can still rewrite rows — `verify_chain`
(`watchkeeper audit verify`) names the first entry that was changed, removed or forged. On
PostgreSQL, own the tables by a role the monitoring runs do not use (`grant_writer`), so the
writer cannot drop the triggers at all.

The triggers are created with a new chain only (`ensure_head` says when): opening a database never
re-creates dropped ones, which would erase the evidence. `missing_triggers` names them for
`audit verify`; `audit repair` re-creates them (`protect(force=True)`) and audits that.

A chain cannot tell on its own that its last entries were removed together with the head moved back
(or that it was emptied): each run checkpoints the head outside the database (`Checkpoint`: MLflow
tags, the JSON log, a file or URL — `watchkeeper.anchor`), HMAC'd with the key when one is set, and
`compare_with_checkpoint` reports a trail shorter than its latest checkpoint, or rewritten since.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from watchkeeper.timeutil import as_utc

AUDIT_KEY_ENV = "WATCHKEEPER_AUDIT_KEY"
GENESIS = "0" * 64

# The fields an entry's hash covers, in this order (the id is the database's, not the chain's).
HASHED_FIELDS = (
    "seq",
    "prev_hash",
    "at",
    "model",
    "event",
    "window_start",
    "window_end",
    "decision",
    "reasons",
    "evidence",
    "config_hash",
    "code_version",
)

ProblemKind = Literal["changed", "removed", "forged", "shortened", "emptied", "rewritten"]


def _canonical(value: Any) -> Any:
    if isinstance(value, datetime):
        return as_utc(value).isoformat()
    return value


def hash_entry(entry: Mapping[str, Any], key: bytes | None = None) -> str:
    """The entry's hash over `HASHED_FIELDS` (`reasons`/`evidence` as the JSON text stored)."""
    text = json.dumps([_canonical(entry.get(f)) for f in HASHED_FIELDS], separators=(",", ":"))
    if key:
        return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()
    return hashlib.sha256(text.encode()).hexdigest()


def chain_rows(
    conn: Connection,
    head: sa.Table,
    audit_log: sa.Table,
    rows: Sequence[Mapping[str, Any]],
    key: bytes | None,
) -> None:
    """Insert `rows` (already encoded) at the end of the chain, inside the caller's transaction."""
    if not rows:
        return
    # A write first: it takes the database's lock on the head before anything is read, so concurrent
    # appenders see each other's entries instead of forking the chain.
    conn.execute(head.update().where(head.c.id == 1).values(seq=head.c.seq))
    current = conn.execute(sa.select(head.c.seq, head.c.entry_hash).where(head.c.id == 1)).one()
    seq, prev = int(current.seq), str(current.entry_hash)
    values = []
    for row in rows:
        seq += 1
        # UTC before writing: SQLite drops the offset, and the hash must match what is read back.
        entry: dict[str, Any] = {k: as_utc(v) if isinstance(v, datetime) else v for k, v in row.items()}
        entry.update(seq=seq, prev_hash=prev)
        prev = entry["entry_hash"] = hash_entry(entry, key)
        values.append(entry)
    conn.execute(audit_log.insert(), values)
    conn.execute(head.update().where(head.c.id == 1).values(seq=seq, entry_hash=prev))


def ensure_head(engine: Engine, head: sa.Table) -> bool:
    """Create the chain's head row once (two processes creating it at once: one insert wins).

    True when this call created it: a new chain, to be protected from its first entry.
    """
    with engine.begin() as conn:
        if conn.execute(sa.select(head.c.id).where(head.c.id == 1)).first() is not None:
            return False
    try:
        with engine.begin() as conn:
            conn.execute(head.insert().values(id=1, seq=0, entry_hash=GENESIS))
    except sa.exc.IntegrityError:
        return False
    return True


_SQLITE_TRIGGERS = (
    "CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
    # INSERT OR REPLACE deletes the conflicting row without firing DELETE triggers: refuse the insert.
    "CREATE TRIGGER IF NOT EXISTS audit_log_no_replace BEFORE INSERT ON audit_log "
    "WHEN EXISTS (SELECT 1 FROM audit_log WHERE id = NEW.id OR seq = NEW.seq) "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: an entry with this id or seq exists'); END",
    "CREATE TRIGGER IF NOT EXISTS audit_head_forward_only BEFORE UPDATE ON audit_head "
    "WHEN NEW.seq < OLD.seq OR NEW.id != OLD.id "
    "BEGIN SELECT RAISE(ABORT, 'audit_head only moves forward'); END",
    "CREATE TRIGGER IF NOT EXISTS audit_head_no_delete BEFORE DELETE ON audit_head "
    "BEGIN SELECT RAISE(ABORT, 'audit_head cannot be deleted'); END",
)

_PG_STATEMENTS = (
    "CREATE OR REPLACE FUNCTION watchkeeper_audit_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN RAISE EXCEPTION USING MESSAGE = 'audit_log is append-only (' || TG_OP || ' refused)'; END $$",
    "CREATE OR REPLACE FUNCTION watchkeeper_audit_head_forward() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN IF TG_OP = 'DELETE' OR NEW.seq < OLD.seq OR NEW.id <> OLD.id THEN "
    "RAISE EXCEPTION USING MESSAGE = 'audit_head only moves forward (' || TG_OP || ' refused)'; "
    "END IF; RETURN NEW; END $$",
    "CREATE OR REPLACE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
    "FOR EACH ROW EXECUTE FUNCTION watchkeeper_audit_refuse()",
    "CREATE OR REPLACE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
    "FOR EACH STATEMENT EXECUTE FUNCTION watchkeeper_audit_refuse()",
    "CREATE OR REPLACE TRIGGER audit_head_forward_only BEFORE UPDATE OR DELETE ON audit_head "
    "FOR EACH ROW EXECUTE FUNCTION watchkeeper_audit_head_forward()",
    "CREATE OR REPLACE TRIGGER audit_head_no_truncate BEFORE TRUNCATE ON audit_head "
    "FOR EACH STATEMENT EXECUTE FUNCTION watchkeeper_audit_refuse()",
)

# The triggers each dialect protects the trail with (`protect` creates them, `missing_triggers` checks).
TRIGGERS = {
    "sqlite": (
        "audit_log_no_update",
        "audit_log_no_delete",
        "audit_log_no_replace",
        "audit_head_forward_only",
        "audit_head_no_delete",
    ),
    "postgresql": (
        "audit_log_append_only",
        "audit_log_no_truncate",
        "audit_head_forward_only",
        "audit_head_no_truncate",
    ),
}

# Any constant: serializes concurrent schema set-ups on one PostgreSQL database.
_PG_LOCK_ID = 7_715_017


def missing_triggers(engine: Engine) -> list[str]:
    """The protecting triggers absent from the database (none expected on other dialects)."""
    dialect = engine.dialect.name
    expected = TRIGGERS.get(dialect, ())
    if not expected:
        return []
    with engine.begin() as conn:
        if dialect == "sqlite":
            present = {
                r[0] for r in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'trigger'")
            }
        else:
            present = {
                r[0]
                for r in conn.exec_driver_sql(
                    "SELECT t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                    "WHERE NOT t.tgisinternal AND c.relname IN ('audit_log', 'audit_head') "
                    "AND pg_table_is_visible(c.oid)"
                )
            }
    return [name for name in expected if name not in present]


def protect(engine: Engine, *, force: bool = False) -> None:
    """Create the triggers that make the audit trail append-only in the database itself.

    On PostgreSQL, triggers already installed are left alone unless `force` (`audit repair`).
    """
    dialect = engine.dialect.name
    if dialect == "sqlite":
        with engine.begin() as conn:
            for statement in _SQLITE_TRIGGERS:
                conn.exec_driver_sql(statement)
    elif dialect == "postgresql":
        with engine.begin() as conn:
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_LOCK_ID})")
            installed = conn.exec_driver_sql(
                "SELECT count(*) FROM pg_trigger WHERE tgname IN "
                "('audit_log_append_only', 'audit_log_no_truncate', 'audit_head_forward_only', "
                "'audit_head_no_truncate')"
            ).scalar_one()
            if installed == 4 and not force:
                return  # a writer without ownership (grant_writer) cannot replace them, nor needs to
            for statement in _PG_STATEMENTS:
                conn.exec_driver_sql(statement)


def grant_writer(engine: Engine, role: str) -> None:
    """PostgreSQL: let `role` (the monitoring runs' login) use the state database without owning it.

    Run as the owner (a separate role). The writer may append to the audit trail and move its head,
    and use the other tables freely; it cannot drop the triggers, update or delete entries.
    """
    if engine.dialect.name != "postgresql":
        raise ValueError("grant_writer is for PostgreSQL")
    quoted = engine.dialect.identifier_preparer.quote(role)
    with engine.begin() as conn:
        tables = [
            r[0]
            for r in conn.exec_driver_sql(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
            ).all()
        ]
        for table in tables:
            name = engine.dialect.identifier_preparer.quote(table)
            if table == "audit_log":
                conn.exec_driver_sql(f"GRANT SELECT, INSERT ON {name} TO {quoted}")
            elif table == "audit_head":
                conn.exec_driver_sql(f"GRANT SELECT, UPDATE ON {name} TO {quoted}")
            else:
                conn.exec_driver_sql(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {name} TO {quoted}")
        schema = engine.dialect.identifier_preparer.quote(
            str(conn.exec_driver_sql("SELECT current_schema()").scalar_one())
        )
        conn.exec_driver_sql(f"GRANT USAGE ON SCHEMA {schema} TO {quoted}")
        conn.exec_driver_sql(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {quoted}")


@dataclass(frozen=True)
class ChainProblem:
    kind: ProblemKind
    seq: int | None
    id: int | None
    detail: str

    def describe(self) -> str:
        if self.kind in ("shortened", "emptied"):
            return f"the trail's end ({self.kind}): {self.detail}"
        where = f"entry seq={self.seq}" if self.seq is not None else "an entry"
        if self.id is not None:
            where += f" (id {self.id})"
        return f"{where} {self.kind}: {self.detail}"


@dataclass(frozen=True)
class AuditVerificationReport:
    """The result of walking the chain: how many entries, and the first problem found."""

    entries: int
    problem: ChainProblem | None

    @property
    def ok(self) -> bool:
        return self.problem is None

    def to_text(self) -> str:
        if self.problem is None:
            return f"audit trail intact: {self.entries} entries, hash chain verified"
        return f"audit trail BROKEN at {self.problem.describe()}"


def verify_chain(
    entries: Sequence[Mapping[str, Any]], head: Mapping[str, Any] | None, key: bytes | None = None
) -> AuditVerificationReport:
    """Walk the entries (raw rows, any order) against the chain; the first problem found."""
    unchained = [e for e in entries if e.get("seq") is None or e.get("entry_hash") is None]
    if unchained:
        first = min(unchained, key=lambda e: e["id"])
        return AuditVerificationReport(
            len(entries),
            ChainProblem(
                "forged",
                None,
                first["id"],
                "not part of the hash chain (forged, or written before the chain existed)",
            ),
        )
    ordered = sorted(entries, key=lambda e: (e["seq"], e["id"]))
    prev_hash, expected = GENESIS, 1
    for entry in ordered:
        seq, row_id = int(entry["seq"]), entry["id"]
        if seq < expected:
            return AuditVerificationReport(
                len(entries), ChainProblem("forged", seq, row_id, f"a second entry at position {seq}")
            )
        if seq > expected:
            missing = f"{expected}" if seq == expected + 1 else f"{expected}–{seq - 1}"
            return AuditVerificationReport(
                len(entries),
                ChainProblem("removed", expected, None, f"entries at position {missing} are missing"),
            )
        if hash_entry(entry, key) != entry["entry_hash"]:
            return AuditVerificationReport(
                len(entries), ChainProblem("changed", seq, row_id, "its content does not match its hash")
            )
        if entry["prev_hash"] != prev_hash:
            return AuditVerificationReport(
                len(entries),
                ChainProblem(
                    "forged",
                    seq,
                    row_id,
                    "does not chain to the entry before it (forged, or the one before was rewritten and re-hashed)",
                ),
            )
        prev_hash, expected = entry["entry_hash"], seq + 1
    last = expected - 1
    if head is not None:
        if int(head["seq"]) > last:
            return AuditVerificationReport(
                len(entries),
                ChainProblem(
                    "removed",
                    last + 1,
                    None,
                    f"the chain ends at {head['seq']}; entries after {last} are missing",
                ),
            )
        if int(head["seq"]) < last or head["entry_hash"] != prev_hash:
            return AuditVerificationReport(
                len(entries),
                ChainProblem("forged", last, None, "the last entries do not match the chain's head"),
            )
    return AuditVerificationReport(len(entries), None)


@dataclass(frozen=True)
class Checkpoint:
    """The chain's head at one moment, kept outside the database it describes.

    `state_id` names the state database (`watchkeeper.anchor`), `windows` the evaluated windows of
    `model` then. `mac` is an HMAC-SHA256 over the other fields with the audit key (None without
    one): without the key nobody can write a checkpoint that verifies.
    """

    state_id: str
    seq: int
    entry_hash: str
    at: str
    model: str | None = None
    windows: int | None = None
    mac: str | None = None

    def _text(self) -> str:
        fields = [self.state_id, self.seq, self.entry_hash, self.at, self.model, self.windows]
        return json.dumps(fields, separators=(",", ":"))

    def signed(self, key: bytes | None) -> Checkpoint:
        mac = hmac.new(key, self._text().encode(), hashlib.sha256).hexdigest() if key else None
        return Checkpoint(**{**self.to_dict(), "mac": mac})

    def mac_ok(self, key: bytes | None) -> bool | None:
        """True/False: the MAC matches the key or not; None: nothing to check (no key or no MAC)."""
        if not key or self.mac is None:
            return None
        expected = hmac.new(key, self._text().encode(), hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, self.mac)

    def to_dict(self) -> dict[str, Any]:
        return {
            "state_id": self.state_id,
            "seq": self.seq,
            "entry_hash": self.entry_hash,
            "at": self.at,
            "model": self.model,
            "windows": self.windows,
            "mac": self.mac,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Checkpoint:
        """Raises ValueError (KeyError, TypeError included) on anything that is not a checkpoint."""
        windows = data.get("windows")
        return cls(
            state_id=str(data["state_id"]),
            seq=int(data["seq"]),
            entry_hash=str(data["entry_hash"]),
            at=str(data["at"]),
            model=None if data.get("model") is None else str(data["model"]),
            windows=None if windows is None else int(windows),
            mac=None if data.get("mac") is None else str(data["mac"]),
        )

    def describe(self) -> str:
        return f"seq {self.seq} at {self.at}"


def compare_with_checkpoint(
    *, head_seq: int, entries: int, hash_at_seq: str | None, checkpoint: Checkpoint
) -> ChainProblem | None:
    """What a trail whose head is at `head_seq` (holding `entries`) lacks against `checkpoint`.

    `hash_at_seq` is the hash of the trail's entry at the checkpoint's position (None: absent).
    """
    if head_seq < checkpoint.seq:
        if entries == 0:
            return ChainProblem(
                "emptied",
                None,
                None,
                f"the trail holds no entries, but a checkpoint ({checkpoint.describe()}) recorded "
                f"{checkpoint.seq}: it was emptied",
            )
        return ChainProblem(
            "shortened",
            head_seq + 1,
            None,
            f"the trail ends at seq {head_seq}, but a checkpoint ({checkpoint.describe()}) recorded "
            f"seq {checkpoint.seq}: entries {head_seq + 1}–{checkpoint.seq} were removed and the "
            "head moved back",
        )
    if hash_at_seq != checkpoint.entry_hash:
        return ChainProblem(
            "rewritten",
            checkpoint.seq,
            None,
            f"its hash differs from the checkpoint's ({checkpoint.describe()}): the trail was "
            "rewritten up to here since",
        )
    return None
