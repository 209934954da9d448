"""The `alertmanager` channel: the v2 API's alerts built from a message (exact), its config errors,
and delivery through the outbox against a real HTTP receiver on 127.0.0.1 (retries, a refusing
receiver, a post whose answer never came). Alertmanager itself is in tests/e2e/test_alertmanager.py.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from watchkeeper.alerting import AlertContext, AlertsConfig, AlertsReport, evaluate_alerts
from watchkeeper.alerting.alertmanager import AlertmanagerChannel, alertmanager_alerts
from watchkeeper.alerting.channels import build_channels
from watchkeeper.alerting.config import AlertmanagerChannelConfig
from watchkeeper.alerting.messages import AlertEvent, AlertMessage
from watchkeeper.alerting.store import list_outbox
from watchkeeper.state import StateStore

from .conftest import NOW, Answer, RecordingServer, day

WALL = datetime(2026, 3, 20, 9, 30, tzinfo=UTC)  # the channel's clock: endsAt is wall time
HOT = {"serving.latency_p95_ms": 800.0}
COOL = {"serving.latency_p95_ms": 100.0}


def _event(status: str, **kw: Any) -> AlertEvent:
    return AlertEvent(
        fingerprint="fp1",
        rule="high_latency",
        status=status,  # type: ignore[arg-type]
        severity="warning",
        labels={"alertname": "high_latency", "severity": "warning", "model": "churn", "team": "ml"},
        summary="p95 latency 800 ms above 500 ms",
        condition="serving.latency_p95_ms > 500",
        metric="serving.latency_p95_ms",
        value=800.0,
        op=">",
        threshold=500.0,
        window_end=day(3),
        fired_at=day(2),
        **kw,
    )


def _config(**kw: Any) -> AlertmanagerChannelConfig:
    return AlertmanagerChannelConfig.model_validate({"type": "alertmanager", "url_env": "AM", **kw})


def test_firing_and_resolved_alerts() -> None:
    message = AlertMessage(
        model="churn",
        window_end=day(3),
        window_start=day(2),
        model_version="3",
        events=(
            _event("firing", runbook_url="docs/runbooks/high_latency.md", description="From the logs."),
            _event("resolved", runbook_url="https://runbooks.example/latency"),
        ),
        mlflow_run_url="http://mlflow.local/#/runs/abc",
        verdict="Warning",
    )
    config = _config(
        runbook_base_url="https://git.example/wk/blob/main/",
        dashboard_url="https://g.example/d?model={model}",
    )
    firing, resolved = alertmanager_alerts(message, now=WALL, config=config)
    labels = {
        "source": "watchkeeper",
        "alertname": "high_latency",
        "severity": "warning",
        "model": "churn",
        "team": "ml",
    }
    window = {
        "window": "churn 2024-03-02 → 03-03",
        "window_start": "2024-03-02T00:00:00Z",
        "window_end": "2024-03-03T00:00:00Z",
        "window_verdict": "warning",
        "model_version": "3",
        "mlflow_run_url": "http://mlflow.local/#/runs/abc",
        "dashboard_url": "https://g.example/d?model=churn",
    }
    assert firing == {
        "labels": labels,
        "annotations": {
            "summary": "p95 latency 800 ms above 500 ms",
            "description": "From the logs.",
            "figure": "serving.latency_p95_ms = 800 (> 500)",
            "firing_since": "firing since 2024-03-02",
            "runbook_url": "https://git.example/wk/blob/main/docs/runbooks/high_latency.md",
            **window,
        },
        "startsAt": "2024-03-02T00:00:00Z",  # fired_at: the end of the window it started firing in
        "endsAt": "2026-03-24T09:30:00Z",  # now + expires_after (4 days)
        "generatorURL": "http://mlflow.local/#/runs/abc",  # no Prefect run: the MLflow run
    }
    # Same labels (its identity in Alertmanager), ended now; an absolute runbook stays as it is.
    assert resolved["labels"] == labels
    assert resolved["endsAt"] == "2026-03-20T09:30:00Z"
    assert resolved["annotations"]["runbook_url"] == "https://runbooks.example/latency"


def test_an_alert_never_ends_before_it_starts() -> None:
    # A window dated after the clock (a test dataset, a skewed host): Alertmanager would refuse it.
    late = AlertMessage(model="churn", window_end=day(3), events=(_event("resolved"),))
    (alert,) = alertmanager_alerts(late, now=day(1), config=_config())
    assert alert["startsAt"] == alert["endsAt"] == "2024-03-02T00:00:00Z"


@pytest.mark.parametrize(
    ("entry", "error"),
    [
        ({}, "give `url_env`"),  # no Alertmanager to post to
        ({"url_env": "A", "url_secret": "a"}, "only one of"),
        ({"url_env": "A", "labels": {"model": "x"}}, "reserved"),  # the engine sets it
        ({"url_env": "A", "labels": {"my-team": "x"}}, "not a Prometheus label name"),
        ({"url_env": "A", "expires_after": "0s"}, "must be positive"),
        ({"url_env": "A", "expires_after": "soon"}, "invalid duration"),
    ],
)
def test_config_errors(entry: dict[str, Any], error: str) -> None:
    with pytest.raises(ValidationError, match=error):
        AlertsConfig.model_validate({"channels": [{"type": "alertmanager", **entry}]})


def test_built_from_the_alerts_config() -> None:
    config = AlertsConfig.model_validate({"channels": [{"type": "alertmanager", "url_env": "AM"}]})
    (channel,) = build_channels(config.channels, env={"AM": "http://127.0.0.1:1"})
    assert isinstance(channel, AlertmanagerChannel)
    assert (channel.name, channel.redelivery, channel.grouped) == ("alertmanager", "dedup", True)


class Run:
    def __init__(self, store: StateStore, server: RecordingServer, **delivery: Any) -> None:
        self.store, self.waits = store, []  # type: list[float]
        self.env = {"AM": f"{server.url}/prefix"}
        self.config = AlertsConfig.model_validate(
            {
                "default_rules": False,
                "rules": [{"name": "high_latency", "condition": "serving.latency_p95_ms > 500"}],
                "channels": [{"type": "alertmanager", "url_env": "AM"}],
                "delivery": {"max_retries": 2, "backoff_s": 0.01, **delivery},
            }
        )

    def __call__(self, figures: dict[str, float], n: int) -> AlertsReport:
        return evaluate_alerts(
            figures,
            model="churn",
            window_end=day(n),
            config=self.config,
            store=self.store,
            context=AlertContext(window_start=day(n - 1)),
            env=self.env,
            now=NOW,
            sleep=self.waits.append,
        )


def test_posts_an_array_to_the_v2_api_with_retries(server: RecordingServer, store: StateStore) -> None:
    run = Run(store, server)
    server.script(Answer(503, "busy"), Answer(429, "slow down", {"Retry-After": "3"}), 200)
    report = run(HOT, 1)
    assert [n.status for n in report.notifications] == ["sent"]
    assert [r.path for r in server.requests] == ["/prefix/api/v2/alerts"] * 3
    assert run.waits == [0.01, 3.0]  # backoff after the 503, Retry-After after the 429
    (alert,) = server.requests[-1].body
    assert alert["labels"]["alertname"] == "high_latency" and alert["startsAt"] == "2024-03-01T00:00:00Z"


def test_a_refused_alert_waits_in_the_outbox(server: RecordingServer, store: StateStore) -> None:
    run = Run(store, server)
    server.always(Answer(400, '{"code":400,"message":"bad"}'))
    first = run(HOT, 1)
    assert [(n.status, n.error) for n in first.notifications] == [
        ("queued", 'alertmanager:alertmanager: HTTP 400: {"code":400,"message":"bad"}')
    ]
    assert len(server.requests) == 1  # a 4xx is not retried within the run
    server.always(None)
    second = run(COOL, 2)  # the outbox first, then the resolve of window 2
    assert [(n.status, n.from_outbox, n.states) for n in second.notifications] == [
        ("sent", True, ("firing",)),
        ("sent", False, ("resolved",)),
    ]
    assert list_outbox(store, "churn") == []


def test_an_unanswered_post_is_posted_again(server: RecordingServer, store: StateStore) -> None:
    # Alertmanager merges an alert posted twice, so a post whose answer timed out is simply repeated.
    run = Run(store, server, max_retries=0, timeout_s=1)
    server.script(Answer(200, delay_s=1.5))
    first = run(HOT, 1)
    assert [n.status for n in first.notifications] == ["unknown"]
    second = run(HOT, 2)
    assert [(n.status, n.from_outbox) for n in second.notifications] == [("sent", True)]
    # the same alert (labels, annotations, start); only endsAt moves with the clock
    posts = [{k: v for k, v in r.body[0].items() if k != "endsAt"} for r in server.requests]
    assert posts[0] == posts[1]


def test_credentials_in_the_url_become_basic_auth(server: RecordingServer, store: StateStore) -> None:
    run = Run(store, server)
    run.env = {"AM": f"http://wk:s3cr%40t@127.0.0.1:{server.port}/prefix"}
    server.always(Answer(400, "refused for wk:s3cr@t"))
    (record,) = run(HOT, 1).notifications
    (request,) = server.requests
    assert request.path == "/prefix/api/v2/alerts"
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"wk:s3cr@t").decode()
    assert "s3cr" not in (record.error or "") and record.status == "queued"
