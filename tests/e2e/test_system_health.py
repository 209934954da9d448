"""The system-health flow: real psutil sampling, a probe against a local server, MLflow time series,
and the latest sample reaching the model's monitor report for alert rules."""

from __future__ import annotations

import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml
from mlflow.tracking import MlflowClient

from flows.monitor import monitor
from flows.system_health import system_health

pytestmark = pytest.mark.slow


class _Healthy(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


def test_system_health_logs_and_feeds_the_monitor(scenario) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Healthy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        config = yaml.safe_load(scenario.config_path.read_text())
        config["health"] = {
            "interval_s": 0.2,
            "http_probes": [
                {"name": "model_endpoint", "url": f"http://127.0.0.1:{server.server_port}/health"}
            ],
        }
        scenario.config_path.write_text(yaml.safe_dump(config))
        result = system_health(str(scenario.config_path))
    finally:
        server.shutdown()

    assert result["host"]
    client = MlflowClient(os.environ["MLFLOW_TRACKING_URI"])
    exp = client.get_experiment_by_name("watchkeeper/system-health")
    (run,) = client.search_runs([exp.experiment_id])
    metrics = run.data.metrics
    assert 0.0 <= metrics["health/cpu/percent"] <= 100.0
    assert metrics["health/probe/model_endpoint/ok"] == 1.0
    assert "health/gpu/count" in metrics  # 0 on a machine without a GPU: reported, not an error

    scenario.write_day(1)
    report = monitor(str(scenario.config_path), window_end=scenario.window_end(1))
    figures = report.figures()
    assert figures["health.probe.model_endpoint.ok"] == 1.0
    assert "health.memory.percent" in figures
