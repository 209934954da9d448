"""Host health as Prefect tasks: sampling, MLflow time series, Pushgateway, latest sample in state."""

from __future__ import annotations

import time
from typing import Any

from mlflow.entities import Metric, RunTag
from mlflow.tracking import MlflowClient
from prefect import task
from prefect.cache_policies import NO_CACHE

from tasks.tracking_tasks import ensure_experiment
from watchkeeper import health, tracking
from watchkeeper.state import open_state

HEALTH_EXPERIMENT = "watchkeeper/system-health"
HEALTH_NAMESPACE = "health-latest"

sample_health = task(name="sample-health", cache_policy=NO_CACHE)(health.sample_health)


@task(name="log-health-to-mlflow", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[2, 10])
def log_health_to_mlflow(report: health.HealthReport, *, tracking_uri: str) -> str:
    """Append the sample to the host's run in the system-health experiment (one run per host)."""
    client = MlflowClient(tracking_uri=tracking_uri)
    experiment_id = ensure_experiment(client, HEALTH_EXPERIMENT, tracking_uri)
    runs = client.search_runs(
        [experiment_id], filter_string=f"tags.`watchkeeper.host` = '{report.host}'", max_results=1
    )
    if runs:
        run_id = runs[0].info.run_id
    else:
        run_id = client.create_run(
            experiment_id,
            run_name=f"health {report.host}",
            tags={"watchkeeper.host": report.host, tracking.TAG_KIND: "health"},
        ).info.run_id
    now_ms = int(time.time() * 1000)
    step = now_ms // 1000  # one step per second of wall time: samples line up across hosts
    metrics = [
        Metric(tracking.metric_key(f"health.{k}"), float(v), now_ms, step)
        for k, v in report.figures().items()
        if v is not None
    ]
    for i in range(0, len(metrics), 1000):
        client.log_batch(
            run_id, metrics=metrics[i : i + 1000], tags=[RunTag("watchkeeper.last_sample_ms", str(now_ms))]
        )
    return run_id


@task(name="push-health-to-gateway", cache_policy=NO_CACHE)
def push_health(report: health.HealthReport, config: health.HealthConfig) -> bool:
    """Best effort: a Pushgateway outage never fails the health run."""
    if config.pushgateway is None:
        return False
    url = config.pushgateway.resolve_url()
    if not url:
        return False
    return health.push_to_gateway(
        report,
        url=url,
        job=config.pushgateway.job,
        instance=config.pushgateway.instance,
        timeout_s=config.pushgateway.timeout_s,
    )


@task(name="store-latest-health", cache_policy=NO_CACHE)
def store_latest_health(model: str, report: health.HealthReport) -> None:
    """Keep the latest sample so the model's monitor run and alert rules can read `health.*`."""
    payload: dict[str, Any] = {"at": time.time(), "host": report.host, "figures": report.figures()}
    open_state().put_json(HEALTH_NAMESPACE, model, payload)
