"""Delivery against a real HTTP receiver on 127.0.0.1: slack-sdk and the webhook client stay real.

Retry waits go through an injected `sleep` that records them, so "honours Retry-After: 7" is
checked exactly and no test sleeps.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import pytest

from watchkeeper.alerting import AlertContext, AlertsConfig, AlertsReport, evaluate_alerts, flush_outbox
from watchkeeper.alerting.channels import build_channels
from watchkeeper.alerting.store import list_outbox
from watchkeeper.state import StateStore

from .conftest import NOW, Answer, RecordingServer, day

LAT = {"name": "lat", "condition": "serving.latency_p95_ms > 250"}
ERR = {"name": "errors", "condition": "serving.error_rate > 0.05", "severity": "critical"}
HOT = {"serving.latency_p95_ms": 300.0}
COOL = {"serving.latency_p95_ms": 100.0}


class Harness:
    """Runs windows of one model against configured channels with recorded, not slept, waits."""

    def __init__(self, store: StateStore, channels: list[dict[str, Any]], env: dict[str, str], **kw: Any):
        self.store = store
        self.env = env
        self.waits: list[float] = []
        self.config = AlertsConfig.model_validate(
            {
                "default_rules": False,
                "rules": kw.pop("rules", [LAT]),
                "channels": channels,
                "delivery": {"max_retries": 2, "backoff_s": 0.01, **kw.pop("delivery", {})},
            }
        )

    def run(self, figures: dict[str, float], n: int, **kw: Any) -> AlertsReport:
        return evaluate_alerts(
            figures,
            model="churn",
            window_end=day(n),
            config=self.config,
            store=self.store,
            context=AlertContext(
                model_version="3",
                window_start=day(n - 1),
                mlflow_run_url="http://mlflow.local/#/experiments/1/runs/abc",
                prefect_flow_run_url="http://prefect.local/runs/flow-run/xyz",
                verdict=kw.get("verdict"),
            ),
            env=self.env,
            now=kw.get("now", NOW),
            sleep=self.waits.append,
        )


def slack(server: RecordingServer, store: StateStore, **kw: Any) -> Harness:
    return Harness(
        store,
        [{"type": "slack", "webhook_url_env": "SLACK_URL"}],
        {"SLACK_URL": f"{server.url}/services/T0/B0/s3cr3tT0ken"},
        **kw,
    )


def statuses(report: AlertsReport) -> list[tuple[str, bool]]:
    return [(n.status, n.from_outbox) for n in report.notifications]


def window_ends(server: RecordingServer) -> list[str]:
    """The window of each received Slack message, from its fields section."""
    out = []
    for req in server.requests:
        fields = req.body["blocks"][1]["fields"]
        out.append(next(f["text"] for f in fields if f["text"].startswith("*Window*")))
    return out


def test_429_then_success_honours_retry_after(server: RecordingServer, store: StateStore) -> None:
    h = slack(server, store)
    server.script(Answer(429, "rate_limited", {"Retry-After": "7"}), 200)
    report = h.run(HOT, 1)
    assert statuses(report) == [("sent", False)]
    assert len(server.requests) == 2
    assert h.waits == [7.0]  # exactly what the receiver asked for
    assert server.requests[0].body == server.requests[1].body
    assert server.requests[1].path == "/services/T0/B0/s3cr3tT0ken"


def test_retry_after_is_capped(server: RecordingServer, store: StateStore) -> None:
    h = slack(server, store, delivery={"max_retry_after_s": 2})
    server.script(Answer(429, "rate_limited", {"Retry-After": "3600"}), 200)
    assert statuses(h.run(HOT, 1)) == [("sent", False)]
    assert h.waits == [2.0]


def test_500_on_every_retry_goes_to_outbox_then_exactly_once(
    server: RecordingServer, store: StateStore
) -> None:
    h = slack(server, store)
    server.always(500)
    first = h.run(HOT, 1)
    assert statuses(first) == [("queued", False)]
    assert "HTTP 500" in (first.notifications[0].error or "")
    assert len(server.requests) == 3  # the first try and max_retries=2 retries
    assert h.waits == [0.01, 0.02]  # exponential backoff
    assert first.outbox_pending == 1 and first.figures()["notifications_failed"] == 1
    assert [r["attempts"] for r in list_outbox(store, "churn")] == [1]

    server.always(None)
    server.requests.clear()
    # the next window: the alert still fires (no repeat due), the outbox message goes out now
    second = h.run(HOT, 2)
    assert statuses(second) == [("sent", True)]
    assert second.notifications[0].attempts == 2
    assert second.outbox_pending == 0
    assert window_ends(server) == ["*Window*\n2024-02-29 00:00 → 2024-03-01 00:00 UTC"]

    # later runs, re-runs and explicit flushes send nothing more
    h.run(HOT, 2)
    h.run(HOT, 3)
    assert flush_outbox(store, build_channels(h.config.channels, env=h.env)) == []
    assert len(server.requests) == 1


def test_receiver_down_for_two_runs(server: RecordingServer, store: StateStore) -> None:
    h = slack(server, store)
    server.stop()
    assert statuses(h.run(HOT, 1)) == [("queued", False)]
    assert "URLError" in (h.run(COOL, 2).notifications[-1].error or "")
    outbox = list_outbox(store, "churn")
    # day 1's firing was retried in run 2 (2 attempts), day 2's resolution queued (1 attempt)
    assert [r["attempts"] for r in outbox] == [2, 1]

    server.start()  # back on the same port
    report = h.run(COOL, 3)
    assert statuses(report) == [("sent", True), ("sent", True)]
    # delivered in order, each exactly once
    texts = [r.body["blocks"][0]["text"]["text"] for r in server.requests]
    assert texts == [
        "churn 2024-02-29 → 03-01 · 1 firing",
        "churn 2024-03-01 → 03-02 · 0 firing",
    ]
    h.run(COOL, 4)
    assert len(server.requests) == 2 and list_outbox(store) == []


def test_missing_secret_waits_in_outbox(server: RecordingServer, store: StateStore) -> None:
    h = slack(server, store)
    url = h.env.pop("SLACK_URL")
    report = h.run(HOT, 1)
    assert statuses(report) == [("queued", False)]
    assert report.notifications[0].error == "slack:slack: environment variable SLACK_URL is not set"
    h.env["SLACK_URL"] = url
    assert statuses(h.run(HOT, 2)) == [("sent", True)]
    assert len(server.requests) == 1


def test_secret_resolver_for_secret_blocks(server: RecordingServer, store: StateStore) -> None:
    cfg = AlertsConfig.model_validate(
        {
            "default_rules": False,
            "rules": [LAT],
            "channels": [{"type": "slack", "webhook_url_secret": "hook"}],
        }
    )
    blocks = {"hook": f"{server.url}/hook"}
    report = evaluate_alerts(
        HOT, model="churn", window_end=day(1), config=cfg, store=store, secret_resolver=blocks.get, now=NOW
    )
    assert statuses(report) == [("sent", False)] and server.requests[0].path == "/hook"


def test_secrets_are_redacted_in_errors_and_logs(
    server: RecordingServer, store: StateStore, caplog: pytest.LogCaptureFixture
) -> None:
    h = slack(server, store)
    # a receiver that echoes the URL back in its error body
    server.always(Answer(503, "no such hook /services/T0/B0/s3cr3tT0ken"))
    caplog.set_level(logging.DEBUG)
    report = h.run(HOT, 1)
    error = report.notifications[0].error or ""
    assert "HTTP 503" in error and "***" in error and "s3cr3t" not in error
    assert "s3cr3t" not in report.to_markdown()
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "retry" in logged.lower()  # slack-sdk did log its retries …
    assert "s3cr3t" not in logged  # … without the URL
    assert "s3cr3t" not in str(list_outbox(store))


def test_slack_web_api_with_base_url(server: RecordingServer, store: StateStore) -> None:
    h = Harness(
        store,
        [
            {
                "type": "slack",
                "token_env": "SLACK_BOT",
                "channel": "#ml-alerts",
                "base_url": f"{server.url}/api/",
            }
        ],
        {"SLACK_BOT": "xoxb-test-token"},
    )
    server.always(Answer(200, '{"ok": true, "ts": "1.2"}', {"Content-Type": "application/json"}))
    assert statuses(h.run(HOT, 1)) == [("sent", False)]
    req = server.requests[0]
    assert req.path == "/api/chat.postMessage"
    assert req.headers["Authorization"] == "Bearer xoxb-test-token"
    assert req.body["channel"] == "#ml-alerts" and req.body["blocks"][0]["type"] == "header"

    # an API error (HTTP 200 with ok=false) is a failure, kept in the outbox, token redacted
    server.always(
        Answer(200, '{"ok": false, "error": "channel_not_found"}', {"Content-Type": "application/json"})
    )
    report = h.run(COOL, 2)
    assert statuses(report) == [("queued", False)]
    assert "channel_not_found" in (report.notifications[0].error or "")


def test_slack_web_api_429(server: RecordingServer, store: StateStore) -> None:
    h = Harness(
        store,
        [{"type": "slack", "token_env": "T", "channel": "C1", "base_url": f"{server.url}/"}],
        {"T": "xoxb-1234"},
    )
    ok = Answer(200, '{"ok": true}', {"Content-Type": "application/json"})
    server.script(Answer(429, '{"ok": false, "error": "ratelimited"}', {"Retry-After": "4"}), ok)
    assert statuses(h.run(HOT, 1)) == [("sent", False)]
    assert h.waits == [4.0] and len(server.requests) == 2


def test_pagerduty_trigger_and_resolve(server: RecordingServer, store: StateStore) -> None:
    h = Harness(
        store,
        [
            {
                "type": "webhook",
                "name": "pd",
                "format": "pagerduty",
                "url_env": "PD_URL",
                "routing_key_env": "PD_KEY",
            }
        ],
        {"PD_URL": f"{server.url}/v2/enqueue", "PD_KEY": "R0UT1NGKEY"},
        rules=[LAT, ERR],
    )
    server.always(Answer(202, '{"status": "success"}'))
    first = h.run({**HOT, "serving.error_rate": 0.2}, 1)
    # PagerDuty deduplicates per alert: one event (and one delivery record) per alert
    assert statuses(first) == [("sent", False), ("sent", False)]
    triggers = [r.body for r in server.requests]
    assert [t["event_action"] for t in triggers] == ["trigger", "trigger"]
    assert [t["dedup_key"] for t in triggers] == [a.fingerprint for a in first.alerts]
    assert triggers[1]["payload"]["severity"] == "critical"
    assert triggers[1]["payload"]["custom_details"]["value"] == 0.2
    assert triggers[0]["routing_key"] == "R0UT1NGKEY"
    assert {link["text"] for link in triggers[0]["links"]} == {"MLflow run", "Prefect flow run"}

    h.run({**COOL, "serving.error_rate": 0.2}, 2)
    resolve = server.requests[-1].body
    assert resolve == {
        "routing_key": "R0UT1NGKEY",
        "event_action": "resolve",
        "dedup_key": first.alerts[0].fingerprint,
    }


def test_generic_webhook_with_headers_from_env(server: RecordingServer, store: StateStore) -> None:
    h = Harness(
        store,
        [{"type": "webhook", "url_env": "HOOK", "headers_env": {"Authorization": "HOOK_AUTH"}}],
        {"HOOK": f"{server.url}/alerts", "HOOK_AUTH": "Bearer abc123"},
        rules=[LAT, ERR],
    )
    h.run({**HOT, "serving.error_rate": 0.2}, 1, verdict="critical")
    (req,) = server.requests
    assert req.headers["Authorization"] == "Bearer abc123"
    body = req.body
    assert body["status"] == "firing" and body["model"] == "churn" and body["model_version"] == "3"
    assert [a["rule"] for a in body["alerts"]] == ["lat", "errors"]
    assert body["links"]["mlflow_run"].startswith("http://mlflow.local")
    assert body["title"] == "churn 2024-02-29 → 03-01 · Critical · 2 firing"
    assert body["window"] == {
        "name": "churn 2024-02-29 → 03-01",
        "start": day(0).isoformat(),
        "end": day(1).isoformat(),
        "verdict": "critical",
        "firing": 2,
        "hindsight": False,
    }
    assert body["in_message"] == {"firing": 2, "new": 2, "worse": 0, "resolved": 0, "notices": 0}


def test_slack_header_is_the_windows_verdict_not_the_new_events(
    server: RecordingServer, store: StateStore
) -> None:
    # The reported fault: a critical window with several alerts firing announced "warning, Firing 1"
    # because the message held only the one alert newly announced in that run.
    h = slack(server, store, rules=[LAT, ERR])
    h.run({**COOL, "serving.error_rate": 0.2}, 1, verdict="critical")  # errors fires, announced
    h.run({**HOT, "serving.error_rate": 0.2}, 2, verdict="critical")  # lat joins; errors not repeated
    body = server.requests[-1].body
    assert [e["text"]["text"].split("\n")[0] for e in body["blocks"][2:-1]] == [
        ":large_orange_circle: *WARNING · lat* · firing since 2024-03-02 (1 window)"
    ]
    assert body["blocks"][0]["text"]["text"] == "churn 2024-03-01 → 03-02 · Critical · 2 firing"
    fields = [f["text"] for f in body["blocks"][1]["fields"]]
    assert fields[3:] == ["*Verdict*\nCritical", "*Firing in window*\n2", "*In this message*\n1 new"]
    assert body["text"].startswith(":red_circle: churn 2024-03-01 → 03-02 · Critical · 2 firing\n")


def test_webhook_4xx_is_not_retried(server: RecordingServer, store: StateStore) -> None:
    h = Harness(store, [{"type": "webhook", "url_env": "HOOK"}], {"HOOK": f"{server.url}/x"})
    server.always(Answer(400, "bad payload"))
    report = h.run(HOT, 1)
    assert statuses(report) == [("queued", False)]
    assert len(server.requests) == 1 and h.waits == []
    assert report.notifications[0].error == "webhook:webhook: HTTP 400: bad payload"


def test_idempotency_key_includes_channel(server: RecordingServer, store: StateStore) -> None:
    h = Harness(
        store,
        [
            {"type": "webhook", "name": "a", "url_env": "HOOK"},
            {"type": "webhook", "name": "b", "url_env": "HOOK"},
        ],
        {"HOOK": f"{server.url}/x"},
    )
    server.script(200, 500, 500, 500)
    report = h.run(HOT, 1)
    # channel a got it; channel b failed: only b's copy is retried next run
    assert [(n.channel, n.status) for n in report.notifications] == [("a", "sent"), ("b", "queued")]
    report = h.run(HOT, 2)
    assert [(n.channel, n.status, n.from_outbox) for n in report.notifications] == [("b", "sent", True)]
    assert len(server.requests) == 5


def test_claimed_row_is_left_to_its_run(server: RecordingServer, store: StateStore) -> None:
    """A row claimed by a run that crashed mid-send is retried only after its claim expires."""
    from watchkeeper.alerting.delivery import deliver
    from watchkeeper.alerting.messages import AlertEvent, AlertMessage
    from watchkeeper.alerting.store import enqueue

    h = slack(server, store)
    (channel,) = build_channels(h.config.channels, env=h.env)
    event = AlertEvent("fp1", "lat", "firing", "warning", {}, "s", "c", "m", 1.0, ">", 0.0, day(1))
    message = AlertMessage("churn", day(1), (event,))
    # the crashed run: queued and claimed until 12:05, never sent
    enqueue(
        store,
        model="churn",
        channel="slack",
        entries=[(event.key("slack"), "fp1", "firing", day(1))],
        payload=message.to_dict(),
        claim_until=datetime.fromisoformat("2024-03-20T12:05:00+00:00"),
        now=NOW,
    )
    assert flush_outbox(store, [channel], now=NOW) == []  # still claimed
    assert deliver(store, channel, message, delivery=h.config.delivery, now=NOW).status == "duplicate"
    later = datetime.fromisoformat("2024-03-20T12:06:00+00:00")
    assert [r.status for r in flush_outbox(store, [channel], now=later)] == ["sent"]
    assert len(server.requests) == 1


@pytest.mark.parametrize("bad", ["file:///etc/passwd", "ftp://hooks.example/x"])
def test_a_secret_block_url_that_cannot_be_posted_to_is_refused_once_not_retried_every_run(
    server: RecordingServer, store: StateStore, bad: str
) -> None:
    # Env-var URLs are checked at load; a Secret block is read only when sending.
    cfg = AlertsConfig.model_validate(
        {
            "default_rules": False,
            "rules": [LAT],
            "channels": [{"type": "slack", "webhook_url_secret": "hook"}],
        }
    )
    blocks = {"hook": bad}
    first = evaluate_alerts(
        HOT, model="churn", window_end=day(1), config=cfg, store=store, secret_resolver=blocks.get, now=NOW
    )
    [record] = first.notifications
    assert record.status == "refused" and "not allowed" in (record.error or "")
    assert bad not in (record.error or "")  # names the scheme, never the URL
    assert list_outbox(store) == []  # ended, not queued for every later run
    refused = [e for e in store.read_audit(model="churn") if e["event"] == "alert.delivery_refused"]
    assert len(refused) == 1 and refused[0]["evidence"]["channel"] == record.channel
    assert flush_outbox(store, build_channels(cfg.channels, secret_resolver=blocks.get), now=NOW) == []
    assert server.requests == []
