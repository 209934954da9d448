"""The state database on a real PostgreSQL (the documented production store): audit trail, leases,
outbox and alert state. Found by fault injection: on PostgreSQL no protection of the audit trail was
created at all, and no test ran there.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from watchkeeper.alerting import AlertsConfig, evaluate_alerts
from watchkeeper.alerting.channels import MemoryChannel
from watchkeeper.alerting.config import DeliveryConfig
from watchkeeper.alerting.delivery import deliver, flush_outbox
from watchkeeper.alerting.store import delivery_statuses, list_outbox, load_states_as_of
from watchkeeper.audit import grant_writer
from watchkeeper.retraining.lease import acquire_lease, hold_lease, read_lease, release_lease
from watchkeeper.state import StateStore, open_state

from ..alerting.test_delivery_unknown import _message
from .conftest import PostgresServer

T0 = datetime(2024, 3, 1, tzinfo=UTC)
NOW = datetime(2024, 3, 20, 12, 0, tzinfo=UTC)


def _append(store: StateStore, n: int, tag: str = "") -> None:
    for i in range(n):
        store.append_audit(model="churn", event="alert_fired", decision="warning", reasons=[f"{tag}{i}"])


def test_audit_trail_is_append_only_on_postgres(pg_url: str) -> None:
    store = open_state(pg_url)
    assert store.engine.dialect.name == "postgresql"
    _append(store, 3)
    refused = [
        "UPDATE audit_log SET decision = 'ok' WHERE seq = 2",
        "DELETE FROM audit_log WHERE seq = 2",
        "TRUNCATE audit_log",
        "INSERT INTO audit_log (id, at, model, event, reasons, evidence) VALUES "
        "(1, now(), 'churn', 'forged', '[]', '{}') ON CONFLICT (id) DO UPDATE SET event = 'forged'",
        "UPDATE audit_head SET seq = 1",
        "DELETE FROM audit_head",
    ]
    for statement in refused:
        with (
            pytest.raises(sa.exc.DBAPIError, match=r"append-only|only moves forward"),
            store.engine.begin() as conn,
        ):
            conn.exec_driver_sql(statement)
    assert [r["event"] for r in store.read_audit()] == ["alert_fired"] * 3
    assert store.verify_audit().ok
    # Opening again (another run) keeps the triggers and the chain.
    again = open_state(pg_url)
    _append(again, 1)
    assert again.verify_audit().ok and again.verify_audit().entries == 4


def test_owner_dropping_the_trigger_is_still_caught_by_the_chain(pg_url: str) -> None:
    store = open_state(pg_url)
    _append(store, 4)
    with store.engine.begin() as conn:
        conn.exec_driver_sql("DROP TRIGGER audit_log_append_only ON audit_log")
        conn.exec_driver_sql("UPDATE audit_log SET reasons = '[\"nothing to see\"]' WHERE seq = 2")
        conn.exec_driver_sql("DELETE FROM audit_log WHERE seq = 4")
    problem = store.verify_audit().problem
    assert problem is not None and (problem.kind, problem.seq) == ("changed", 2)


def test_writer_role_cannot_drop_triggers_or_rewrite(postgres: PostgresServer, pg_url: str) -> None:
    owner = open_state(pg_url)  # the schema, created by the owner (a deployment step)
    with owner.engine.begin() as conn:
        conn.exec_driver_sql(
            "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'wk_writer') "
            "THEN CREATE ROLE wk_writer LOGIN; END IF; END $$"
        )
    grant_writer(owner.engine, "wk_writer")
    database = sa.engine.make_url(pg_url).database or ""
    writer = open_state(postgres.url(database, user="wk_writer"))
    _append(writer, 2, "writer ")
    from watchkeeper.alerting.store import add_silence

    add_silence(writer, "churn", {"alertname": "lat"}, NOW + timedelta(hours=1), "deploy", "ops", now=NOW)
    for statement in (
        "DROP TRIGGER audit_log_append_only ON audit_log",
        "UPDATE audit_log SET decision = 'x'",
    ):
        with (
            pytest.raises(sa.exc.DBAPIError, match=r"must be owner|permission denied|append-only"),
            writer.engine.begin() as conn,
        ):
            conn.exec_driver_sql(statement)
    assert writer.verify_audit().ok and writer.verify_audit().entries == 3


def test_concurrent_appenders_do_not_fork_the_chain(pg_url: str) -> None:
    open_state(pg_url)
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def one(tag: str) -> None:
        store = open_state(pg_url)
        barrier.wait(timeout=30)
        try:
            _append(store, 25, tag)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(f"w{i}-",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    report = open_state(pg_url).verify_audit()
    assert report.ok and report.entries == 100


def test_leases_on_postgres(pg_url: str) -> None:
    store = open_state(pg_url)
    assert acquire_lease(store, "churn", holder="a", ttl=timedelta(hours=1), now=NOW)
    assert not acquire_lease(store, "churn", holder="b", ttl=timedelta(hours=1), now=NOW)
    # expired: taken over
    assert acquire_lease(store, "churn", holder="b", ttl=timedelta(hours=1), now=NOW + timedelta(hours=2))
    assert read_lease(store, "churn").holder == "b"  # type: ignore[union-attr]
    assert not release_lease(store, "churn", holder="a")
    assert release_lease(store, "churn", holder="b")

    inside: list[int] = []
    overlap: list[bool] = []
    barrier = threading.Barrier(4)

    def one() -> None:
        barrier.wait(timeout=30)
        with hold_lease(
            store, "mlflow.window-run", "w1", ttl=timedelta(minutes=1), wait=timedelta(seconds=60)
        ):
            inside.append(1)
            overlap.append(len(inside) > 1)
            threading.Event().wait(0.05)
            inside.pop()

    threads = [threading.Thread(target=one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert overlap == [False] * 4


def test_outbox_on_postgres(pg_url: str) -> None:
    store = open_state(pg_url)
    down = MemoryChannel(fail=True)
    record = deliver(store, down, _message(), delivery=DeliveryConfig(), now=NOW)
    assert record is not None and record.status == "queued"
    assert [r["attempts"] for r in list_outbox(store)] == [1]
    up = MemoryChannel()
    (retried,) = flush_outbox(store, [up], now=NOW + timedelta(minutes=1))
    assert retried.status == "sent" and len(up.messages) == 1
    assert list_outbox(store) == [] and set(delivery_statuses(store, "churn").values()) == {"sent"}
    again = deliver(store, up, _message(), delivery=DeliveryConfig(), now=NOW)
    assert again is not None and again.status == "duplicate"

    # Threads delivering one new message at once: one send, the rest duplicates, no IntegrityError.
    fresh = MemoryChannel(name="fresh")
    barrier = threading.Barrier(4)
    results: list[str] = []

    def one() -> None:
        barrier.wait(timeout=30)
        got = deliver(store, fresh, _message(), delivery=DeliveryConfig(), now=NOW)
        results.append(got.status if got else "none")

    threads = [threading.Thread(target=one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(results) == ["duplicate"] * 3 + ["sent"] and len(fresh.messages) == 1


def test_alert_state_on_postgres(pg_url: str) -> None:
    store = open_state(pg_url)
    config = AlertsConfig.model_validate(
        {"default_rules": False, "rules": [{"name": "lat", "condition": "serving.latency_p95_ms > 250"}]}
    )
    channel = MemoryChannel()

    def run(value: float, day: int):
        return evaluate_alerts(
            {"serving.latency_p95_ms": value},
            model="churn",
            window_end=T0 + timedelta(days=day),
            config=config,
            store=store,
            channels=[channel],
            now=NOW,
        )

    assert [a.state for a in run(300.0, 1).alerts] == ["firing"]
    before, _ = load_states_as_of(store, "churn", T0 + timedelta(days=2))
    (state,) = before.values()
    assert state.state["status"] == "firing"
    assert state.window_end == T0 + timedelta(days=1)
    run(300.0, 1)  # the same window again: nothing sent twice
    assert [a.state for a in run(100.0, 2).alerts] == ["resolved"]
    assert [m.status for m in channel.messages] == ["firing", "resolved"]
    assert store.verify_audit().ok
