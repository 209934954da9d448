"""MLflow down, then back: a real `mlflow server` on 127.0.0.1, stopped and started, under the monitor flow.

Guards the outage found by fault injection: the run ended `Completed` after 1,536 s of MLflow's own
retries, windows logged later from the spool never got their run id, and one truncated spool file
failed every later run with a `JSONDecodeError` naming no file. Now a window gives up within 2
minutes, the run's state is `TrackingUnavailable` (not a clean Completed), a `tracking_unavailable`
alert goes through the outbox, the report is spooled without the URI's password, and the next run
logs it and records its run id; an unreadable spool file is quarantined and named. A password
planted in the tracking URI and a token planted in the Slack webhook URL appear in no output at all.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import pytest
import yaml
from mlflow.tracking import MlflowClient
from prefect.client.orchestration import get_client

from flows.monitor import monitor
from tasks.outage_tasks import TRACKING_UNAVAILABLE_STATE
from tasks.tracking_tasks import quarantine_dir, spool_dir
from watchkeeper import tracking
from watchkeeper.alerting.store import delivery_statuses
from watchkeeper.outage import OUTAGE_BOUND_S
from watchkeeper.state import open_state

pytestmark = pytest.mark.slow

PASSWORD = "pw-PLANTED-7f3a"
WEBHOOK_TOKEN = "hookPLANTED9c1d"  # the secret path of the Slack incoming webhook


class SlackReceiver:
    """A Slack incoming webhook on 127.0.0.1 that keeps what it was sent."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                outer.texts.append(body.get("text", ""))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/services/T0/B0/{WEBHOOK_TOKEN}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MlflowServer:
    """`mlflow server` with a SQLite store in a tmp dir; `stop()` and `start()` keep the port."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        mlflow = Path(sys.executable).with_name("mlflow")
        self.proc = subprocess.Popen(
            [
                str(mlflow),
                "server",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                "1",
                "--backend-store-uri",
                f"sqlite:///{self.root / 'mlflow.db'}",
                "--artifacts-destination",
                str(self.root / "artifacts"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=(self.root / "server.log").open("ab"),
            env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"},
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"mlflow server did not start: {(self.root / 'server.log').read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None


@pytest.fixture
def mlflow_server(tmp_path: Path) -> Iterator[MlflowServer]:
    root = tmp_path / "mlflow-server"
    root.mkdir()
    server = MlflowServer(root)
    yield server
    server.stop()


def _point_at(scenario, server: MlflowServer) -> str:
    config = yaml.safe_load(scenario.config_path.read_text())
    uri = f"http://watchkeeper:{PASSWORD}@127.0.0.1:{server.port}"
    config["tracking"] = {**config.get("tracking", {}), "tracking_uri": uri}
    config["alerts"]["channels"] = [
        {"type": "console", "stream": "log"},
        {"type": "slack", "webhook_url_env": "WK_E2E_SLACK_URL"},
    ]
    scenario.config_path.write_text(yaml.safe_dump(config))
    return uri


def _planted_in_files(roots: list[Path], token: str) -> list[str]:
    needles = [token.encode(), quote(token, safe="").encode()]
    found = []
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file() and any(n in path.read_bytes() for n in needles):
                found.append(str(path))
    return found


def _planted_in_prefect(token: str) -> list[str]:
    """Every log record, flow run and task run state message the Prefect API holds."""
    found = []
    with get_client(sync_client=True) as client:
        offset = 0
        while page := client.read_logs(limit=200, offset=offset):  # the API's page limit
            found += [f"log: {r.message[:200]}" for r in page if token in r.message]
            offset += len(page)
        assert offset > 0  # the runs' logs are there to search
        for item in [*client.read_flow_runs(limit=200), *client.read_task_runs(limit=200)]:
            message = item.state.message if item.state else ""
            if message and token in message:
                found.append(f"state of {item.name}: {message[:200]}")
    return found


@pytest.fixture
def slack() -> Iterator[SlackReceiver]:
    receiver = SlackReceiver()
    yield receiver
    receiver.close()


def test_mlflow_down_then_back(
    scenario,
    mlflow_server: MlflowServer,
    state: Path,
    capfd: pytest.CaptureFixture[str],
    slack: SlackReceiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WK_E2E_SLACK_URL", slack.url)
    _point_at(scenario, mlflow_server)
    scenario.write_day(1)
    # MLflow is down (nothing listens on its port): bounded, spooled, visible.
    started = time.monotonic()
    final = monitor(str(scenario.config_path), window_end=scenario.window_end(1), return_state=True)
    elapsed = time.monotonic() - started
    assert elapsed < OUTAGE_BOUND_S
    assert final.name == TRACKING_UNAVAILABLE_STATE and final.is_completed()
    report = final.result()
    assert report.mlflow_run_id is None
    assert "MLflow unavailable" in report.errors["tracking"]
    (spooled,) = sorted(spool_dir(state).glob("*.json"))
    assert PASSWORD not in spooled.read_text()
    keys = delivery_statuses(open_state(), "e2e-model")
    assert [k for k in keys if k.startswith("tracking_unavailable:")], keys
    assert any("tracking_unavailable" in t for t in slack.texts), (slack.texts, sorted(keys))
    assert open_state().list_windows("e2e-model")[0]["mlflow_run_id"] is None

    # A truncated spool file from some crash: quarantined and named, never blocking.
    broken = spool_dir(state) / "truncated.json"
    broken.write_text('{"payload": {"tags": ')

    mlflow_server.start()
    scenario.write_day(2)
    final2 = monitor(str(scenario.config_path), window_end=scenario.window_end(2), return_state=True)
    # MLflow is back: the run ends in its verdict's Completed state, not TrackingUnavailable.
    assert final2.is_completed() and final2.name in {"OK", "Warning", "Critical"}
    report2 = final2.result()
    assert report2.mlflow_run_id
    assert not list(spool_dir(state).glob("*.json"))
    (moved,) = quarantine_dir(spool_dir(state)).iterdir()
    assert moved.name == "truncated.json"
    assert str(moved) in report2.errors["tracking"]
    windows = {w["window_end"]: w for w in open_state().list_windows("e2e-model")}
    day1 = windows[scenario.window_end(1)]
    assert day1["mlflow_run_id"]  # logged from the spool, and recorded
    client = MlflowClient(mlflow_server.url)
    exp = client.get_experiment_by_name("watchkeeper/e2e-model")
    assert exp is not None
    runs = client.search_runs([exp.experiment_id], filter_string=f"tags.`{tracking.TAG_KIND}` = 'monitor'")
    assert {r.info.run_id for r in runs} == {day1["mlflow_run_id"], report2.mlflow_run_id}

    # The planted secrets are nowhere: state dir (logs, state DB, spool, quarantine), MLflow's store
    # and artifacts, stdout/stderr, Prefect's log records and run states, the reports, Slack itself.
    out, err = capfd.readouterr()
    for token in (PASSWORD, WEBHOOK_TOKEN):
        assert token not in out and token not in err
        assert _planted_in_files([state, mlflow_server.root], token) == []
        assert _planted_in_prefect(token) == []
        assert token not in report.to_json() and token not in report2.to_json()
        assert not [t for t in slack.texts if token in t]
