"""Watchkeeper's alerts through a real Alertmanager: grouping, inhibition, silences and resolves are
done by Alertmanager itself, on what the `alertmanager` channel posts.

Debian's `prometheus-alertmanager` (installed by .ci/run) runs on a loopback port in a temp dir,
clustering off, routing everything to a webhook receiver on 127.0.0.1 that records each notification,
with short group waits and an inhibit rule critical → warning for the same alertname and model.
Alerts go through the library path a monitor run takes (`evaluate_alerts` → outbox → channel), with
the default rules on serving figures. Skipped where the binary is absent.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.alerting.conftest import RecordingServer
from watchkeeper.alerting import AlertContext, AlertsConfig, AlertsReport, evaluate_alerts
from watchkeeper.state import StateStore, open_state

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "deployments" / "alertmanager" / "alertmanager.yml"

T0 = datetime(2026, 3, 1, tzinfo=UTC)
WARNING_LATENCY = {"serving.latency_p95_ms": 800.0, "serving.error_rate": 0.0}  # high_latency warning
CRITICAL_LATENCY = {"serving.latency_p95_ms": 3000.0, "serving.error_rate": 0.0}  # … and critical
HEALTHY = {"serving.latency_p95_ms": 100.0, "serving.error_rate": 0.0}


@pytest.fixture(scope="module")
def prefect_harness() -> Iterator[None]:
    """No Prefect here: the alerting library alone (overrides the e2e session harness)."""
    yield


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(check: Callable[[], Any], what: str, deadline_s: float = 20.0) -> Any:
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            result = check()
            if result:
                return result
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


class Alertmanager:
    def __init__(self, url: str, hook: RecordingServer) -> None:
        self.url = url
        self.hook = hook

    def api(self, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.url}/api/v2/{path}", data=data, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.load(response)

    def alerts(self, model: str) -> dict[tuple[str, str], dict[str, Any]]:
        """What Alertmanager holds for `model`, by (alertname, severity)."""
        return {
            (a["labels"]["alertname"], a["labels"]["severity"]): a
            for a in self.api("alerts")
            if a["labels"].get("model") == model
        }

    def notifications(self, model: str) -> list[dict[str, Any]]:
        """The webhook notifications of `model`'s group, in arrival order."""
        return [r.body for r in self.hook.requests if r.body["groupLabels"].get("model") == model]


def _binary(name: str) -> str:
    path = shutil.which(name) or f"/usr/bin/{name}"
    if not Path(path).exists():
        pytest.skip(f"{name} is not installed (Debian package prometheus-alertmanager; .ci/run installs it)")
    return path


@contextlib.contextmanager
def _running(tmp_path: Path, config: dict[str, Any], hook: RecordingServer) -> Iterator[Alertmanager]:
    """Alertmanager with `config` on a free loopback port, clustering off, data in `tmp_path`."""
    binary = _binary("prometheus-alertmanager")
    (tmp_path / "alertmanager.yml").write_text(yaml.safe_dump(config))
    port = _free_port()
    log = (tmp_path / "alertmanager.log").open("wb")
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={tmp_path / 'alertmanager.yml'}",
            f"--storage.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(lambda: urllib.request.urlopen(f"{url}/-/ready", timeout=2).status == 200, "alertmanager")
        yield Alertmanager(url, hook)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


@pytest.fixture
def hook() -> Iterator[RecordingServer]:
    server = RecordingServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def alertmanager(tmp_path: Path, hook: RecordingServer) -> Iterator[Alertmanager]:
    config = {
        "route": {
            "receiver": "hook",
            "group_by": ["model"],
            "group_wait": "2s",
            "group_interval": "1s",
            "repeat_interval": "1h",
        },
        "receivers": [
            {"name": "hook", "webhook_configs": [{"url": f"{hook.url}/hook", "send_resolved": True}]}
        ],
        "inhibit_rules": [
            {
                "source_matchers": ['severity="critical"'],
                "target_matchers": ['severity="warning"'],
                "equal": ["alertname", "model"],
            }
        ],
    }
    with _running(tmp_path, config, hook) as am:
        yield am


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    return open_state(f"sqlite:///{tmp_path / 'state.db'}")


