"""Posts whose answer never came: a real receiver on 127.0.0.1 that records the post, then answers late.

The fault this guards against: Slack recorded a FIRING post but answered after the client's 10 s
timeout, and the same message was posted 5 times (4 retries in the run, 1 more from the outbox).
Now a timed-out post is "unknown": no blind retry in the run; an incoming webhook is posted once more
with a "may be a repeat" note and then given up; a Slack bot finds its own message by the idempotency
key in the message metadata; PagerDuty is re-posted (it deduplicates on `dedup_key`). A unique-key
conflict in the ledger (a concurrent run queued the same notification) is "duplicate", never an error.
"""

from __future__ import annotations

import json
import threading
from typing import Any
from urllib.parse import parse_qs

import sqlalchemy as sa

from watchkeeper.alerting import store as db
from watchkeeper.alerting.channels import METADATA_EVENT_TYPE, REPEAT_NOTE, MemoryChannel, build_channels
from watchkeeper.alerting.config import DeliveryConfig
from watchkeeper.alerting.delivery import deliver
from watchkeeper.alerting.messages import AlertEvent, AlertMessage
from watchkeeper.alerting.store import delivery_statuses, list_outbox
from watchkeeper.state import StateStore

from .conftest import NOW, Answer, RecordingServer, Request, day
from .test_delivery import HOT, LAT, Harness, slack, statuses

SLOW = 1.6  # seconds before the receiver answers; the client gives up after 1 s
ERR = {"name": "errors", "condition": "serving.error_rate > 0.05", "severity": "critical"}


def _timeout_1s(**kw: Any) -> dict[str, Any]:
    return {"delivery": {"timeout_s": 1, **kw}}


def test_slow_slack_webhook_is_posted_at_most_twice(server: RecordingServer, store: StateStore) -> None:
    h = slack(server, store, **_timeout_1s())
    server.always(Answer(200, "ok", delay_s=SLOW))
    first = h.run(HOT, 1)
    assert statuses(first) == [("unknown", False)]
    assert len(server.requests) == 1  # no blind retry within the run
    assert h.waits == []
    assert [r["attempts"] for r in list_outbox(store, "churn")] == [1]

    # next run: still slow — posted once more, with the note, then given up
    second = h.run(HOT, 2)
    assert [n.status for n in second.notifications if n.from_outbox] == ["unknown"]
    assert "given up" in (second.notifications[0].error or "")
    assert len(server.requests) == 2  # the repeat (day 2 still fires: nothing new to announce)
    repeat = server.requests[1].body
    assert REPEAT_NOTE in repeat["text"]
    assert repeat["blocks"][-1]["type"] == "context"
    assert server.requests[0].body["blocks"] == repeat["blocks"][:-1]
    assert list(delivery_statuses(store, "churn").values()).count("unknown") == 1

    # a third run, the receiver fast again, never posts day 1's message a third time
    server.always(None)
    third = h.run(HOT, 3)
    assert third.notifications == () and len(server.requests) == 2
    assert list_outbox(store) == []


def test_slow_slack_webhook_repeat_goes_out_once_when_fast_again(
    server: RecordingServer, store: StateStore
) -> None:
    h = slack(server, store, **_timeout_1s())
    server.script(Answer(200, "ok", delay_s=SLOW))
    assert statuses(h.run(HOT, 1)) == [("unknown", False)]
    second = h.run(HOT, 2)
    assert statuses(second) == [("sent", True)]
    assert len(server.requests) == 2
    assert REPEAT_NOTE in server.requests[1].body["text"]
    assert REPEAT_NOTE not in server.requests[0].body["text"]
    assert list_outbox(store) == []
    assert set(delivery_statuses(store, "churn").values()) == {"sent"}


class SlackWebApi:
    """A Slack Web API on the recording server: keeps posted messages, serves conversations.history."""

    def __init__(self, server: RecordingServer, *, slow_posts: int = 0, drop_slow: bool = False) -> None:
        self.messages: list[dict[str, Any]] = []
        self.posts = 0
        self.history_calls = 0
        self.slow_posts = slow_posts
        self.drop_slow = drop_slow
        self._lock = threading.Lock()
        server.responder = self.answer

    def answer(self, req: Request) -> Answer:
        ok = {"Content-Type": "application/json"}
        if req.path.endswith("chat.postMessage"):
            body = req.body if isinstance(req.body, dict) else json.loads(req.body)
            with self._lock:
                self.posts += 1
                slow = self.posts <= self.slow_posts
                if not (slow and self.drop_slow):
                    self.messages.append(
                        {"type": "message", "text": body["text"], "ts": f"{self.posts}.0", **_meta(body)}
                    )
            return Answer(200, json.dumps({"ok": True, "ts": f"{self.posts}.0"}), ok, SLOW if slow else 0)
        if req.path.endswith("conversations.history"):
            with self._lock:
                self.history_calls += 1
                form = parse_qs(req.body) if isinstance(req.body, str) else req.body
                assert form["include_all_metadata"] in (["1"], ["true"], True, 1)
                payload = {"ok": True, "messages": list(reversed(self.messages))}
            return Answer(200, json.dumps(payload), ok)
        return Answer(404, '{"ok": false, "error": "unknown_method"}', ok)


def _meta(body: dict[str, Any]) -> dict[str, Any]:
    meta = body.get("metadata")
    if isinstance(meta, str):
        meta = json.loads(meta)
    return {"metadata": meta} if meta else {}


def _bot(server: RecordingServer, store: StateStore) -> Harness:
    return Harness(
        store,
        [{"type": "slack", "token_env": "T", "channel": "C0ALERTS", "base_url": f"{server.url}/api/"}],
        {"T": "xoxb-test-token"},
        **_timeout_1s(),
    )


