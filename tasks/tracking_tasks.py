"""MLflow I/O for monitoring windows: one run per (model, window), updated in place on re-runs.

The only place (with `tasks/registry_tasks.py`) that imports mlflow. A flow opens its `Tracking`
(client, URI, UI address) once and passes it down. Key names come from `watchkeeper.tracking`.
When MLflow cannot be reached after the task's retries, the report is spooled under the state
directory and logged by the next run, so nothing computed is lost.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlflow.entities import Metric, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from mlflow.utils.validation import MAX_ENTITIES_PER_BATCH, MAX_METRICS_PER_BATCH, MAX_PARAMS_TAGS_PER_BATCH
from prefect import task
from prefect.cache_policies import NO_CACHE

from watchkeeper import tracking as wk_tracking
from watchkeeper.state import state_dir

log = logging.getLogger("watchkeeper.tracking")

# Experiment ids by (tracking URI, name) and window runs by (tracking URI, experiment id, window key),
# cached for the process: a scheduled process logs window after window to the same store.
_experiments: dict[tuple[str, str], str] = {}
_window_runs: dict[tuple[str, str, str], str] = {}
_cache_lock = threading.Lock()


def resolve_tracking_uri(configured: str | None) -> str:
    return configured or wk_tracking.default_tracking_uri(state_dir())


def mlflow_ui_base() -> str:
    return os.environ.get("WATCHKEEPER_MLFLOW_UI_URL", "http://127.0.0.1:5000")


@dataclass(frozen=True)
class Tracking:
    """The MLflow store a flow run logs to: one client, its URI, and the UI address for links."""

    client: MlflowClient
    uri: str
    ui_url: str

    def run_url(self, experiment_id: str, run_id: str) -> str:
        return wk_tracking.run_url(self.ui_url, experiment_id, run_id)


def open_tracking(configured_uri: str | None) -> Tracking:
    """The run's MLflow client (the configured URI, else the SQLite store under the state dir)."""
    uri = resolve_tracking_uri(configured_uri)
    return Tracking(MlflowClient(tracking_uri=uri), uri, mlflow_ui_base())


def ensure_experiment(client: MlflowClient, name: str) -> str:
    """The id of experiment `name`, created on first use (a SQLite store keeps artifacts beside it).

    Cached for the process (`forget_tracking_cache` drops it).
    """
    tracking_uri = client.tracking_uri
    cached = _experiments.get((tracking_uri, name))
    if cached is not None:
        return cached
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        experiment_id = str(exp.experiment_id)
    else:
        artifact_location = None
        if tracking_uri.startswith("sqlite:"):
            # Keep artifacts beside the database instead of ./mlruns in whatever directory we run from.
            db_path = Path(tracking_uri.removeprefix("sqlite:///"))
            artifact_location = (db_path.parent / "mlartifacts").resolve().as_uri()
        experiment_id = str(client.create_experiment(name, artifact_location=artifact_location))
    with _cache_lock:
        _experiments[(tracking_uri, name)] = experiment_id
    return experiment_id


def find_window_run(client: MlflowClient, experiment_id: str, window_key: str) -> Any | None:
    """The window's run (the oldest, should there be two); its id is cached for the process."""
    key = (client.tracking_uri, experiment_id, window_key)
    run_id = _window_runs.get(key)
    if run_id is not None:
        try:
            run = client.get_run(run_id)  # a primary-key read: the run's latest tags
        except MlflowException:
            run = None
        if run is not None and run.info.lifecycle_stage == "active":
            return run
    runs = client.search_runs(
        [experiment_id],
        filter_string=f"tags.`{wk_tracking.TAG_WINDOW_KEY}` = '{window_key}'",
        max_results=2,
        order_by=["attributes.start_time ASC"],
    )
    if not runs:
        return None
    remember_window_run(client, experiment_id, window_key, runs[0].info.run_id)
    return runs[0]


def remember_window_run(client: MlflowClient, experiment_id: str, window_key: str, run_id: str) -> None:
    with _cache_lock:
        _window_runs[(client.tracking_uri, experiment_id, window_key)] = run_id


