"""Push a `HealthReport` to a Prometheus Pushgateway, best effort.

Figures become gauges named ``watchkeeper_health_…`` with indexes and probe names as labels. A
dashboard outage must never fail monitoring, so `push_to_gateway` logs and returns False instead of
raising. ``prometheus_client`` is imported only when a push happens.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from watchkeeper.health.report import HealthReport
from watchkeeper.redaction import redact
from watchkeeper.verdict import Severity

logger = logging.getLogger("watchkeeper.health")  # one name for the package, see host.py

METRIC_PREFIX = "watchkeeper_health_"


def prometheus_samples(report: HealthReport) -> list[tuple[str, dict[str, str], float]]:
    """The report's figures as (metric name, labels, value), indexes and names turned into labels.

    ``cpu.3.percent`` → ``cpu_core_percent{core="3"}``, ``gpu.0.util_pct`` →
    ``gpu_util_pct{gpu="0"}``, ``probe.api.ok`` → ``probe_ok{probe="api"}``, ``disk.percent`` →
    ``disk_percent``; all prefixed with ``watchkeeper_health_``. One metric name has one label set.
    """
    out: list[tuple[str, dict[str, str], float]] = []
    for key, value in report.figures().items():
        parts = key.split(".")
        labels: dict[str, str] = {}
        if parts[0] == "cpu" and len(parts) == 3 and parts[1].isdigit():
            name, labels = f"cpu_core_{parts[2]}", {"core": parts[1]}
        elif parts[0] == "gpu" and len(parts) == 3 and parts[1].isdigit():
            name, labels = f"gpu_{parts[2]}", {"gpu": parts[1]}
        elif parts[0] == "probe" and len(parts) == 3:
            name, labels = f"probe_{parts[2]}", {"probe": parts[1]}
        else:
            name = "_".join(parts)
        out.append((METRIC_PREFIX + re.sub(r"[^A-Za-z0-9_]", "_", name), labels, value))
    return out


def push_to_gateway(
    report: HealthReport, *, url: str, job: str, instance: str | None = None, timeout_s: float = 2.0
) -> bool:
    """Push the report to a Prometheus Pushgateway; best effort, never raises.

    Uses a dedicated registry (nothing else of the process leaks into the push), replaces the group
    ``job/instance`` (HTTP PUT: a metric that disappeared, such as a removed probe, disappears there
    too), and sets ``watchkeeper_health_last_success_timestamp_seconds`` so dashboards can alert on a
    stale push. Credentials in the URL (``https://user:pass@host``) are sent as basic auth. Returns
    True when the gateway accepted the push, False (with a warning logged) otherwise.
    """
    instance = instance or report.host
    samples = prometheus_samples(report)
    verdict = float(max((f.severity for f in report.findings()), default=Severity.OK))
    samples.append((METRIC_PREFIX + "verdict_level", {}, verdict))
    samples.append((METRIC_PREFIX + "last_success_timestamp_seconds", {}, report.sampled_at.timestamp()))
    if not push_samples(samples, url=url, job=job, grouping_key={"instance": instance}, timeout_s=timeout_s):
        return False
    logger.info("pushed health sample to Pushgateway %s (job=%s, instance=%s)", redact(url), job, instance)
    return True


def push_samples(
    samples: list[tuple[str, dict[str, str], float]],
    *,
    url: str,
    job: str,
    grouping_key: dict[str, str],
    timeout_s: float = 2.0,
) -> bool:
    """Push (metric name, labels, value) gauges as the group `job`/`grouping_key`, replacing it.

    A dedicated registry (nothing else of the process leaks into the push); HTTP PUT, so a metric
    that disappeared disappears there too; credentials in the URL are sent as basic auth. Best
    effort: returns False with a warning logged instead of raising.
    """
    try:
        from prometheus_client import CollectorRegistry, Gauge
        from prometheus_client import push_to_gateway as prometheus_push
        from prometheus_client.exposition import basic_auth_handler, default_handler

        registry = CollectorRegistry()
        gauges: dict[str, Gauge] = {}
        for name, labels, value in samples:
            gauge = gauges.get(name)
            if gauge is None:
                gauge = gauges[name] = Gauge(
                    name, f"Watchkeeper figure {name}", list(labels), registry=registry
                )
            (gauge.labels(**labels) if labels else gauge).set(value)

        gateway, username, password = _split_credentials(url)

        def handler(url: str, method: str, timeout: float | None, headers: Any, data: bytes) -> Any:
            if username is not None:
                return basic_auth_handler(url, method, timeout, headers, data, username, password)
            return default_handler(url, method, timeout, headers, data)

        prometheus_push(
            gateway, job=job, registry=registry, grouping_key=grouping_key, timeout=timeout_s, handler=handler
        )
    except Exception as exc:  # best effort by contract: monitoring must not fail on its dashboard
        logger.warning("push to Pushgateway %s failed: %s", redact(url), redact(str(exc)))
        return False
    return True


def _split_credentials(url: str) -> tuple[str, str | None, str | None]:
    from urllib.parse import unquote, urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.username is None:
        return url, None, None
    netloc = parts.hostname or ""
    if ":" in netloc:  # IPv6 literal
        netloc = f"[{netloc}]"
    if parts.port is not None:
        netloc = f"{netloc}:{parts.port}"
    clean = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return clean, unquote(parts.username), unquote(parts.password or "")
