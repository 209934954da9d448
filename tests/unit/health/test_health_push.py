"""Pushgateway push against a real local HTTP server that records what prometheus-client sends."""

from __future__ import annotations

import base64
import logging
import time
from datetime import UTC, datetime

import pytest

from watchkeeper.health import (
    CpuSample,
    DiskSample,
    GpuSample,
    GpuStatus,
    HealthReport,
    MemorySample,
    ProbeResult,
    PushgatewayConfig,
    prometheus_samples,
    push_to_gateway,
)

SAMPLED_AT = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)


@pytest.fixture
def report() -> HealthReport:
    return HealthReport(
        host="serve-1",
        sampled_at=SAMPLED_AT,
        interval_s=1.0,
        cpu=CpuSample(percent=20.0, per_core=(10.0, 30.0), count=2, load_1m=0.5, load_5m=0.4, load_15m=0.3),
        memory=MemorySample(1000, 950, 50, 95.0, 0, 0, 0.0),
        disks=(DiskSample("/", 100.0, 50.0, 50.0, 50.0),),
        disk_io=None,
        net=None,
        gpu=GpuStatus("ok", devices=(GpuSample(index=0, util_pct=35.0, temperature_c=61.0),)),
        probes=(ProbeResult("api", "http", "http://x/healthz", ok=True, latency_ms=12.5, status_code=200),),
    )


def _lines(body: bytes) -> set[str]:
    return {line for line in body.decode().splitlines() if line and not line.startswith("#")}


def test_push_sends_figures_with_labels(http_server, report) -> None:
    assert push_to_gateway(report, url=http_server.url, job="watchkeeper_health", instance="serve-1")
    [request] = http_server.requests
    # PUT replaces the whole group: a probe removed from the config disappears from the gateway too.
    assert request.method == "PUT"
    assert request.path == "/metrics/job/watchkeeper_health/instance/serve-1"
    lines = _lines(request.body)
    assert "watchkeeper_health_cpu_percent 20.0" in lines
    assert 'watchkeeper_health_cpu_core_percent{core="1"} 30.0' in lines
    assert "watchkeeper_health_memory_percent 95.0" in lines
    assert 'watchkeeper_health_gpu_util_pct{gpu="0"} 35.0' in lines
    assert "watchkeeper_health_gpu_max_temperature_c 61.0" in lines
    assert 'watchkeeper_health_probe_ok{probe="api"} 1.0' in lines
    assert 'watchkeeper_health_probe_latency_ms{probe="api"} 12.5' in lines
    [stamp] = [
        line for line in lines if line.startswith("watchkeeper_health_last_success_timestamp_seconds ")
    ]
    assert float(stamp.split()[1]) == SAMPLED_AT.timestamp()
    assert "watchkeeper_health_verdict_level 1.0" in lines  # memory at 95% is a warning


def test_push_instance_defaults_to_host(http_server, report) -> None:
    assert push_to_gateway(report, url=http_server.url, job="wk")
    assert http_server.requests[0].path == "/metrics/job/wk/instance/serve-1"


def test_push_uses_basic_auth_from_url(http_server, report) -> None:
    url = http_server.url.replace("http://", "http://pusher:p%40ss@")
    assert push_to_gateway(report, url=url, job="wk", instance="i")
    expected = "Basic " + base64.b64encode(b"pusher:p@ss").decode()
    assert http_server.requests[0].headers["Authorization"] == expected


def test_push_failure_is_false_and_logged_without_secrets(closed_port, report, caplog) -> None:
    url = f"http://pusher:hunter22@127.0.0.1:{closed_port}"
    with caplog.at_level(logging.WARNING, logger="watchkeeper.health"):
        assert push_to_gateway(report, url=url, job="wk", instance="i", timeout_s=0.5) is False
    [record] = caplog.records
    assert "push to Pushgateway" in record.getMessage()
    assert "hunter22" not in record.getMessage()
    assert f"http://pusher:***@127.0.0.1:{closed_port}" in record.getMessage()


def test_push_rejected_by_gateway_is_false(http_server, report) -> None:
    http_server.push_status = 500
    assert push_to_gateway(report, url=http_server.url, job="wk", instance="i") is False
    assert len(http_server.requests) == 1


def test_push_slow_gateway_times_out(http_server, report) -> None:
    # A hung gateway must not hold up the health flow beyond the short timeout.
    http_server.push_delay_s = 1.5
    start = time.perf_counter()
    assert push_to_gateway(report, url=http_server.url, job="wk", instance="i", timeout_s=0.2) is False
    assert time.perf_counter() - start < 1.0


def test_metric_names_have_one_label_set_each(report) -> None:
    # prometheus-client needs fixed label names per metric: cpu.percent and cpu.<i>.percent must not clash.
    seen: dict[str, tuple[str, ...]] = {}
    for name, labels, _ in prometheus_samples(report):
        assert seen.setdefault(name, tuple(sorted(labels))) == tuple(sorted(labels)), name


def test_pushgateway_url_from_env(monkeypatch) -> None:
    config = PushgatewayConfig(url_env="WK_TEST_PUSHGATEWAY")
    monkeypatch.delenv("WK_TEST_PUSHGATEWAY", raising=False)
    assert config.resolve_url() is None
    monkeypatch.setenv("WK_TEST_PUSHGATEWAY", "http://gw:9091")
    assert config.resolve_url() == "http://gw:9091"
    monkeypatch.setenv("WK_TEST_PUSHGATEWAY", "")
    assert config.resolve_url() is None  # an empty variable means "not configured", not a URL