class Monitor:
    """Windows of models judged by the default rules and sent through the `alertmanager` channel."""

    def __init__(self, store: StateStore, am: Alertmanager, **channel: Any) -> None:
        self.store = store
        self.env = {"AM_URL": am.url}
        self.config = AlertsConfig.model_validate(
            {
                # the built-in warning, with a runbook link relative to the repository
                "rules": [
                    {
                        "name": "high_latency",
                        "condition": "serving.latency_p95_ms > 500",
                        "annotations": {
                            "summary": "p95 latency {value:.0f} ms above {threshold:.0f} ms",
                            "runbook_url": "docs/runbooks/high_latency.md",
                        },
                    }
                ],
                "channels": [
                    {
                        "type": "alertmanager",
                        "url_env": "AM_URL",
                        "labels": {"source": "watchkeeper", "team": "ml"},
                        "runbook_base_url": "https://git.example/watchkeeper/blob/main/",
                        "dashboard_url": "https://grafana.example/d/watchkeeper?var-model={model}",
                        **channel,
                    }
                ],
            }
        )

    def run(self, model: str, day: int, figures: dict[str, float], *, t0: datetime = T0) -> AlertsReport:
        end = t0 + timedelta(days=day)
        report = evaluate_alerts(
            figures,
            model=model,
            window_end=end,
            config=self.config,
            store=self.store,
            context=AlertContext(
                model_version="3",
                window_start=end - timedelta(days=1),
                mlflow_run_url="http://mlflow.local/#/experiments/1/runs/abc",
                prefect_flow_run_url=f"http://prefect.local/runs/flow-run/{model}-{day}",
            ),
            env=self.env,
            now=end + timedelta(hours=1),
        )
        assert {n.status for n in report.notifications} == {"sent"}, report.notifications
        return report


def test_grouping_and_what_each_alert_carries(store: StateStore, alertmanager: Alertmanager) -> None:
    monitor = Monitor(store, alertmanager)
    # A window ending now, judged twice: first its latency, then (a figure that came late) its
    # error rate as well, which only the second post carries. Alertmanager waits group_wait for a
    # new group (an alert that started longer ago than that is sent at once), so both posts land in
    # one notification of churn's group; fraud, another model, is a group of its own.
    end = datetime.now(UTC).replace(microsecond=0)
    t0 = end - timedelta(days=1)
    monitor.run("churn", 1, WARNING_LATENCY, t0=t0)
    second = monitor.run("churn", 1, {**WARNING_LATENCY, "serving.error_rate": 0.02}, t0=t0)
    assert [n.states for n in second.notifications] == [("firing",)]  # the error rate alone
    monitor.run("fraud", 1, WARNING_LATENCY, t0=t0)
    (churn,) = _wait(lambda: alertmanager.notifications("churn"), "churn's notification")
    (fraud,) = _wait(lambda: alertmanager.notifications("fraud"), "fraud's notification")
    assert sorted(a["labels"]["alertname"] for a in churn["alerts"]) == ["high_error_rate", "high_latency"]
    assert [a["labels"]["alertname"] for a in fraud["alerts"]] == ["high_latency"]
    assert churn["status"] == "firing" and churn["commonLabels"]["team"] == "ml"
    time.sleep(1.5)  # a group interval later: nothing more (Alertmanager sent the group once)
    assert len(alertmanager.notifications("churn")) == 1

    latency = next(a for a in churn["alerts"] if a["labels"]["alertname"] == "high_latency")
    assert latency["labels"] == {
        "alertname": "high_latency",
        "severity": "warning",
        "model": "churn",
        "source": "watchkeeper",
        "team": "ml",
    }
    notes = latency["annotations"]
    assert notes["summary"] == "p95 latency 800 ms above 500 ms"
    assert notes["figure"] == "serving.latency_p95_ms = 800 (> 500)"
    assert notes["window_start"] == t0.isoformat().replace("+00:00", "Z")
    assert notes["window_end"] == end.isoformat().replace("+00:00", "Z")
    assert notes["dashboard_url"] == "https://grafana.example/d/watchkeeper?var-model=churn"
    assert notes["mlflow_run_url"] == "http://mlflow.local/#/experiments/1/runs/abc"
    assert notes["model_version"] == "3"
    assert latency["startsAt"] == notes["window_end"]  # fired at the end of this window
    assert latency["generatorURL"] == "http://prefect.local/runs/flow-run/churn-1"
    # the rule's repository-relative runbook, joined to the channel's runbook_base_url
    assert notes["runbook_url"] == "https://git.example/watchkeeper/blob/main/docs/runbooks/high_latency.md"
    # still firing in Alertmanager: it expires only after `expires_after` (4 days by default)
    held = alertmanager.alerts("churn")[("high_latency", "warning")]
    ends = datetime.fromisoformat(held["endsAt"].replace("Z", "+00:00"))
    assert ends - datetime.now(UTC) > timedelta(days=3)


