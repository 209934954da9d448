"""Fault scenarios of issue 30 (part 3): a run killed while its POST is in flight.

    python benchmarks/faults.py --only killed_mid_post

A spawned process evaluates one window's alerts against a receiver on 127.0.0.1 that records the
POST and never answers; it is killed (SIGKILL) once the receiver holds the request. The next run,
after the dead run's claim expired, must treat that post as `unknown`, as after a timeout: an
incoming webhook is posted once more with the "may be a repeat" note, a Slack bot finds its message
by the key in its metadata, PagerDuty gets the same `dedup_key` again. Before, the next run sent a
plain, identical copy.
"""

from __future__ import annotations

import json
import multiprocessing
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from faults import HOT, NOW, T0, Receiver, _store

CLAIM_S = 60
AFTER_CLAIM = NOW + timedelta(seconds=CLAIM_S + 1)
KILLED = "killed mid-POST"


def _run(state_url: str, channel: dict[str, Any], env: dict[str, str], day: int, now: str) -> Any:
    """One window's alerts (rule `lat` fires); the killed child runs this too."""
    from watchkeeper.alerting import AlertsConfig, evaluate_alerts
    from watchkeeper.state import open_state

    config = AlertsConfig.model_validate(
        {
            "default_rules": False,
            "rules": [{"name": "lat", "condition": "serving.latency_p95_ms > 250"}],
            "channels": [channel],
            # the child would wait a minute for its answer: it is killed long before
            "delivery": {"max_retries": 0, "timeout_s": 60, "claim_s": CLAIM_S},
        }
    )
    return evaluate_alerts(
        HOT,
        model="churn",
        window_end=T0 + timedelta(days=day),
        config=config,
        store=open_state(state_url),
        env=env,
        now=datetime.fromisoformat(now),
        sleep=lambda s: None,
    )


class _Hang:
    """Answers the receiver's requests; the first one it matches is recorded and never answered."""

    def __init__(self, rx: Receiver, match: str = "", inner: Any = None) -> None:
        self.match, self.inner = match, inner
        self.arrived, self.release = threading.Event(), threading.Event()
        rx.handler = self

    def __call__(self, path: str, body: dict[str, Any]) -> tuple[int, str] | None:
        answer = self.inner(path, body) if self.inner else None
        if not self.arrived.is_set() and path.endswith(self.match):
            self.arrived.set()
            self.release.wait(timeout=120)  # the sender is dead by then
        return answer


def _crash_then_rerun(
    tmp: Path, name: str, rx: Receiver, hang: _Hang, channel: dict[str, Any], env: dict[str, str]
) -> tuple[str, Any, list[str]]:
    """Window 1 in a spawned process killed mid-POST, then window 2 here after its claim expired.

    Returns how the child ended, the second run's report and the audit trail's unknown outcomes."""
    from watchkeeper.alerting.store import DELIVERY_UNKNOWN_EVENT

    url = str(_store(tmp, name).engine.url)
    child = multiprocessing.get_context("spawn").Process(
        target=_run, args=(url, channel, env, 1, NOW.isoformat()), daemon=True
    )
    child.start()
    arrived = hang.arrived.wait(timeout=60)
    child.kill()
    child.join(timeout=30)
    hang.release.set()
    ended = KILLED if arrived and child.exitcode == -9 else f"exit {child.exitcode}, POST held {arrived}"
    report = _run(url, channel, env, 2, AFTER_CLAIM.isoformat())
    audits = [
        f"{a['evidence']['cause']}/{a['decision']}"
        for a in _store(tmp, name).read_audit(model="churn")
        if a["event"] == DELIVERY_UNKNOWN_EVENT
    ]
    return ended, report, audits


def _records(report: Any) -> list[str]:
    return [n.status for n in report.notifications]


def killed_mid_webhook_post(tmp: Path) -> tuple[str, str, bool]:
    rx = Receiver()
    hang = _Hang(rx)
    channel = {"type": "slack", "webhook_url_env": "URL"}
    ended, report, audits = _crash_then_rerun(
        tmp, "killed-webhook", rx, hang, channel, {"URL": f"{rx.url}/services/T/B/x"}
    )
    rx.close()
    notes = ["may be a repeat" in p["body"].get("text", "") for p in rx.posts]
    return (
        "killed mid-POST; next run posts once more, with the note; unknown audited",
        f"{ended}; {len(rx.posts)} posts, notes {notes}, records {_records(report)}, audit {audits}",
        ended == KILLED
        and notes == [False, True]
        and _records(report) == ["unknown", "sent"]
        and bool(audits),
    )


