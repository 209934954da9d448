"""A run killed while its POST is in flight (sent, not yet answered): the next run knows it may be there.

A real child process (`python -c`) evaluates one window's alerts against a receiver on 127.0.0.1
that records the POST and never answers; the test SIGKILLs the child once the receiver holds the
request. Before the POST went out the child committed the attempt (the outbox row's
`sending_since`), so the next run, once the dead run's claim expired, treats that post as `unknown`,
exactly as after a timeout: an incoming webhook is posted once more with the "may be a repeat"
note, a Slack bot finds its message by the idempotency key in its metadata (slack-sdk against a
local Web API that keeps messages), PagerDuty is posted again with the same `dedup_key`. Without
the record the next run posted a plain, identical copy.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import watchkeeper
from watchkeeper.alerting import AlertsConfig, AlertsReport, evaluate_alerts
from watchkeeper.alerting.channels import REPEAT_NOTE
from watchkeeper.alerting.store import DELIVERY_UNKNOWN_EVENT, delivery_statuses, list_outbox
from watchkeeper.state import StateStore, open_state

from .conftest import NOW, Answer, RecordingServer, Request, day
from .test_delivery import HOT, LAT, statuses
from .test_delivery_unknown import SlackWebApi

CLAIM_S = 60
# The killed run's claim has expired: a later run may take its row.
AFTER_CLAIM = NOW + timedelta(seconds=CLAIM_S + 1)

CHILD = """
import json, sys
from datetime import datetime
from watchkeeper.alerting import AlertsConfig, evaluate_alerts
from watchkeeper.state import open_state

args = json.loads(sys.argv[1])
evaluate_alerts(
    {k: float(v) for k, v in args["figures"].items()},
    model="churn",
    window_end=datetime.fromisoformat(args["window_end"]),
    config=AlertsConfig.model_validate(args["config"]),
    store=open_state(args["state_url"]),
    env=args["env"],
    now=datetime.fromisoformat(args["now"]),
)
raise SystemExit("the receiver answered: the test expected to kill this run while it waited")
"""


class Hang:
    """Wraps the receiver's answers: the next request it matches is recorded and never answered."""

    def __init__(self, server: RecordingServer, match: Callable[[Request], bool] = lambda r: True) -> None:
        self.inner = server.responder
        self.match = match
        self.arrived = threading.Event()
        self.release = threading.Event()
        self._armed = False
        server.responder = self

    def arm(self) -> None:
        self.arrived.clear()
        self._armed = True

    def __call__(self, req: Request) -> Answer | None:
        answer = self.inner(req) if self.inner is not None else None
        if self._armed and self.match(req):
            self._armed = False
            self.arrived.set()
            self.release.wait(timeout=120)  # the client is dead by then; nobody reads the answer
        return answer


@pytest.fixture
def hang(server: RecordingServer) -> Iterator[Callable[..., Hang]]:
    made: list[Hang] = []

    def make(match: Callable[[Request], bool] = lambda r: True) -> Hang:
        made.append(Hang(server, match))
        return made[-1]

    yield make
    for h in made:
        h.release.set()


class Crash:
    """One window's alerts for model `churn`: run in a child process killed mid-POST, or in-process."""

    def __init__(self, store: StateStore, channel: dict[str, Any], env: dict[str, str]) -> None:
        self.store, self.env = store, env
        self.raw = {
            "default_rules": False,
            "rules": [LAT],
            "channels": [channel],
            # the child waits far longer than the test takes to kill it
            "delivery": {"max_retries": 0, "timeout_s": 60, "claim_s": CLAIM_S},
        }
        self.config = AlertsConfig.model_validate(self.raw)

    def killed(self, hang: Hang, n: int, now: datetime) -> None:
        """Run window `n` in a child process; SIGKILL it once the receiver holds its POST."""
        args = {
            "figures": HOT,
            "window_end": day(n).isoformat(),
            "config": self.raw,
            "state_url": str(self.store.engine.url),
            "env": self.env,
            "now": now.isoformat(),
        }
        src = str(Path(watchkeeper.__file__).parents[1])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
        hang.arm()
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, json.dumps(args)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            if not hang.arrived.wait(timeout=60):
                child.kill()
                pytest.fail(f"the child never posted: {child.communicate()[1].decode()[-2000:]}")
            child.send_signal(signal.SIGKILL)
            child.communicate(timeout=30)
        finally:
            if child.poll() is None:
                child.kill()
        assert child.returncode == -signal.SIGKILL

    def run(self, n: int, now: datetime) -> AlertsReport:
        return evaluate_alerts(
            HOT,
            model="churn",
            window_end=day(n),
            config=self.config,
            store=self.store,
            env=self.env,
            now=now,
            sleep=lambda s: None,
        )


