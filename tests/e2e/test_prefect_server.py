"""A real `prefect server` on 127.0.0.1, the monitor deployment served by `serve_all`, one run via the API.

What production looks like on one host: the server and the serve process are separate processes
(telemetry off, PREFECT_HOME in a temp dir); the test only talks to the server's API, then checks
what the flow run left in MLflow.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from watchkeeper.runtime import TELEMETRY_OPT_OUTS

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

ROOT = Path(__file__).resolve().parents[2]
PREFECT = Path(sys.executable).parent / "prefect"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop(proc: subprocess.Popen[bytes]) -> None:
    # Each child runs in its own session: signal its whole group (the server starts uvicorn below it).
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path, deadline_s: float) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"prefect server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"prefect server not healthy after {deadline_s} s:\n{log.read_text()[-3000:]}")


@pytest.fixture
def server_env(tmp_path: Path, state: Path) -> Iterator[dict[str, str]]:
    """A Prefect server of its own; yields the environment its clients use."""
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        **TELEMETRY_OPT_OUTS,
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_API_URL": api,
        "PREFECT_UI_ENABLED": "false",
        "PREFECT_SERVER_LOGGING_LEVEL": "WARNING",
        # The checkout first, then whatever the caller put there (a worktree's src/).
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),
    }
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [str(PREFECT), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_healthy(api, server, log, deadline_s=90)
        yield env
    finally:
        _stop(server)


def test_served_monitor_deployment_runs_through_the_api(
    scenario, server_env: dict[str, str], tmp_path: Path
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL, temporary_settings

    scenario.write_day(1)
    config = str(scenario.config_path)
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        served = subprocess.Popen(
            [
                sys.executable,
                "-c",
                f"from flows.serve import serve_all; serve_all([{config!r}], only=('daily',))",
            ],
            cwd=ROOT,
            env=server_env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        with temporary_settings({PREFECT_API_URL: server_env["PREFECT_API_URL"]}):
            name = "monitor-model/e2e-model-daily"
            deadline = time.monotonic() + 90
            with get_client(sync_client=True) as client:
                while True:
                    assert served.poll() is None, log.read_text()[-3000:]
                    try:
                        deployment = client.read_deployment_by_name(name)
                        break
                    except Exception:
                        assert time.monotonic() < deadline, (
                            f"{name} never registered:\n{log.read_text()[-3000:]}"
                        )
                        time.sleep(1)
            assert deployment.parameters == {"config_path": config}
            run = run_deployment(
                name,
                parameters={"window_end": scenario.window_end(1).isoformat()},
                timeout=150,
                poll_interval=1,
            )
        assert run.state is not None and run.state.is_completed(), f"{run.state}\n{log.read_text()[-3000:]}"
    finally:
        _stop(served)

    # The served run did the real work: the window's MLflow run exists with its figures.
    client = MlflowClient(os.environ["MLFLOW_TRACKING_URI"])
    experiment = client.get_experiment_by_name("watchkeeper/e2e-model")
    assert experiment is not None
    (mlflow_run,) = client.search_runs(
        [experiment.experiment_id], filter_string="tags.`watchkeeper.kind` = 'monitor'"
    )
    assert mlflow_run.data.metrics["window/rows"] == 600
    assert mlflow_run.data.tags["prefect.flow_run_id"] == str(run.id)