def forget_tracking_cache(tracking_uri: str | None = None) -> None:
    """Drop cached experiment and run ids (of one store, or all), e.g. after an error."""
    with _cache_lock:
        for cache in (_experiments, _window_runs):
            for key in [k for k in cache if tracking_uri is None or k[0] == tracking_uri]:
                del cache[key]


def log_batches(metrics: list[Metric], tags: list[RunTag]) -> Iterator[tuple[list[Metric], list[RunTag]]]:
    """Metrics and tags in as few `log_batch` calls as MLflow's limits allow (one for a window).

    MLflow takes at most 1000 metrics and 100 tags per call, and 1000 entities in all.
    """
    metrics_left, tags_left = list(metrics), list(tags)
    while True:
        tag_chunk = tags_left[:MAX_PARAMS_TAGS_PER_BATCH]
        room = min(MAX_METRICS_PER_BATCH, MAX_ENTITIES_PER_BATCH - len(tag_chunk))
        metric_chunk = metrics_left[:room]
        yield metric_chunk, tag_chunk
        tags_left, metrics_left = tags_left[len(tag_chunk) :], metrics_left[len(metric_chunk) :]
        if not tags_left and not metrics_left:
            return


def log_texts(client: MlflowClient, run_id: str, texts: dict[str, str]) -> None:
    """Log text artifacts (path inside the run -> content) with one `log_artifacts` call."""
    if not texts:
        return
    with tempfile.TemporaryDirectory(prefix="watchkeeper-artifacts-") as tmp:
        root = Path(tmp).resolve()
        for name, text in texts.items():
            path = root / name
            if root not in path.resolve().parents:
                raise ValueError(f"artifact name {name!r} leaves the run's artifact directory")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        client.log_artifacts(run_id, tmp)


def write_report_run(
    payload: dict[str, Any], *, tracking: Tracking, experiment: str, artifacts: dict[str, str]
) -> dict[str, str]:
    """Create or update the window's run from a report payload (the JSON form of the report).

    `payload` holds ``tags``, ``metrics`` (MLflow keys), ``timestamp_ms``, ``run_name`` and ``report``.
    Each evaluation of a window logs its metrics at a new step, so the run's latest values are the
    latest evaluation while the history keeps earlier ones (e.g. before late labels arrived).
    """
    try:
        return _write_report_run(payload, tracking=tracking, experiment=experiment, artifacts=artifacts)
    except MlflowException:
        # A cached experiment or run may have been deleted meanwhile: look them up afresh, once.
        forget_tracking_cache(tracking.uri)
        return _write_report_run(payload, tracking=tracking, experiment=experiment, artifacts=artifacts)


def _write_report_run(
    payload: dict[str, Any], *, tracking: Tracking, experiment: str, artifacts: dict[str, str]
) -> dict[str, str]:
    client = tracking.client
    experiment_id = ensure_experiment(client, experiment)
    tags: dict[str, str] = dict(payload["tags"])
    existing = find_window_run(client, experiment_id, tags[wk_tracking.TAG_WINDOW_KEY])
    if existing is None:
        run = client.create_run(experiment_id, run_name=payload["run_name"], tags=tags)
        run_id = run.info.run_id
        remember_window_run(client, experiment_id, tags[wk_tracking.TAG_WINDOW_KEY], run_id)
        step = 0
    else:
        run_id = existing.info.run_id
        step = int(existing.data.tags.get(wk_tracking.TAG_EVALUATIONS, "0"))
    tags[wk_tracking.TAG_EVALUATIONS] = str(step + 1)
    ts = int(payload["timestamp_ms"])
    metrics = [Metric(k, float(v), ts, step) for k, v in payload["metrics"].items()]
    for metric_chunk, tag_chunk in log_batches(metrics, [RunTag(k, v) for k, v in tags.items()]):
        client.log_batch(run_id, metrics=metric_chunk, tags=tag_chunk)
    log_texts(
        client,
        run_id,
        {wk_tracking.REPORT_ARTIFACT: json.dumps(payload["report"], indent=2), **artifacts},
    )
    client.set_terminated(run_id)
    return {
        "run_id": run_id,
        "experiment_id": experiment_id,
        "url": tracking.run_url(experiment_id, run_id),
    }