def unknown_audits(store: StateStore) -> list[tuple[str, str]]:
    return [
        (a["evidence"]["cause"], a["decision"])
        for a in store.read_audit(model="churn")
        if a["event"] == DELIVERY_UNKNOWN_EVENT
    ]


def _assert_left_in_flight(store: StateStore) -> None:
    (row,) = list_outbox(store, "churn")
    assert row["sending_since"] == NOW  # committed before the POST went out
    assert row["attempts"] == 0


@pytest.mark.parametrize(
    "channel",
    [
        # Slack incoming webhook: cannot be asked; the repeat carries the note in text and blocks
        {"type": "slack", "webhook_url_env": "URL"},
        # generic JSON webhook: cannot be asked; the repeat says `possible_repeat` and keeps its key
        {"type": "webhook", "url_env": "URL"},
    ],
    ids=["slack-webhook", "generic-webhook"],
)
def test_webhook_killed_mid_post_is_posted_once_more_with_the_note(
    server: RecordingServer, store: StateStore, hang: Callable[..., Hang], channel: dict[str, Any]
) -> None:
    crash = Crash(store, channel, {"URL": f"{server.url}/services/T0/B0/x"})
    crash.killed(hang(), 1, NOW)
    assert len(server.requests) == 1
    _assert_left_in_flight(store)

    # a run while the killed run's claim still holds leaves the row alone (its sender may be alive)
    assert crash.run(2, NOW + timedelta(seconds=1)).notifications == ()
    assert len(server.requests) == 1

    report = crash.run(2, AFTER_CLAIM)
    assert statuses(report) == [("unknown", True), ("sent", True)]
    assert "stopped before the receiver answered" in (report.notifications[0].error or "")
    first, repeat = (r.body for r in server.requests)
    if channel["type"] == "slack":
        assert REPEAT_NOTE not in first["text"] and REPEAT_NOTE in repeat["text"]
        assert repeat["blocks"][:-1] == first["blocks"]
    else:
        assert "possible_repeat" not in first and repeat["possible_repeat"] is True
        assert repeat["idempotency_key"] == first["idempotency_key"]
    assert list_outbox(store) == []
    assert set(delivery_statuses(store, "churn").values()) == {"sent"}
    assert unknown_audits(store) == [("interrupted", "kept_for_safe_retry")]
    assert store.verify_audit().problem is None

    # nothing goes out a third time
    assert crash.run(3, AFTER_CLAIM).notifications == ()
    assert len(server.requests) == 2


def test_slack_bot_killed_mid_post_finds_its_message_and_does_not_repost(
    server: RecordingServer, store: StateStore, hang: Callable[..., Hang]
) -> None:
    api = SlackWebApi(server)  # keeps every posted message with its metadata, serves the history
    stuck = hang(lambda r: r.path.endswith("chat.postMessage"))
    channel = {"type": "slack", "token_env": "T", "channel": "C0ALERTS", "base_url": f"{server.url}/api/"}
    crash = Crash(store, channel, {"T": "xoxb-test-token"})
    crash.killed(stuck, 1, NOW)
    assert api.posts == 1
    _assert_left_in_flight(store)

    report = crash.run(2, AFTER_CLAIM)
    assert statuses(report) == [("unknown", True), ("sent", True)]
    assert api.history_calls == 1 and api.posts == 1  # found by its key, not posted again
    assert list_outbox(store) == []
    assert set(delivery_statuses(store, "churn").values()) == {"sent"}
    assert unknown_audits(store) == [("interrupted", "kept_for_safe_retry")]


