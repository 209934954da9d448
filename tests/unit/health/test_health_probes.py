"""Network probes against a real local HTTP server: up, slow (timeout), down (refused), bad status."""

from __future__ import annotations

import socket
import time

import pytest
from pydantic import ValidationError

from watchkeeper.health import (
    HealthConfig,
    HttpProbeConfig,
    TcpProbeConfig,
    probe_http,
    probe_tcp,
    run_probes,
    sample_health,
    split_address,
)
from watchkeeper.verdict import Severity


def test_http_up(http_server) -> None:
    result = probe_http(HttpProbeConfig(name="api", url=f"{http_server.url}/healthz"))
    assert result.ok
    assert result.status_code == 200
    assert result.error is None
    assert 0 < result.latency_ms < 1000
    assert [(r.method, r.path) for r in http_server.requests] == [("GET", "/healthz")]
    assert http_server.requests[0].headers["User-Agent"] == "watchkeeper-health"


def test_http_slow_times_out(http_server) -> None:
    http_server.slow_s = 1.5
    start = time.perf_counter()
    result = probe_http(HttpProbeConfig(name="api", url=f"{http_server.url}/slow", timeout_s=0.2))
    elapsed = time.perf_counter() - start
    assert not result.ok
    assert result.error == "timed out after 0.2s"
    assert result.latency_ms is None
    assert elapsed < 1.0  # gave up at the timeout, did not wait for the server


def test_http_down_connection_refused(closed_port: int) -> None:
    result = probe_http(HttpProbeConfig(name="api", url=f"http://127.0.0.1:{closed_port}/healthz"))
    assert not result.ok
    assert result.error == "connection refused"
    assert result.status_code is None


@pytest.mark.parametrize(
    ("path", "ok_statuses", "ok", "status"),
    [
        ("/unavailable", (), False, 503),  # a 5xx answer is down, with its latency
        ("/moved", (), False, 302),  # redirects are not followed: a login page is not health
        ("/unavailable", (200, 503), True, 503),  # an endpoint that uses 503 for "degraded but up"
    ],
)
def test_http_status_decides(http_server, path, ok_statuses, ok, status) -> None:
    probe = HttpProbeConfig(name="api", url=http_server.url + path, ok_statuses=ok_statuses)
    result = probe_http(probe)
    assert (result.ok, result.status_code) == (ok, status)
    assert result.latency_ms is not None
    assert len(http_server.requests) == 1


def test_http_probe_bypasses_env_proxy(http_server, monkeypatch, closed_port: int) -> None:
    # A proxy that does not exist: a probe going through it would fail.
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{closed_port}")
    monkeypatch.setenv("no_proxy", "")
    assert probe_http(HttpProbeConfig(name="api", url=f"{http_server.url}/healthz")).ok
    through = HttpProbeConfig(name="api", url=f"{http_server.url}/healthz", use_env_proxy=True)
    assert probe_http(through).error == "connection refused"


def test_http_target_is_redacted(http_server) -> None:
    url = f"{http_server.url}/healthz?token=s3cr3t-value"
    result = probe_http(HttpProbeConfig(name="api", url=url))
    assert result.ok
    assert result.target == f"{http_server.url}/healthz?token=***"


def test_tcp_up_and_down(closed_port: int) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        up = probe_tcp(TcpProbeConfig(name="db", address=f"127.0.0.1:{port}"))
    assert up.ok and up.latency_ms is not None and up.latency_ms < 1000
    down = probe_tcp(TcpProbeConfig(name="db", address=f"127.0.0.1:{closed_port}"))
    assert (down.ok, down.error, down.latency_ms) == (False, "connection refused", None)


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("db.internal:5432", ("db.internal", 5432)),
        ("[::1]:6379", ("::1", 6379)),  # IPv6 needs brackets to tell the port apart
        (" 10.0.0.7:9092 ", ("10.0.0.7", 9092)),
    ],
)
def test_split_address(address, expected) -> None:
    assert split_address(address) == expected


@pytest.mark.parametrize("address", ["db.internal", "::1:6379", "host:0", "host:70000", "host:port"])
def test_bad_address_rejected_at_load(address) -> None:
    with pytest.raises(ValidationError):
        TcpProbeConfig(name="db", address=address)


def test_probe_names_unique_and_figure_safe(http_server) -> None:
    with pytest.raises(ValidationError, match="probe names must be unique"):
        HealthConfig(
            http_probes=[{"name": "api", "url": "http://a/"}],
            tcp_probes=[{"name": "api", "address": "a:1"}],
        )
    with pytest.raises(ValidationError):
        HttpProbeConfig(name="model.api", url="http://a/")  # a dot would split the figure name


def test_probes_run_concurrently_with_the_sample(http_server, closed_port: int) -> None:
    http_server.slow_s = 1.0
    config = HealthConfig(
        gpu=False,
        http_probes=[
            {"name": "api", "url": f"{http_server.url}/healthz", "latency_warning_ms": 0.001},
            {"name": "slow", "url": f"{http_server.url}/slow", "timeout_s": 0.3, "severity": "warning"},
        ],
        tcp_probes=[{"name": "feature-store", "address": f"127.0.0.1:{closed_port}"}],
    )
    start = time.perf_counter()
    report = sample_health(config, interval_s=0.3)
    elapsed = time.perf_counter() - start
    # Interval and probe timeouts overlap: about max(0.3, 0.3), far from their sum plus the slow reply.
    assert elapsed < 0.9
    f = report.figures()
    assert (f["probe.api.ok"], f["probe.api.status_code"]) == (1.0, 200.0)
    assert f["probe.api.latency_ms"] > 0
    assert f["probe.slow.ok"] == 0.0 and "probe.slow.latency_ms" not in f
    assert f["probe.feature-store.ok"] == 0.0
    findings = {f.message.split(": ", 1)[1]: f.severity for f in report.findings()}
    host = f"http://127.0.0.1:{http_server.url.rsplit(':', 1)[1]}"
    assert findings[f"probe slow ({host}/slow) is down: timed out after 0.3s"] is Severity.WARNING
    assert (
        findings[f"probe feature-store (127.0.0.1:{closed_port}) is down: connection refused"]
        is Severity.CRITICAL
    )
    [latency] = [k for k in findings if k.startswith("probe api")]
    assert findings[latency] is Severity.WARNING and "(warning at 0.001 ms)" in latency


def test_run_probes_keeps_config_order(http_server, closed_port: int) -> None:
    config = HealthConfig(
        tcp_probes=[{"name": "b", "address": f"127.0.0.1:{closed_port}"}],
        http_probes=[{"name": "a", "url": f"{http_server.url}/healthz"}],
    )
    assert [r.name for r in run_probes(config)] == ["a", "b"]