@task(name="open-mlflow-run", cache_policy=NO_CACHE)
def open_window_run(report: Any, *, tracking: Tracking, experiment: str) -> dict[str, str] | None:
    """Find or create the window's MLflow run early, so notifications can link to it.

    Returns None when MLflow is unreachable: alerts still go out, without the link.
    """
    try:
        client = tracking.client
        experiment_id = ensure_experiment(client, experiment)
        tags = wk_tracking.run_tags(report)
        run = find_window_run(client, experiment_id, tags[wk_tracking.TAG_WINDOW_KEY])
        if run is None:
            run = client.create_run(
                experiment_id,
                run_name=wk_tracking.run_name(report.model, report.window_start, report.window_end),
                tags=tags,
            )
            remember_window_run(client, experiment_id, tags[wk_tracking.TAG_WINDOW_KEY], run.info.run_id)
        return {
            "run_id": run.info.run_id,
            "experiment_id": experiment_id,
            "url": tracking.run_url(experiment_id, run.info.run_id),
        }
    except Exception as exc:
        log.warning("MLflow unavailable while opening the window's run: %s", exc)
        return None


def report_payload(report: Any) -> dict[str, Any]:
    return {
        "tags": wk_tracking.run_tags(report),
        "metrics": wk_tracking.metrics_for(report),
        "timestamp_ms": wk_tracking.metric_timestamp_ms(report),
        "run_name": wk_tracking.run_name(report.model, report.window_start, report.window_end),
        "report": report.to_dict(),
    }


def spool_dir(state: Path) -> Path:
    """Where reports that could not be logged wait for the next run (under the state directory)."""
    return state / "spool" / "mlflow"


def spool_report(
    payload: dict[str, Any], *, spool: Path, tracking: Tracking, experiment: str, artifacts: dict[str, str]
) -> Path:
    """Keep a report that could not be logged, to be logged by the next run."""
    spool.mkdir(parents=True, exist_ok=True)
    key = (
        wk_tracking.metric_key(payload["tags"][wk_tracking.TAG_WINDOW_KEY])
        .replace("/", "_")
        .replace(" ", "_")
    )
    path = spool / f"{key}.json"
    record = {
        "payload": payload,
        "tracking_uri": tracking.uri,
        "experiment": experiment,
        "artifacts": artifacts,
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record))
    tmp.replace(path)
    return path


@task(name="log-to-mlflow", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[2, 10])
def log_to_mlflow(
    payload: dict[str, Any], *, tracking: Tracking, experiment: str, artifacts: dict[str, str]
) -> dict[str, str]:
    """Log the window's report to its MLflow run (one run per model and window; re-runs update it)."""
    return write_report_run(payload, tracking=tracking, experiment=experiment, artifacts=artifacts)


@task(name="attach-to-mlflow-run", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[2, 10])
def attach_to_window_run(run_id: str, artifacts: dict[str, str], *, tracking: Tracking) -> None:
    """Add artifacts built after the window was logged (the human report) to its MLflow run."""
    log_texts(tracking.client, run_id, artifacts)


@task(name="flush-mlflow-spool", cache_policy=NO_CACHE)
def flush_mlflow_spool(spool: Path, tracking: Tracking) -> list[str]:
    """Log reports that earlier runs could not log (MLflow was down); returns the run ids logged."""
    done: list[str] = []
    if not spool.exists():
        return done
    for path in sorted(spool.glob("*.json")):
        record = json.loads(path.read_text())
        # A report spooled for another store (the configuration changed since) goes there.
        target = tracking if record["tracking_uri"] == tracking.uri else open_tracking(record["tracking_uri"])
        try:
            result = write_report_run(
                record["payload"],
                tracking=target,
                experiment=record["experiment"],
                artifacts=record["artifacts"],
            )
        except Exception as exc:  # still down: keep it for the next run
            log.warning("MLflow still unavailable for spooled report %s: %s", path.name, exc)
            break
        path.unlink()
        done.append(result["run_id"])
    return done