def test_pagerduty_killed_mid_post_is_posted_again_with_the_same_dedup_key(
    server: RecordingServer, store: StateStore, hang: Callable[..., Hang]
) -> None:
    channel = {"type": "webhook", "name": "pd", "format": "pagerduty", "url_env": "U", "routing_key_env": "K"}
    crash = Crash(store, channel, {"U": f"{server.url}/v2/enqueue", "K": "R0UT1NGKEY"})
    server.always(Answer(202, '{"status": "success"}'))
    crash.killed(hang(), 1, NOW)
    _assert_left_in_flight(store)

    report = crash.run(2, AFTER_CLAIM)
    assert statuses(report) == [("unknown", True), ("sent", True)]
    first, again = (r.body for r in server.requests)
    assert again == first  # same dedup_key: PagerDuty keeps one incident
    assert first["dedup_key"] and first["event_action"] == "trigger"
    assert set(delivery_statuses(store, "churn").values()) == {"sent"}


def test_webhook_killed_during_its_repeat_too_is_given_up_not_posted_a_third_time(
    server: RecordingServer, store: StateStore, hang: Callable[..., Hang]
) -> None:
    crash = Crash(store, {"type": "slack", "webhook_url_env": "URL"}, {"URL": f"{server.url}/services/x"})
    stuck = hang()
    crash.killed(stuck, 1, NOW)
    crash.killed(stuck, 2, AFTER_CLAIM)  # the repeat, with its note, is in flight when killed
    assert [REPEAT_NOTE in r.body["text"] for r in server.requests] == [False, True]

    report = crash.run(3, AFTER_CLAIM + timedelta(seconds=CLAIM_S + 1))
    assert statuses(report) == [("unknown", True), ("unknown", True)]
    assert "given up after 2 unanswered posts" in (report.notifications[1].error or "")
    assert len(server.requests) == 2
    assert list_outbox(store) == []
    assert set(delivery_statuses(store, "churn").values()) == {"unknown"}
    assert unknown_audits(store) == [
        ("interrupted", "kept_for_safe_retry"),
        ("interrupted", "kept_for_safe_retry"),
        ("interrupted", "given_up"),
    ]


def test_a_timed_out_post_is_audited_as_unknown_too(server: RecordingServer, store: StateStore) -> None:
    crash = Crash(store, {"type": "webhook", "url_env": "URL"}, {"URL": f"{server.url}/hook"})
    crash.config = crash.config.model_copy(
        update={"delivery": crash.config.delivery.model_copy(update={"timeout_s": 1})}
    )
    server.script(Answer(200, "ok", delay_s=1.3))
    assert statuses(crash.run(1, NOW)) == [("unknown", False)]
    assert unknown_audits(store) == [("timeout", "kept_for_safe_retry")]
    assert list_outbox(store, "churn")[0]["sending_since"] is None  # the outcome cleared it


def test_an_outbox_from_before_the_in_flight_column_gets_it(tmp_path: Path) -> None:
    """A state database created before `sending_since` existed: opening it adds the column."""
    path = tmp_path / "old.db"
    open_state(f"sqlite:///{path}").engine.dispose()
    with sqlite3.connect(path) as conn:
        conn.execute("ALTER TABLE alert_outbox DROP COLUMN sending_since")
    store = open_state(f"sqlite:///{path}")
    with sqlite3.connect(path) as conn:
        assert "sending_since" in {row[1] for row in conn.execute("PRAGMA table_info(alert_outbox)")}
    assert statuses(Crash(store, {"type": "console"}, {}).run(1, NOW)) == [("sent", False)]
