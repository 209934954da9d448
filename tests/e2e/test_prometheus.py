"""A monitored window through a real Pushgateway into a real Prometheus, read back with PromQL; the
alerting rules in deployments/grafana/ pass promtool and fire on it.

The rules and the dashboard are also checked against the names the exporter really pushes: two real
windows (a classifier and a regressor, evaluated by the library) and a host health sample go through
the exporter into a Pushgateway; the series it then holds become the input of a generated
`promtool test rules` file in which every rule fires on its bad case and none on healthy values, and
every Grafana query must name only those series and return data from a Prometheus scraping them.
Debian packages `prometheus` and `prometheus-pushgateway` (installed by .ci/run); skipped where they
are absent.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from flows.monitor import monitor
from tasks.metrics_tasks import push_window
from tests.e2e.conftest import Scenario
from watchkeeper import demo_data
from watchkeeper.bad_data import assess_labels
from watchkeeper.checks import standard_checks
from watchkeeper.config import load_config_file
from watchkeeper.health import HealthConfig, PushgatewayConfig
from watchkeeper.health.gpu import GpuSample, GpuStatus
from watchkeeper.health.push import push_to_gateway
from watchkeeper.health.sampling import sample_health
from watchkeeper.monitoring import add_data_findings, evaluate_window, fit_checks
from watchkeeper.presentation import versions_label
from watchkeeper.report import MonitoringReport
from watchkeeper.windows import load_window, read_labels, read_reference

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


@contextlib.contextmanager
def _prometheus(tmp_path: Path) -> Iterator[tuple[str, str]]:
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


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[tuple[str, str]]:
    with _prometheus(tmp_path) as servers:
        yield servers


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
    # Every rule links its runbook, relative to the repository root (see the file's header).
    for rule in rules:
        assert rule["annotations"]["runbook_url"] == f"docs/runbooks/{rule['alert']}.md"
        assert (ROOT / rule["annotations"]["runbook_url"]).is_file(), rule["alert"]


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
    # the window's own figures, under the names the no_data rule and the coverage panel query
    (no_data,) = _query(api, f"watchkeeper_window_no_data{selector}")
    assert float(no_data["value"][1]) == figures["window.no_data"] == 0.0
    (coverage,) = _query(api, f"watchkeeper_window_label_coverage{selector}")
    assert float(coverage["value"][1]) == pytest.approx(figures["window.label_coverage"])
    (end,) = _query(api, f"watchkeeper_window_end_timestamp_seconds{selector}")
    assert float(end["value"][1]) == report.window_end.timestamp()
    # the window's name and version label, as every other view writes them, on the info metric only
    (info,) = _query(api, f"watchkeeper_window_info{selector}")
    assert (info["metric"]["window"], info["metric"]["model_version"]) == (
        report.window_name,
        versions_label(report.model_versions),
    )

    firing = _wait(
        lambda: _query(api, 'ALERTS{alertstate="firing", alertname="validation_failure", model="e2e-model"}'),
        "the validation_failure alert",
    )
    assert {a["metric"]["severity"] for a in firing} == {"critical", "warning"}
    assert not _query(api, 'ALERTS{alertname="high_latency", model="e2e-model"}')


# --- the rules and the dashboard against the names the exporter really pushes -------------------


def _evaluate(config_path: Path, end: Any) -> MonitoringReport:
    """One window through every check, as the monitor flow runs them (without Prefect)."""
    loaded = load_config_file(config_path)
    config = loaded.config
    checks = standard_checks(config_path, cache_dir=None, with_html=False)
    fitted = fit_checks(checks, read_reference(config), config)
    start = end - timedelta(days=1)
    result = evaluate_window(
        checks,
        fitted,
        config=config,
        config_hash=loaded.hash,
        start=start,
        end=end,
        load=lambda: load_window(config, start, end),
        labels_complete=True,
    )
    # The run's findings about its data beyond the window's rows, as the flow adds them.
    labels = read_labels(config, since=start, as_of=end)
    return add_data_findings(result, config, as_of=end, now=end, labels=assess_labels(config, labels)).report


def _house_window(root: Path) -> MonitoringReport:
    """The demo's regression model on a shifted day, with its sale prices: `perf_*{metric="mae"}`."""
    day = demo_data.HOUSE_SHIFT_FROM
    (root / "inference").mkdir(parents=True)
    (root / "labels").mkdir()

    def predicted(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
        price = demo_data.house_price(frame, np.random.default_rng(0))
        noise = np.random.default_rng(seed).normal(0.0, 0.05 + 0.02 * frame["distance_km"].to_numpy())
        return frame.assign(prediction=price * np.exp(noise), model_version="1")

    predicted(demo_data.make_house_reference(3, rows=3_000, days=6), 1).to_parquet(root / "reference.parquet")
    logs, labels = demo_data.make_house_day(day, 3, rows=600)
    predicted(logs, 2).to_parquet(root / "inference" / "part-0.parquet")
    end = demo_data.day_plan(day).start + timedelta(days=1)
    labels.assign(label_timestamp=end).to_parquet(root / "labels" / "part-0.parquet")
    config = yaml.safe_load((ROOT / "configs" / "models" / "house-prices.yaml").read_text())
    config["model"]["name"] = "e2e-house"
    config.pop("segments", None)
    config["sources"] = {
        "inference_logs": {"type": "parquet", "path": str(root / "inference")},
        "ground_truth": {"type": "parquet", "path": str(root / "labels")},
        "reference": {"type": "parquet", "path": str(root / "reference.parquet")},
    }
    (root / "model.yaml").write_text(yaml.safe_dump(config))
    return _evaluate(root / "model.yaml", end)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A classifier's window (demo day 5, labels in), a regressor's (house prices, shifted, labels in)
    and a host health sample, pushed by the exporter to a Pushgateway that Prometheus scrapes."""
    root = tmp_path_factory.mktemp("fleet")
    scenario = Scenario(root / "credit")
    scenario.write_labels(5, scenario.write_day(5))
    with pytest.MonkeyPatch.context() as env:
        env.setenv("WATCHKEEPER_STATE_DIR", str(root / "state"))
        reports = [_evaluate(scenario.config_path, scenario.window_end(5)), _house_window(root / "house")]
    # This host, plus one GPU (the CI host has none): the exporter names GPU gauges like any other.
    host = sample_health(HealthConfig(gpu=False, interval_s=0.2))
    gpu = GpuSample(0, name="test", util_pct=40.0, memory_used_mb=2_000.0, memory_total_mb=16_000.0)
    host = dataclasses.replace(host, gpu=GpuStatus("ok", devices=(gpu,)))
    with _prometheus(root) as (gateway, api), pytest.MonkeyPatch.context() as env:
        env.setenv("E2E_PUSHGATEWAY_URL", gateway)
        for report in reports:
            assert push_window.fn(report, PushgatewayConfig(url_env="E2E_PUSHGATEWAY_URL"))
        assert push_to_gateway(host, url=gateway, job=PushgatewayConfig().job)
        _wait(lambda: len(_query(api, "watchkeeper_window_end_timestamp_seconds")) == 2, "both windows")
        _wait(lambda: _query(api, "watchkeeper_health_last_success_timestamp_seconds"), "the health sample")
        yield gateway, api


def _held_series(gateway: str) -> list[tuple[str, dict[str, str]]]:
    """Every Watchkeeper series the Pushgateway exposes: (name, labels as Prometheus keeps them with
    `honor_labels: true`; an empty label is no label)."""
    with urllib.request.urlopen(f"{gateway}/metrics", timeout=5) as response:
        text = response.read().decode()
    return [
        (sample.name, {k: v for k, v in sample.labels.items() if v})
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name.startswith("watchkeeper_")
    ]


@dataclasses.dataclass(frozen=True)
class Case:
    """A bad case of one rule: every held series named `series` (with `metric` when given) takes
    `value`; the alerts of `alertname` expected at `at`, by severity, with their summary (formatted
    with each series' labels)."""

    alertname: str
    severity: str
    series: str
    value: float
    fires: tuple[tuple[str, str], ...]
    metric: str | None = None
    at: str = "1h"


W = "watchkeeper_window_"
CASES = (
    Case(
        "no_data", "critical", W + "no_data", 1, (("critical", "No inference logs in the window of {model}"),)
    ),
    Case(
        "data_drift",
        "warning",
        W + "drift_share",
        0.4,
        (("warning", "40% of the monitored columns of {model} drifted"),),
    ),
    Case(
        "data_drift",  # the critical threshold is past the warning one: both fire
        "critical",
        W + "drift_share",
        0.6,
        (
            ("warning", "60% of the monitored columns of {model} drifted"),
            ("critical", "60% of the monitored columns of {model} drifted"),
        ),
    ),
    Case(
        "performance_drop",
        "warning",
        W + "perf_estimated",
        0.3,
        (("warning", "Estimated ROC AUC of {model} (0.300) fell below its band"),),
        metric="roc_auc",
    ),
    Case(
        "performance_drop",
        "critical",
        W + "perf_realized",
        0.3,
        (("critical", "Realized roc_auc of {model} (0.300) fell below its band"),),
        metric="roc_auc",
    ),
    Case(
        "performance_drop_regression",
        "warning",
        W + "perf_realized",
        3,
        (("warning", "MAE of {model} (3) rose above its band"),),
        metric="mae",
    ),
    Case(
        "target_drift",
        "warning",
        W + "drift_target_drifted",
        1,
        (("warning", "The target of {model} drifted against the reference (labeled rows of the window)"),),
    ),
    Case(
        "concept_drift",
        "critical",
        W + "perf_concept_drift",
        1,
        (("critical", "Concept drift on {model}: its errors no longer match what its confidence predicts"),),
    ),
    Case(
        "validation_failure",
        "warning",
        W + "validation_warning_failures",
        2,
        (("warning", "2 data expectation(s) of {model} at warning level failed"),),
    ),
    Case(
        "validation_failure",
        "critical",
        W + "validation_critical_failures",
        3,
        (("critical", "3 critical data expectation(s) of {model} failed"),),
    ),
    Case(
        "high_latency",
        "warning",
        W + "serving_latency_p95_ms",
        800,
        (("warning", "p95 latency of {model} 800 ms above 500 ms"),),
    ),
    Case(
        "high_latency",
        "critical",
        W + "serving_latency_p95_ms",
        3000,
        (
            ("warning", "p95 latency of {model} 3000 ms above 500 ms"),
            ("critical", "p95 latency of {model} 3000 ms above 2000 ms"),
        ),
    ),
    Case(
        "high_error_rate",
        "warning",
        W + "serving_error_rate",
        0.02,
        (("warning", "Error rate of {model} 2% above 1%"),),
    ),
    Case(
        "high_error_rate",
        "critical",
        W + "serving_error_rate",
        0.1,
        (
            ("warning", "Error rate of {model} 10% above 1%"),
            ("critical", "Error rate of {model} 10% above 5%"),
        ),
    ),
    Case(
        "rows_after_evaluation",
        "warning",
        W + "rows_after_evaluation",
        200,
        (("warning", "200 logged row(s) of {model} stamped after the evaluation time"),),
    ),
    Case(
        "unmatched_labels",
        "warning",
        W + "labels_unmatched_share",
        0.25,
        (("warning", "25% of the labels of {model} match no logged request"),),
    ),
    Case(
        "label_source_unreadable",
        "critical",
        W + "labels_unreadable",
        1,
        (("critical", "The label source of {model} cannot be read"),),
    ),
    Case(
        "column_type_changed",
        "warning",
        W + "type_changed_columns",
        1,
        (("warning", "1 column(s) of {model} changed type between files"),),
    ),
    Case(
        "check_not_fitted",
        "critical",
        W + "checks_not_fitted",
        1,
        (("critical", "1 check part(s) of {model} could not fit the reference"),),
    ),
    Case(
        "monitoring_stale",  # the last window ended at 0; evaluated three days later
        "warning",
        W + "end_timestamp_seconds",
        0,
        (("warning", "No window of {model} monitored for two days: is the monitor deployment running?"),),
        at="3d",
    ),
    Case(
        "health_push_stale",
        "warning",
        "watchkeeper_health_last_success_timestamp_seconds",
        0,
        (("warning", "No host health sample from {instance} for 15 minutes"),),
    ),
)
NOW_S = 3600  # the healthy case is evaluated at 1h: a window or health sample pushed just now


def _healthy(name: str) -> float:
    """A value no rule fires on: quality 1 inside a band of 0.5–2 (higher- and lower-is-better
    alike), timestamps of now, low latency, nothing failed or drifted."""
    if name.endswith(("perf_estimated", "perf_realized")):
        return 1.0
    if name.endswith("perf_band_lower"):
        return 0.5
    if name.endswith("perf_band_upper"):
        return 2.0
    if name.endswith("timestamp_seconds"):
        return NOW_S
    if "latency" in name:
        return 100.0
    return 0.0


def _selector(name: str, labels: dict[str, str]) -> str:
    inner = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"{name}{{{inner}}}"


def test_every_rule_fires_on_the_series_the_pushgateway_holds(fleet: tuple[str, str], tmp_path: Path) -> None:
    gateway, _ = fleet
    held = _held_series(gateway)
    names = {name for name, _ in held}
    # the names the rules and the dashboard are written against, one `window` each
    assert {W + "no_data", W + "label_coverage", W + "perf_realized"} <= names
    assert not any("window_window" in n for n in names)

    rules = [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]
    by_key = {(r["alert"], r["labels"]["severity"]): r for r in rules}
    assert sorted(by_key) == sorted((c.alertname, c.severity) for c in CASES), "a rule without its case"

    def series(case: Case | None) -> list[dict[str, str]]:
        out = []
        for name, labels in held:
            bad = (
                case and name == case.series and (case.metric is None or labels.get("metric") == case.metric)
            )
            value = case.value if bad and case else _healthy(name)
            out.append({"series": _selector(name, labels), "values": f"{value}x80"})
        return out

    def expected(case: Case) -> list[dict[str, Any]]:
        hit = [
            labels
            for name, labels in held
            if name == case.series and (case.metric is None or labels.get("metric") == case.metric)
        ]
        assert hit, f"the Pushgateway holds no {case.series} for {case.alertname}"
        alerts = []
        for labels in hit:
            for severity, summary in case.fires:
                rule = by_key[(case.alertname, severity)]
                kept = dict(labels)
                # PromQL: a one-to-one match `on (model, metric)` keeps only those labels (job goes)
                if on := re.search(r"\bon \(([^)]*)\)", rule["expr"]):
                    kept = {k: v for k, v in labels.items() if k in re.split(r",\s*", on[1])}
                static = {k: v for k, v in rule["annotations"].items() if "{{" not in v}
                alerts.append(
                    {
                        "exp_labels": {**kept, "severity": severity},
                        "exp_annotations": {**static, "summary": summary.format(**labels)},
                    }
                )
        return alerts

    healthy = {
        "name": "healthy values: nothing fires",
        "interval": "1h",
        "input_series": series(None),
        "alert_rule_test": [
            {"eval_time": "1h", "alertname": name, "exp_alerts": []}
            for name in sorted({a for a, _ in by_key})
        ],
    }
    bad = [
        {
            "name": f"{case.alertname}/{case.severity}",
            "interval": "1h",
            "input_series": series(case),
            "alert_rule_test": [
                {"eval_time": case.at, "alertname": case.alertname, "exp_alerts": expected(case)}
            ],
        }
        for case in CASES
    ]
    test_file = tmp_path / "rules-test.yml"
    test_file.write_text(
        yaml.safe_dump({"rule_files": [str(RULES)], "tests": [healthy, *bad]}, sort_keys=False)
    )
    run = subprocess.run(
        [_binary("promtool"), "test", "rules", str(test_file)], capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stdout + run.stderr


_PROMQL_WORDS = {"ALERTS", "time", "by", "on", "ignoring", "without", "sum", "max", "min", "avg", "count"}


def test_every_dashboard_query_names_what_the_pushgateway_holds(
    fleet: tuple[str, str], tmp_path: Path
) -> None:
    gateway, api = fleet
    held = _held_series(gateway)
    names = {name for name, _ in held}
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = {f"{p['title']} #{i}": t["expr"] for p in dashboard["panels"] for i, t in enumerate(p["targets"])}
    assert exprs

    # 1. the names: every identifier outside label matchers is a held series or PromQL's own word
    for where, expr in exprs.items():
        bare = re.sub(r"\{[^}]*\}|\[[^\]]*\]", "", expr)
        words = set(re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", bare)) - _PROMQL_WORDS
        assert words <= names, f"{where}: {expr} queries {sorted(words - names)}, not pushed"
    for variable in dashboard["templating"]["list"]:
        if match := re.fullmatch(r"label_values\((\w+), (\w+)\)", variable.get("query", "")):
            assert any(n == match[1] and match[2] in labels for n, labels in held), variable

    # 2. the syntax: promtool parses them as recording rules, Grafana's variables filled in
    concrete = {
        where: expr.replace("$model", ".+").replace("$metric", "roc_auc") for where, expr in exprs.items()
    }
    rules = [{"record": f"dashboard:query_{i}", "expr": e} for i, e in enumerate(concrete.values())]
    (tmp_path / "dashboard.yml").write_text(
        yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]})
    )
    check = subprocess.run(
        [_binary("promtool"), "check", "rules", str(tmp_path / "dashboard.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr

    # 3. the data: each query returns series from the Prometheus scraping the Pushgateway (ALERTS
    # once the rules have fired on the pushed windows: day 5 fails its critical expectations)
    for where, expr in concrete.items():
        _wait(lambda expr=expr: _query(api, expr), f"data for {where}: {expr}", deadline_s=20)
