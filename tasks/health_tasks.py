"""Host health as Prefect tasks: sampling, MLflow time series, Pushgateway, latest sample in state.

Every resource (tracking URI, Pushgateway URL, state store) comes in as an argument from
`flows/system_health.py`; the tasks add the MLflow client, retries and the Prefect UI artifact.
"""

from __future__ import annotations

import time

from mlflow.entities import Metric, RunTag
from mlflow.tracking import MlflowClient
from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from tasks.artifact_tasks import artifact_key
from tasks.tracking_tasks import ensure_experiment
from watchkeeper import health, tracking
from watchkeeper.health import latest
from watchkeeper.state import StateStore
from watchkeeper.storage import check_sqlite_url
from watchkeeper.timeutil import utcnow

HEALTH_EXPERIMENT = "watchkeeper/system-health"

sample_health = task(name="sample-health", cache_policy=NO_CACHE)(health.sample_health)


@task(name="log-health-to-mlflow", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[2, 10])
def log_health_to_mlflow(report: health.HealthReport, *, tracking_uri: str) -> str:
    """Append the sample to the host's run in the system-health experiment (one run per host)."""
    check_sqlite_url(tracking_uri, what="the MLflow store")
    client = MlflowClient(tracking_uri=tracking_uri)
    experiment_id = ensure_experiment(client, HEALTH_EXPERIMENT)
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
def push_health(
    report: health.HealthReport, pushgateway: health.PushgatewayConfig | None, *, url: str | None
) -> bool:
    """Best effort: a Pushgateway outage never fails the health run. No gateway or no URL: no push."""
    if pushgateway is None or not url:
        return False
    return health.push_to_gateway(
        report, url=url, job=pushgateway.job, instance=pushgateway.instance, timeout_s=pushgateway.timeout_s
    )


@task(name="store-latest-health", cache_policy=NO_CACHE)
def store_latest_health(model: str, report: health.HealthReport, *, store: StateStore) -> None:
    """Keep the latest sample so the model's monitor run and alert rules can read `health.*`."""
    latest.store_latest_health(store, model, report, at=utcnow())


def publish_health_artifact(model: str, report: health.HealthReport) -> None:
    """What the sample publishes (its findings and figures) as markdown artifacts of the flow run."""
    for name, text in report.publish().markdown.items():
        create_markdown_artifact(key=artifact_key(model, name), markdown=text)
