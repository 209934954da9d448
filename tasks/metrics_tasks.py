"""Pushes the monitored window's figures to the Prometheus Pushgateway (best effort)."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from watchkeeper.exposition import WINDOW_JOB, window_samples
from watchkeeper.health import PushgatewayConfig
from watchkeeper.health.push import push_samples
from watchkeeper.report import MonitoringReport


@task(name="push-window-to-gateway", cache_policy=NO_CACHE)
def push_window(report: MonitoringReport, pushgateway: PushgatewayConfig | None) -> bool:
    """The window's gauges to the gateway of `health.pushgateway` (job ``watchkeeper_window``,
    grouped by model). No gateway configured or no URL set: nothing is pushed; an unreachable
    gateway is a warning, never a failed monitor run."""
    url = pushgateway.resolve_url() if pushgateway is not None else None
    if pushgateway is None or not url:
        return False
    return push_samples(
        window_samples(report),
        url=url,
        job=WINDOW_JOB,
        grouping_key={"model": report.model},
        timeout_s=pushgateway.timeout_s,
    )