def test_slack_bot_finds_its_own_message_and_does_not_repost(
    server: RecordingServer, store: StateStore
) -> None:
    api = SlackWebApi(server, slow_posts=1)
    h = _bot(server, store)
    assert statuses(h.run(HOT, 1)) == [("unknown", False)]
    assert api.posts == 1
    key = api.messages[0]["metadata"]["event_payload"]["key"]
    assert api.messages[0]["metadata"]["event_type"] == METADATA_EVENT_TYPE

    second = h.run(HOT, 2)
    assert statuses(second) == [("sent", True)]
    assert api.history_calls == 1
    assert api.posts == 1  # found by its key, not re-posted
    assert len(key) == 32
    assert list_outbox(store) == []
    assert set(delivery_statuses(store, "churn").values()) == {"sent"}


def test_slack_bot_reposts_when_its_message_is_not_there(server: RecordingServer, store: StateStore) -> None:
    api = SlackWebApi(server, slow_posts=1, drop_slow=True)  # the slow post never made it
    h = _bot(server, store)
    assert statuses(h.run(HOT, 1)) == [("unknown", False)]
    second = h.run(HOT, 2)
    assert statuses(second) == [("sent", True)]
    assert api.posts == 2 and len(api.messages) == 1
    # it knows the first post is not there: no "may be a repeat" note
    assert all(REPEAT_NOTE not in m["text"] for m in api.messages)


def test_pagerduty_timeout_is_retried_with_the_same_dedup_key(
    server: RecordingServer, store: StateStore
) -> None:
    h = Harness(
        store,
        [{"type": "webhook", "name": "pd", "format": "pagerduty", "url_env": "U", "routing_key_env": "K"}],
        {"U": f"{server.url}/v2/enqueue", "K": "R0UT1NGKEY"},
        rules=[LAT],
        **_timeout_1s(),
    )
    server.script(Answer(202, '{"status": "success"}', delay_s=SLOW))
    report = h.run(HOT, 1)
    assert statuses(report) == [("sent", False)]
    assert len(server.requests) == 2 and len(h.waits) == 1
    assert server.requests[0].body == server.requests[1].body  # PagerDuty drops the copy by dedup_key


def _message() -> AlertMessage:
    event = AlertEvent(
        fingerprint="f" * 16,
        rule="lat",
        status="firing",
        severity="warning",
        labels={"alertname": "lat"},
        summary="p95 300 ms",
        condition="serving.latency_p95_ms > 250",
        metric="serving.latency_p95_ms",
        value=300.0,
        op=">",
        threshold=250.0,
        window_end=day(1),
    )
    return AlertMessage(model="churn", window_end=day(1), events=(event,))


def test_unique_key_conflict_is_a_duplicate_not_an_error(store: StateStore) -> None:
    """A concurrent run writes the ledger key between our check and our insert (a real second
    connection, at that exact moment): the insert's unique-key conflict means "already delivered"."""
    message = _message()
    key = message.events[0].key("memory")
    selects: list[str] = []
    fired = []

    def other_run_inserts(conn, cursor, statement, parameters, context, executemany):
        if fired or "FROM alert_deliveries" not in statement or not statement.lstrip().startswith("SELECT"):
            return
        selects.append(statement)
        if len(selects) < 2:  # fresh_keys' check; the key lands after enqueue's own check
            return
        fired.append(True)
        with store.engine.connect() as other:
            other.execute(
                db.alert_deliveries.insert().values(
                    key=key,
                    model="churn",
                    channel="memory",
                    fingerprint="f" * 16,
                    state="firing",
                    window_end=day(1),
                    status="sent",
                    created_at=NOW,
                )
            )
            other.commit()

    channel = MemoryChannel()
    sa.event.listen(store.engine, "after_cursor_execute", other_run_inserts)
    try:
        record = deliver(store, channel, message, delivery=DeliveryConfig(), now=NOW)
    finally:
        sa.event.remove(store.engine, "after_cursor_execute", other_run_inserts)
    assert fired
    assert record is not None and record.status == "duplicate"
    assert channel.messages == []
    assert list_outbox(store) == []


def test_many_threads_delivering_one_message_send_it_once(server: RecordingServer, store: StateStore) -> None:
    h = slack(server, store)
    message = _message()
    (channel,) = build_channels(h.config.channels, delivery=h.config.delivery, env=h.env)
    barrier = threading.Barrier(4)
    results: list[str] = []
    errors: list[BaseException] = []

    def one() -> None:
        barrier.wait(timeout=10)
        try:
            record = deliver(store, channel, message, delivery=h.config.delivery, now=NOW)
            results.append(record.status if record else "none")
        except BaseException as exc:  # the test reports it below
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    assert sorted(results) == ["duplicate", "duplicate", "duplicate", "sent"]
    assert len(server.requests) == 1


def test_generic_webhook_repeat_carries_its_key_and_says_so(
    server: RecordingServer, store: StateStore
) -> None:
    h = Harness(store, [{"type": "webhook", "url_env": "HOOK"}], {"HOOK": f"{server.url}/x"}, **_timeout_1s())
    server.script(Answer(200, "ok", delay_s=SLOW))
    assert statuses(h.run(HOT, 1)) == [("unknown", False)]
    assert statuses(h.run(HOT, 2)) == [("sent", True)]
    first, repeat = (r.body for r in server.requests)
    assert "possible_repeat" not in first and repeat["possible_repeat"] is True
    assert first["idempotency_key"] == repeat["idempotency_key"]  # the receiver can drop the copy
