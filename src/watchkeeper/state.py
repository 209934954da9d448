"""Watchkeeper's own state database: audit trail, window evaluations and detector state.

Scheduled runs are stateless processes; whatever must survive between them (the audit trail, which
windows were evaluated with how many labels, sequential detector state, alert state and the
notification outbox) lives here. SQLite under the state directory by default, any SQLAlchemy URL
(PostgreSQL, MySQL) in production.

The audit trail is a hash chain, append-only in the database too (`watchkeeper.audit`:
triggers on SQLite and PostgreSQL, `verify_audit` names the first entry changed, removed or forged).

Other modules add their own tables to `metadata` (for example `watchkeeper.alerting.store`);
`open_state` imports them before creating the schema, so one call gives a ready database.
"""

from __future__ import annotations

import contextvars
import importlib
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

# Instants are stored and returned as UTC (`as_utc`): SQLite keeps wall-clock text and drops the zone,
# so 12:00+02:00 must become 10:00 before it is written, and what comes back is read as UTC.
from watchkeeper import audit
from watchkeeper.storage import guard_sqlite_engine
from watchkeeper.timeutil import as_utc, utcnow

metadata = sa.MetaData()

# Modules that declare tables on `metadata`; imported by `open_state` so the schema is complete.
_TABLE_MODULES = ("watchkeeper.alerting.store",)

STATE_DIR_ENV = "WATCHKEEPER_STATE_DIR"
STATE_DB_ENV = "WATCHKEEPER_STATE_DB_URL"

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("model", sa.String(200), nullable=False, index=True),
    sa.Column("event", sa.String(100), nullable=False),
    sa.Column("window_start", sa.DateTime(timezone=True)),
    sa.Column("window_end", sa.DateTime(timezone=True)),
    sa.Column("decision", sa.String(100)),
    sa.Column("reasons", sa.Text, nullable=False, default="[]"),
    sa.Column("evidence", sa.Text, nullable=False, default="{}"),
    sa.Column("config_hash", sa.String(64)),
    sa.Column("code_version", sa.String(64)),
    # The hash chain (`watchkeeper.audit`): position, the previous entry's hash, this entry's hash.
    sa.Column("seq", sa.Integer, unique=True),
    sa.Column("prev_hash", sa.String(64)),
    sa.Column("entry_hash", sa.String(64)),
)

# One row (id 1): the chain's last position and hash. Appenders serialize on it.
audit_head = sa.Table(
    "audit_head",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("entry_hash", sa.String(64), nullable=False),
)