def killed_mid_slack_bot_post(tmp: Path) -> tuple[str, str, bool]:
    rx = Receiver()
    kept: list[dict[str, Any]] = []

    def api(path: str, body: dict[str, Any]) -> tuple[int, str]:
        if path.endswith("chat.postMessage"):
            meta = body.get("metadata")
            kept.append({"type": "message", "metadata": json.loads(meta) if isinstance(meta, str) else meta})
            return 200, json.dumps({"ok": True, "ts": "1.0"})
        return 200, json.dumps({"ok": True, "messages": kept})

    hang = _Hang(rx, "chat.postMessage", api)
    channel = {"type": "slack", "token_env": "T", "channel": "C1", "base_url": f"{rx.url}/api/"}
    ended, report, audits = _crash_then_rerun(tmp, "killed-bot", rx, hang, channel, {"T": "xoxb-fault"})
    rx.close()
    posts = sum(p["path"].endswith("chat.postMessage") for p in rx.posts)
    lookups = sum(p["path"].endswith("conversations.history") for p in rx.posts)
    return (
        "killed mid-POST; next run finds it by its metadata key: 1 post",
        f"{ended}; {posts} post(s), {lookups} lookup(s), records {_records(report)}, audit {audits}",
        ended == KILLED and posts == 1 and lookups == 1 and _records(report) == ["unknown", "sent"],
    )


def killed_mid_pagerduty_post(tmp: Path) -> tuple[str, str, bool]:
    rx = Receiver()
    rx.status, rx.body = 202, '{"status": "success"}'
    hang = _Hang(rx)
    channel = {"type": "webhook", "format": "pagerduty", "url_env": "U", "routing_key_env": "K"}
    ended, report, audits = _crash_then_rerun(
        tmp, "killed-pd", rx, hang, channel, {"U": f"{rx.url}/v2/enqueue", "K": "R"}
    )
    rx.close()
    keys = {p["body"]["dedup_key"] for p in rx.posts}
    return (
        "killed mid-POST; next run re-posts under the same dedup_key",
        f"{ended}; {len(rx.posts)} posts, {len(keys)} dedup_key, records {_records(report)}, audit {audits}",
        ended == KILLED and len(rx.posts) == 2 and len(keys) == 1 and _records(report) == ["unknown", "sent"],
    )


def secret_block_file_url(tmp: Path) -> tuple[str, str, bool]:
    """A Slack webhook URL read from a Secret block (so not checkable at load) that is `file://`."""
    from watchkeeper.alerting import AlertsConfig, evaluate_alerts
    from watchkeeper.alerting.store import list_outbox

    store = _store(tmp, "secret-file-url")
    config = AlertsConfig.model_validate(
        {
            "default_rules": False,
            "rules": [{"name": "lat", "condition": "serving.latency_p95_ms > 250"}],
            "channels": [{"type": "slack", "webhook_url_secret": "hook"}],
        }
    )
    blocks = {"hook": "file:///etc/passwd"}
    statuses = []
    for day in (1, 2, 3):
        report = evaluate_alerts(
            HOT,
            model="churn",
            window_end=T0 + timedelta(days=day),
            config=config,
            store=store,
            secret_resolver=blocks.get,
            now=NOW,
        )
        statuses.append([n.status for n in report.notifications])
    refused = [a for a in store.read_audit(model="churn") if a["event"] == "alert.delivery_refused"]
    waiting = len(list_outbox(store))
    return (
        "file:// in a Secret block: refused on day 1, audited; days 2-3 retry nothing",
        f"statuses per run {statuses}, {len(refused)} refused audits, outbox {waiting}",
        statuses == [["refused"], [], []] and len(refused) == 1 and waiting == 0,
    )


SCENARIOS: dict[str, Callable[[Path], tuple[str, str, bool]]] = {
    "config_secret_block_file_url": secret_block_file_url,
    "killed_mid_post_webhook": killed_mid_webhook_post,
    "killed_mid_post_slack_bot": killed_mid_slack_bot_post,
    "killed_mid_post_pagerduty": killed_mid_pagerduty_post,
}
