"""Network probes: an HTTP GET of a health URL, a TCP connect to a dependency, run concurrently.

A probe never raises: a timeout, a refused connection or a bad status is a `ProbeResult` that is
down, with the reason in words (URLs and errors redacted, since a URL may carry credentials).
"""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

from watchkeeper.health.config import HealthConfig, HttpProbeConfig, TcpProbeConfig
from watchkeeper.redaction import redact


@dataclass(frozen=True)
class ProbeResult:
    name: str
    kind: Literal["http", "tcp"]
    target: str  # redacted URL or host:port
    ok: bool
    latency_ms: float | None  # None when no answer came (timeout, refused, DNS failure)
    status_code: int | None = None
    error: str | None = None
    severity: Literal["warning", "critical"] = "critical"
    latency_warning_ms: float | None = None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # A health endpoint that redirects (to a login page, say) is reported as its own status.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _down(
    probe: HttpProbeConfig | TcpProbeConfig, kind: Literal["http", "tcp"], target: str, error: str
) -> ProbeResult:
    return ProbeResult(
        probe.name, kind, target, ok=False, latency_ms=None, error=error, severity=probe.severity
    )


def probe_http(probe: HttpProbeConfig) -> ProbeResult:
    """GET `probe.url` once; latency is the time to the response headers plus a short body read.

    The timeout applies to each socket operation (connect, each read), as urllib does; a server that
    sends nothing within it is reported down with "timed out".
    """
    handlers: list[Any] = [_NoRedirect()]
    if not probe.use_env_proxy:
        handlers.append(urllib.request.ProxyHandler({}))
    opener = urllib.request.build_opener(*handlers)
    request = urllib.request.Request(probe.url, method="GET", headers={"User-Agent": "watchkeeper-health"})
    target = redact(probe.url)
    timed_out = f"timed out after {probe.timeout_s:g}s"
    start = time.perf_counter()
    try:
        with opener.open(request, timeout=probe.timeout_s) as response:
            status = int(response.status)
            response.read(65536)  # a little of the body, so the server sees a clean close
    except urllib.error.HTTPError as exc:  # 4xx/5xx (and 3xx, redirects being off) still answered
        status = int(exc.code)
        exc.close()
    except TimeoutError:
        return _down(probe, "http", target, timed_out)
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            return _down(probe, "http", target, timed_out)
        return _down(probe, "http", target, redact(_describe(exc.reason)))
    except (OSError, ValueError) as exc:
        return _down(probe, "http", target, redact(_describe(exc)))
    latency_ms = (time.perf_counter() - start) * 1000.0
    ok = status in probe.ok_statuses if probe.ok_statuses else 200 <= status < 300
    return ProbeResult(
        probe.name,
        "http",
        target,
        ok=ok,
        latency_ms=latency_ms,
        status_code=status,
        error=None if ok else f"HTTP {status}",
        severity=probe.severity,
        latency_warning_ms=probe.latency_warning_ms,
    )


def probe_tcp(probe: TcpProbeConfig) -> ProbeResult:
    """Open (and close) a TCP connection; latency is the connect time, DNS lookup included."""
    start = time.perf_counter()
    try:
        with socket.create_connection((probe.host, probe.port), timeout=probe.timeout_s):
            latency_ms = (time.perf_counter() - start) * 1000.0
    except TimeoutError:
        return _down(probe, "tcp", probe.address, f"timed out after {probe.timeout_s:g}s")
    except OSError as exc:
        return _down(probe, "tcp", probe.address, _describe(exc))
    return ProbeResult(
        probe.name,
        "tcp",
        probe.address,
        ok=True,
        latency_ms=latency_ms,
        severity=probe.severity,
        latency_warning_ms=probe.latency_warning_ms,
    )


def _describe(exc: Any) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return f"name resolution failed: {exc.strerror or exc}"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def run_probes(config: HealthConfig) -> tuple[ProbeResult, ...]:
    """Run every configured probe concurrently; results in config order (HTTP first, then TCP)."""
    jobs: list[Any] = [(probe_http, p) for p in config.http_probes] + [
        (probe_tcp, p) for p in config.tcp_probes
    ]
    if not jobs:
        return ()
    with ThreadPoolExecutor(max_workers=min(16, len(jobs)), thread_name_prefix="wk-probe") as pool:
        futures = [pool.submit(fn, p) for fn, p in jobs]
        return tuple(f.result() for f in futures)
