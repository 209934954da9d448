"""Host health: sample CPU, memory, disk, network, GPUs and probes on the host that serves a model."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger

from tasks.artifact_tasks import artifact_key
from tasks.data_tasks import load_model_config
from tasks.health_tasks import log_health_to_mlflow, push_health, sample_health, store_latest_health
from tasks.observability import run_logging
from tasks.tracking_tasks import resolve_tracking_uri
from watchkeeper.config import MonitorConfig
from watchkeeper.runtime import apply_runtime_defaults


@flow(name="system-health", log_prints=True)
def system_health(config_path: str) -> dict[str, Any]:
    """Sample the serving host's health (CPU, memory, swap, disk, network, NVIDIA GPUs, probes).

    Logs the figures to the MLflow experiment `watchkeeper/system-health` (one run per host, metrics
    as time series), pushes them to a Prometheus Pushgateway when one is configured, and keeps the
    latest sample for the model's alert rules (`health.*`). A machine without a GPU reports "no GPU"
    and carries on; a metric a GPU does not support is skipped.
    """
    apply_runtime_defaults()
    config = load_model_config(config_path)
    with run_logging(config.model.name, config_path=config_path):
        return _system_health(config)


def _system_health(config: MonitorConfig) -> dict[str, Any]:
    from prefect.artifacts import create_markdown_artifact

    log = get_run_logger()
    report = sample_health(config.health)
    try:
        log_health_to_mlflow(report, tracking_uri=resolve_tracking_uri(config.tracking.tracking_uri))
    except Exception as exc:  # the sample is still stored and pushed below
        log.error("could not log health to MLflow: %s", exc)
    push_health(report, config.health)
    store_latest_health(config.model.name, report)
    rows = "\n".join(f"| `{k}` | {v:.4g} |" for k, v in sorted(report.figures().items()))
    findings = "\n".join(f"- [{f.severity.label}] {f.message}" for f in report.findings()) or "- all clear"
    create_markdown_artifact(
        key=artifact_key(config.model.name, "system-health"),
        markdown=f"# Health of {report.host}\n\n{findings}\n\n| figure | value |\n|---|---|\n{rows}\n",
    )
    for finding in report.findings():
        print(f"[{finding.severity.label}] {finding.message}")
    return report.to_dict()
