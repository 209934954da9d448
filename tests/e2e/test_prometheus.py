"""A monitored window through a real Pushgateway into a real Prometheus, read back with PromQL; the
alerting rules in deployments/grafana/ pass promtool and fire on it. Debian packages `prometheus` and
`prometheus-pushgateway` (installed by .ci/run); skipped where they are absent.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from flows.monitor import monitor

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deployments" / "grafana" / "alert-rules.yml"
DASHBOARD = ROOT / "deployments" / "grafana" / "watchkeeper.json"


def _binary(name: str) -> str:
    path = shutil.which(name) or f"/usr/bin/{name}"
    if not Path(path).exists():
        pytest.skip(f"{name} is not installed (Debian package; .ci/run installs it)")
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


def _wait(check, what: str, deadline_s: float = 60.0):
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
        time.sleep(0.5)


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A Pushgateway and a Prometheus scraping it every second with the rules loaded: (gateway, api)."""
    gateway_port, prom_port = _free_port(), _free_port()
    pushgateway = subprocess.Popen(
        [_binary("prometheus-pushgateway"), f"--web.listen-address=127.0.0.1:{gateway_port}"],
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "pushgateway.log").open("wb"),
    )
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [
            {
                "job_name": "pushgateway",
                "honor_labels": True,
                "static_configs": [{"targets": [f"127.0.0.1:{gateway_port}"]}],
            }
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    server = subprocess.Popen(
        [
            _binary("prometheus"),
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "prometheus.log").open("wb"),
    )
    gateway, api = f"http://127.0.0.1:{gateway_port}", f"http://127.0.0.1:{prom_port}/api/v1"
    try:
        _wait(lambda: urllib.request.urlopen(f"{gateway}/-/ready", timeout=2).status == 200, "pushgateway")
        _wait(lambda: _get(f"{api}/status/runtimeinfo")["status"] == "success", "prometheus")
        yield gateway, api
    finally:
        for proc in (server, pushgateway):
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def _query(api: str, promql: str) -> list[dict]:
    result = _get(f"{api}/query?{urllib.parse.urlencode({'query': promql})}")
    assert result["status"] == "success", result
    return result["data"]["result"]


def test_rules_pass_promtool_and_cover_every_built_in_rule() -> None:
    from watchkeeper.alerting.defaults import DEFAULT_RULES

    check = subprocess.run(
        [_binary("promtool"), "check", "rules", str(RULES)], capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr
    rules = [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]
    in_prometheus = {(r["alert"], r["labels"]["severity"]) for r in rules}
    assert {(r.name, str(r.severity)) for r in DEFAULT_RULES} <= in_prometheus
    # Every Grafana query names a metric the flows push (or Prometheus' own ALERTS).
    panels = json.loads(DASHBOARD.read_text())["panels"]
    exprs = [t["expr"] for p in panels for t in p["targets"]]
    assert exprs and all("watchkeeper_" in e or e.startswith("ALERTS") for e in exprs)


def test_a_monitored_window_reaches_prometheus_and_fires_its_rule(
    scenario, prometheus: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway, api = prometheus
    config = yaml.safe_load(scenario.config_path.read_text())
    config.setdefault("health", {})["pushgateway"] = {"url_env": "E2E_PUSHGATEWAY_URL"}
    scenario.config_path.write_text(yaml.safe_dump(config))
    monkeypatch.setenv("E2E_PUSHGATEWAY_URL", gateway)
    scenario.write_day(5)  # the demo's data-quality incident
    report = monitor(str(scenario.config_path), window_end=scenario.window_end(5))
    figures = report.figures()

    selector = '{model="e2e-model", job="watchkeeper_window"}'
    (level,) = _wait(lambda: _query(api, f"watchkeeper_window_verdict_level{selector}"), "the pushed window")
    assert float(level["value"][1]) == 2.0  # critical
    (failures,) = _query(api, f"watchkeeper_window_validation_critical_failures{selector}")
    assert float(failures["value"][1]) == figures["validation.critical_failures"] == 2.0
    (share,) = _query(api, f"watchkeeper_window_drift_share{selector}")
    assert float(share["value"][1]) == pytest.approx(figures["drift.share"])
    (auc,) = _query(api, 'watchkeeper_window_perf_estimated{model="e2e-model", metric="roc_auc"}')
    assert float(auc["value"][1]) == pytest.approx(figures["perf.estimated.roc_auc"])
    (end,) = _query(api, f"watchkeeper_window_end_timestamp_seconds{selector}")
    assert float(end["value"][1]) == report.window_end.timestamp()

    firing = _wait(
        lambda: _query(api, 'ALERTS{alertstate="firing", alertname="validation_failure", model="e2e-model"}'),
        "the validation_failure alert",
    )
    assert {a["metric"]["severity"] for a in firing} == {"critical", "warning"}
    assert not _query(api, 'ALERTS{alertname="high_latency", model="e2e-model"}')