def test_inhibition_and_resolve(store: StateStore, alertmanager: Alertmanager) -> None:
    monitor = Monitor(store, alertmanager)
    monitor.run("churn", 1, WARNING_LATENCY)
    _wait(lambda: alertmanager.notifications("churn"), "the warning's notification")
    # Worse the next day: the critical fires. Watchkeeper keeps the warning firing (muted by its
    # own inhibition, not re-sent); Alertmanager, which still holds it, inhibits it as well.
    monitor.run("churn", 2, CRITICAL_LATENCY)
    second = _wait(lambda: alertmanager.notifications("churn")[1:], "the critical's notification")[0]
    assert [(a["labels"]["severity"], a["status"]) for a in second["alerts"]] == [("critical", "firing")]
    held = alertmanager.alerts("churn")
    warning, critical = held[("high_latency", "warning")], held[("high_latency", "critical")]
    assert warning["status"]["state"] == "suppressed"
    assert warning["status"]["inhibitedBy"] == [critical["fingerprint"]]
    assert critical["status"]["state"] == "active"

    # Back to normal: both resolve; Alertmanager notifies the resolved critical (the warning was
    # inhibited until it resolved too) with the endsAt Watchkeeper sent.
    before = datetime.now(UTC) - timedelta(seconds=1)
    report = monitor.run("churn", 3, HEALTHY)
    resolved_here = [a.severity for a in report.alerts if a.state == "resolved"]
    assert sorted(resolved_here) == ["critical", "warning"]
    assert [n.states for n in report.notifications] == [("resolved", "resolved")]
    resolved = _wait(
        lambda: [n for n in alertmanager.notifications("churn") if n["status"] == "resolved"],
        "the resolved notification",
    )[0]
    assert {(a["labels"]["severity"], a["status"]) for a in resolved["alerts"]} >= {("critical", "resolved")}
    for alert in resolved["alerts"]:
        ends = datetime.fromisoformat(alert["endsAt"].replace("Z", "+00:00"))
        assert before <= ends <= datetime.now(UTC)
    assert all(a["status"]["state"] != "active" for a in alertmanager.alerts("churn").values())


def test_a_silence_in_alertmanager_holds_back_the_notification(
    store: StateStore, alertmanager: Alertmanager
) -> None:
    now = datetime.now(UTC)
    silence = alertmanager.api(
        "silences",
        {
            "matchers": [{"name": "model", "value": "fraud", "isRegex": False, "isEqual": True}],
            "startsAt": now.isoformat(),
            "endsAt": (now + timedelta(hours=1)).isoformat(),
            "createdBy": "on-call",
            "comment": "fraud model under maintenance",
        },
    )
    monitor = Monitor(store, alertmanager)
    monitor.run("fraud", 1, WARNING_LATENCY)  # silenced
    monitor.run("churn", 1, WARNING_LATENCY)  # not silenced: a notification proves the flush happened
    _wait(lambda: alertmanager.notifications("churn"), "churn's notification")
    time.sleep(2.5)  # two more group intervals: a notification for fraud would have come by now
    assert alertmanager.notifications("fraud") == []
    held = alertmanager.alerts("fraud")[("high_latency", "warning")]
    assert held["status"]["state"] == "suppressed"
    assert held["status"]["silencedBy"] == [silence["silenceID"]]


def _shorten(route: dict[str, Any]) -> None:
    for key in ("group_wait", "group_interval"):
        if key in route:
            route[key] = "1s"
    for child in route.get("routes", []):
        _shorten(child)


def test_the_example_configuration(tmp_path: Path, hook: RecordingServer, store: StateStore) -> None:
    """deployments/alertmanager/: valid for amtool, and in a real Alertmanager its route, its
    template (the runbook made absolute) and its critical route work on the channel's alerts."""
    check = subprocess.run(
        [_binary("amtool"), "check-config", str(EXAMPLE)], capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr
    config = yaml.safe_load(EXAMPLE.read_text())
    # the same routes, inhibitions and template; receivers on the local hook, waits of a second
    for receiver in config["receivers"]:
        for slack in receiver.get("slack_configs", []):
            del slack["api_url_file"]
            slack["api_url"] = f"{hook.url}/slack"
        for webhook in receiver.get("webhook_configs", []):
            webhook["url"] = f"{hook.url}/pager"
    config["templates"] = [str(EXAMPLE.parent / t) for t in config["templates"]]
    _shorten(config["route"])
    with _running(tmp_path, config, hook) as am:
        monitor = Monitor(store, am, runbook_base_url=None)  # the template makes the link absolute
        monitor.run("churn", 1, WARNING_LATENCY)
        monitor.run("fraud", 1, CRITICAL_LATENCY)
        slack = _wait(lambda: [r.body for r in hook.requests if r.path == "/slack"], "the Slack post")
        pager = _wait(lambda: [r.body for r in hook.requests if r.path == "/pager"], "the page")
    (attachment,) = slack[0]["attachments"]
    assert slack[0]["channel"] == "#ml-alerts"
    assert attachment["title"] == "[FIRING:1] churn"
    text = attachment["text"]
    assert "*high_latency* (warning): p95 latency 800 ms above 500 ms" in text
    assert "Runbook: https://git.example/watchkeeper/blob/main/docs/runbooks/high_latency.md" in text
    assert "MLflow run: http://mlflow.local/#/experiments/1/runs/abc" in text
    # the critical alert took the paging route, and only it
    assert [(a["labels"]["model"], a["labels"]["severity"]) for a in pager[0]["alerts"]] == [
        ("fraud", "critical")
    ]
    assert all(
        r.body["attachments"][0]["title"].endswith("churn") for r in hook.requests if r.path == "/slack"
    )