window_evaluations = sa.Table(
    "window_evaluations",
    metadata,
    sa.Column("model", sa.String(200), primary_key=True),
    sa.Column("window_end", sa.DateTime(timezone=True), primary_key=True),
    sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
    sa.Column("evaluated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("n_rows", sa.Integer, nullable=False),
    sa.Column("n_labeled", sa.Integer, nullable=False),
    sa.Column("verdict", sa.String(20), nullable=False),
    sa.Column("usable_for_training", sa.Boolean, nullable=False, default=True),
    sa.Column("mlflow_run_id", sa.String(64)),
    sa.Column("summary", sa.Text, nullable=False, default="{}"),
)

kv_state = sa.Table(
    "kv_state",
    metadata,
    sa.Column("namespace", sa.String(100), primary_key=True),
    sa.Column("key", sa.String(300), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)


_AUDIT_DEFAULTS: contextvars.ContextVar[dict[str, str | None]] = contextvars.ContextVar(
    "watchkeeper_audit_defaults",
    default={},  # noqa: B039 - never mutated: replaced by audit_context
)


@contextmanager
def audit_context(*, config_hash: str | None = None, code_version: str | None = None) -> Iterator[None]:
    """Every audit entry appended inside the block records this config hash and code version."""
    token = _AUDIT_DEFAULTS.set({"config_hash": config_hash, "code_version": code_version})
    try:
        yield
    finally:
        _AUDIT_DEFAULTS.reset(token)


def with_audit_defaults(row: dict[str, Any]) -> dict[str, Any]:
    """Fill `config_hash` / `code_version` of an audit row from the enclosing `audit_context`."""
    out = dict(row)
    for key, value in _AUDIT_DEFAULTS.get().items():
        if out.get(key) is None:
            out[key] = value
    return out


def state_dir() -> Path:
    """The state directory: `$WATCHKEEPER_STATE_DIR`, else `.watchkeeper/` in the working directory."""
    return Path(os.environ.get(STATE_DIR_ENV, ".watchkeeper")).resolve()


def default_state_url() -> str:
    """`$WATCHKEEPER_STATE_DB_URL`, else a SQLite file in the state directory."""
    url = os.environ.get(STATE_DB_ENV)
    if url:
        return url
    return f"sqlite:///{state_dir() / 'state.db'}"


def _on_sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # WAL lets readers and a writer work at once; busy_timeout makes concurrent writers wait
    # instead of failing with "database is locked".
    cur.execute("PRAGMA busy_timeout=30000")  # first: switching to WAL itself may wait for a lock
    cur.execute("PRAGMA journal_mode=WAL")
    cur.close()


@dataclass
class StateStore:
    """A handle on the state database. Cheap to create; tables are created on first open."""

    engine: Engine
    # HMAC key of the audit chain ($WATCHKEEPER_AUDIT_KEY); None: plain SHA-256.
    audit_key: bytes | None = None

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    def chain_audit(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        """Append encoded audit rows to the hash chain inside the caller's transaction."""
        audit.chain_rows(conn, audit_head, audit_log, rows, self.audit_key)

    def verify_audit(self) -> audit.AuditVerificationReport:
        """Walk the audit trail's hash chain; names the first entry changed, removed or forged."""
        with self.begin() as conn:
            entries = [dict(r) for r in conn.execute(sa.select(audit_log)).mappings().all()]
            head = conn.execute(sa.select(audit_head).where(audit_head.c.id == 1)).mappings().first()
        return audit.verify_chain(entries, None if head is None else dict(head), self.audit_key)

    # Audit trail (append-only: there is deliberately no update or delete here)
    def append_audit(
        self,
        *,
        model: str,
        event: str,
        decision: str | None = None,
        reasons: list[str] | None = None,
        evidence: dict[str, Any] | None = None,
        window_start: datetime | None = None,
        window_end: datetime | None = None,
        config_hash: str | None = None,
        code_version: str | None = None,
        at: datetime | None = None,
    ) -> None:
        defaults = with_audit_defaults({"config_hash": config_hash, "code_version": code_version})
        config_hash, code_version = defaults["config_hash"], defaults["code_version"]
        row = {
            "at": as_utc(at) or utcnow(),
            "model": model,
            "event": event,
            "decision": decision,
            "reasons": json.dumps(reasons or []),
            "evidence": json.dumps(evidence or {}, default=str),
            "window_start": as_utc(window_start),
            "window_end": as_utc(window_end),
            "config_hash": config_hash,
            "code_version": code_version,
        }
        with self.begin() as conn:
            self.chain_audit(conn, [row])

    def read_audit(self, *, model: str | None = None, since: datetime | None = None) -> list[dict[str, Any]]:
        query = sa.select(audit_log).order_by(audit_log.c.at, audit_log.c.id)
        if model is not None:
            query = query.where(audit_log.c.model == model)
        if since is not None:
            query = query.where(audit_log.c.at >= as_utc(since))
        with self.begin() as conn:
            rows = conn.execute(query).mappings().all()
        out = []
        for row in rows:
            item = dict(row)
            item["reasons"] = json.loads(item["reasons"] or "[]")
            item["evidence"] = json.loads(item["evidence"] or "{}")
            for key in ("at", "window_start", "window_end"):
                item[key] = as_utc(item[key])
            out.append(item)
        return out

    def record_window(
        self,
        *,
        model: str,
        window_start: datetime,
        window_end: datetime,
        n_rows: int,
        n_labeled: int,
        verdict: str,
        usable_for_training: bool,
        mlflow_run_id: str | None,
        summary: dict[str, Any] | None = None,
    ) -> None:
        window_start = as_utc(window_start) or window_start
        window_end = as_utc(window_end) or window_end
        values = {
            "window_start": window_start,
            "evaluated_at": utcnow(),
            "n_rows": n_rows,
            "n_labeled": n_labeled,
            "verdict": verdict,
            "usable_for_training": usable_for_training,
            "mlflow_run_id": mlflow_run_id,
            "summary": json.dumps(summary or {}, default=str),
        }
        key = (window_evaluations.c.model == model) & (window_evaluations.c.window_end == window_end)
        with self.begin() as conn:
            # A re-evaluation while MLflow is down keeps the run id an earlier evaluation recorded.
            update = {k: v for k, v in values.items() if k != "mlflow_run_id" or v is not None}
            updated = conn.execute(window_evaluations.update().where(key).values(**update))
            if updated.rowcount == 0:
                conn.execute(window_evaluations.insert().values(model=model, window_end=window_end, **values))

    def set_mlflow_run_id(self, *, model: str, window_end: datetime, run_id: str) -> bool:
        """Record the MLflow run of an evaluated window (logged later, from the spool)."""
        key = (window_evaluations.c.model == model) & (window_evaluations.c.window_end == as_utc(window_end))
        with self.begin() as conn:
            updated = conn.execute(window_evaluations.update().where(key).values(mlflow_run_id=run_id))
        return bool(updated.rowcount)

    def list_windows(self, model: str) -> list[dict[str, Any]]:
        query = (
            sa.select(window_evaluations)
            .where(window_evaluations.c.model == model)
            .order_by(window_evaluations.c.window_end)
        )
        with self.begin() as conn:
            rows = conn.execute(query).mappings().all()
        out = []
        for row in rows:
            item = dict(row)
            item["summary"] = json.loads(item["summary"] or "{}")
            for key in ("window_start", "window_end", "evaluated_at"):
                item[key] = as_utc(item[key])
            out.append(item)
        return out

    def get_json(self, namespace: str, key: str) -> Any | None:
        query = sa.select(kv_state.c.value).where(
            (kv_state.c.namespace == namespace) & (kv_state.c.key == key)
        )
        with self.begin() as conn:
            value = conn.execute(query).scalar_one_or_none()
        return None if value is None else json.loads(value)

    def put_json(self, namespace: str, key: str, value: Any) -> None:
        text = json.dumps(value, default=str)
        where = (kv_state.c.namespace == namespace) & (kv_state.c.key == key)
        with self.begin() as conn:
            updated = conn.execute(kv_state.update().where(where).values(value=text, updated_at=utcnow()))
            if updated.rowcount == 0:
                conn.execute(
                    kv_state.insert().values(namespace=namespace, key=key, value=text, updated_at=utcnow())
                )


def _add_missing_columns(engine: Engine) -> None:
    """Columns added since a database was created (`create_all` only creates missing tables).

    Added nullable (or with their server default), without constraints: enough for older state
    databases to keep working. Their audit entries written before the hash chain stay outside it,
    and `verify_audit` says so.
    """
    inspector = sa.inspect(engine)
    existing_tables = set(inspector.get_table_names())
    for table in metadata.sorted_tables:
        if table.name not in existing_tables:
            continue
        present = {c["name"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in present:
                continue
            kind = column.type.compile(dialect=engine.dialect)
            default = f" DEFAULT {column.server_default.arg}" if column.server_default is not None else ""  # type: ignore[attr-defined]
            try:
                with engine.begin() as conn:
                    conn.exec_driver_sql(f"ALTER TABLE {table.name} ADD COLUMN {column.name} {kind}{default}")
            except (sa.exc.OperationalError, sa.exc.ProgrammingError):
                pass  # a concurrent opener added it first


def open_state(url: str | None = None, *, audit_key: str | None = None) -> StateStore:
    """Open (and create if needed) the state database at `url` (default: `default_state_url()`).

    `audit_key` (default `$WATCHKEEPER_AUDIT_KEY`) makes the audit chain's hashes HMACs.
    """
    url = url or default_state_url()
    parsed = sa.engine.make_url(url)
    kwargs: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database in ("", ":memory:") or database.startswith("file:"):
            # One in-memory database shared by every thread of the process (not one per connection).
            kwargs = {"poolclass": sa.pool.StaticPool, "connect_args": {"check_same_thread": False}}
        else:
            Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _on_sqlite_connect)
    guard_sqlite_engine(engine, what="the state database")  # quick_check; errors name the file
    for name in _TABLE_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
    for attempt in range(3):
        try:
            metadata.create_all(engine)
            break
        except sa.exc.OperationalError:
            # Two processes creating a fresh database at once: the loser sees "table already
            # exists". The schema is there now; another pass checks it and creates what is missing.
            if attempt == 2:
                raise
            time.sleep(0.1 * (attempt + 1))
    _add_missing_columns(engine)
    # The audit trail is append-only in the database too, not only in this code. Protected with a
    # new chain only: opening never re-creates dropped triggers (`audit verify` names them).
    if audit.ensure_head(engine, audit_head):
        audit.protect(engine)
    key = audit_key if audit_key is not None else os.environ.get(audit.AUDIT_KEY_ENV)
    return StateStore(engine, key.encode() if key else None)


class StateMissingError(FileNotFoundError):
    """The state database to read does not exist (or holds no Watchkeeper state); nothing was created."""


def describe_state_url(url: str) -> str:
    """The state database as a person finds it: the SQLite file's path, else the URL without password."""
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        return str(Path(parsed.database).resolve())
    return parsed.render_as_string(hide_password=True)


def open_existing_state(url: str | None = None, *, audit_key: str | None = None) -> StateStore:
    """Open a state database that must exist already, creating and changing nothing (for reading and
    verifying it: `audit verify`). Raises `StateMissingError` naming the file or URL otherwise."""
    url = url or default_state_url()
    parsed = sa.engine.make_url(url)
    where = describe_state_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database in ("", ":memory:") or database.startswith("file:"):
            raise StateMissingError(
                f"{url}: an in-memory state database cannot be opened from another process"
            )
        if not Path(database).is_file():
            raise StateMissingError(
                f"state database {where} does not exist (nothing was created): check --state-url, "
                f"${STATE_DB_ENV} or ${STATE_DIR_ENV}, or restore the file from a backup"
            )
    engine = sa.create_engine(url)
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _on_sqlite_connect)
    guard_sqlite_engine(engine, what="the state database")  # a damaged file: named, with the remedy
    try:
        tables = set(sa.inspect(engine).get_table_names())
    except sa.exc.SQLAlchemyError as exc:
        engine.dispose()
        raise StateMissingError(
            f"state database {where} cannot be read ({type(exc).__name__}: {exc.orig if hasattr(exc, 'orig') else exc})"
        ) from None
    if not {audit_log.name, audit_head.name} <= tables:
        engine.dispose()
        raise StateMissingError(
            f"state database {where} holds no audit trail (no {audit_log.name}/{audit_head.name} tables): "
            "not a Watchkeeper state database, or an empty one; nothing was created"
        )
    key = audit_key if audit_key is not None else os.environ.get(audit.AUDIT_KEY_ENV)
    return StateStore(engine, key.encode() if key else None)
