"""Host health: sample CPU, memory, disk, network, GPUs and probes on the host that serves a model.

The composition root of the health run: the config is loaded, the state store opened and the
tracking and Pushgateway URLs resolved once here, then handed to the tasks (the store last, so an
outage of the state database never costs the sample).
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger

from tasks.data_tasks import open_model_config
from tasks.health_tasks import (
    log_health_to_mlflow,
    publish_health_artifact,
    push_health,
    sample_health,
    store_latest_health,
)
from tasks.observability import run_logging
from tasks.presentation_tasks import name_model_run
from tasks.tracking_tasks import resolve_tracking_uri
from watchkeeper.runtime import apply_runtime_defaults
from watchkeeper.state import open_state


@flow(name="system-health", log_prints=True, flow_run_name=name_model_run("health"))
def system_health(config_path: str) -> dict[str, Any]:
    """Sample the serving host's health (CPU, memory, swap, disk, network, NVIDIA GPUs, probes).

    Logs the figures to the MLflow experiment `watchkeeper/system-health` (one run per host, metrics
    as time series), pushes them to a Prometheus Pushgateway when one is configured, and keeps the
    latest sample for the model's alert rules (`health.*`). A machine without a GPU reports "no GPU"
    and carries on; a metric a GPU does not support is skipped.
    """
    apply_runtime_defaults()
    loaded = open_model_config(config_path)
    config = loaded.config
    model = config.model.name
    with run_logging(model, config_hash=loaded.hash):
        log = get_run_logger()
        tracking_uri = resolve_tracking_uri(config.tracking.tracking_uri)
        pushgateway = config.health.pushgateway
        push_url = pushgateway.resolve_url() if pushgateway is not None else None

        report = sample_health(config.health)
        try:
            log_health_to_mlflow(report, tracking_uri=tracking_uri)
        except Exception as exc:  # the sample is still pushed and stored below
            log.error("could not log health to MLflow: %s", exc)
        push_health(report, pushgateway, url=push_url)
        # Opened after sampling and pushing, as before: a state-database outage still leaves the
        # sample in MLflow and the Pushgateway.
        store_latest_health(model, report, store=open_state())
        publish_health_artifact(model, report)
        for finding in report.findings():
            print(f"[{finding.severity.label}] {finding.message}")
        return report.to_dict()
