"""MLflow I/O for monitoring windows: one run per (model, window), updated in place on re-runs.

The only place (with `tasks/registry_tasks.py`) that imports mlflow. A flow opens its `Tracking`
(client, URI, UI address) once and passes it down. Key names come from `watchkeeper.tracking`.
When MLflow cannot be reached after the task's retries, the report is spooled under the state
directory and logged by the next run, so nothing computed is lost; the window's row in the state
database gets its run id then. A spool file is written whole or not at all (a full disk is an error
naming it); a temporary left by a crash is adopted when complete, removed otherwise, at the next
run. A spool file that cannot be read is moved to `spool/quarantine/` and named, never blocking a run. The outage itself is bounded and reported by `tasks/outage_tasks.py`.
Create-or-update of a window's run holds the window's lease in the state database
(`watchkeeper.retraining.lease.hold_lease`), so concurrent runs of one window make one MLflow run.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from mlflow.entities import Metric, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from mlflow.utils.validation import MAX_ENTITIES_PER_BATCH, MAX_METRICS_PER_BATCH, MAX_PARAMS_TAGS_PER_BATCH
from prefect import task
from prefect.cache_policies import NO_CACHE

from tasks.outage_tasks import (
    GuardedClient,
    TrackingOutage,
    TrackingUnavailable,
    apply_mlflow_http_settings,
    should_retry_logging,
)
from watchkeeper import anchor
from watchkeeper import tracking as wk_tracking
from watchkeeper.audit import Checkpoint
from watchkeeper.config import TrackingConfig
from watchkeeper.redaction import redact
from watchkeeper.retraining.lease import hold_lease
from watchkeeper.state import StateStore, state_dir
from watchkeeper.storage import check_sqlite_url, naming_errors, settle_temporaries, write_atomically
from watchkeeper.timeutil import iso_z, parse_utc, utcnow

log = logging.getLogger("watchkeeper.tracking")

# Experiment ids by (tracking URI, name) and window runs by (tracking URI, experiment id, window key),
# cached for the process: a scheduled process logs window after window to the same store.
_experiments: dict[tuple[str, str], str] = {}
_window_runs: dict[tuple[str, str, str], str] = {}
_cache_lock = threading.Lock()

WINDOW_RUN_LEASE = "mlflow.window-run"
# MLflow's own variable for a model registry kept apart from the tracking store.
REGISTRY_URI_ENV = "MLFLOW_REGISTRY_URI"
# Long enough for a slow create-or-update; a holder that crashed frees the window after the TTL.
_LEASE_TTL = timedelta(minutes=5)
_LEASE_WAIT = timedelta(minutes=5)


def resolve_tracking_uri(configured: str | None) -> str:
    return configured or wk_tracking.default_tracking_uri(state_dir())


@dataclass(frozen=True)
class Tracking:
    """The MLflow store a flow run logs to: one client, its URI, and the UI address for links."""

    client: MlflowClient
    uri: str
    ui_url: str
    outage: TrackingOutage = field(default_factory=TrackingOutage)
    # Where the per-window leases live (the run's state database); None: no other writer expected.
    leases: StateStore | None = None

    def run_url(self, experiment_id: str, run_id: str, path: str = "") -> str:
        return wk_tracking.run_url(self.ui_url, experiment_id, run_id, path)

    def window_lease(self, experiment_id: str, window_key: str) -> AbstractContextManager[object]:
        """Held around find-or-create of a window's run: concurrent runs of a window make one run."""
        if self.leases is None:
            return nullcontext()
        key = f"{redact(self.uri)}|{experiment_id}|{window_key}"
        return hold_lease(self.leases, WINDOW_RUN_LEASE, key, ttl=_LEASE_TTL, wait=_LEASE_WAIT)


def open_tracking(configured: str | TrackingConfig | None, *, leases: StateStore | None = None) -> Tracking:
    """The run's MLflow client (the configured URI, else the SQLite store under the state dir) and
    the UI address for links (`tracking.ui_url`, see `watchkeeper.tracking.ui_base_url`).

    Given the `tracking:` config, MLflow's HTTP timeout and retries are set from it first; the
    client stops calling an unreachable server for the rest of the run (`GuardedClient`). A SQLite
    store gets ``PRAGMA quick_check`` first (`watchkeeper.storage.check_sqlite_file`): a damaged one
    stops the run with an error naming the file.
    """
    ui_url = None
    if isinstance(configured, TrackingConfig):
        apply_mlflow_http_settings(configured)
        configured, ui_url = configured.tracking_uri, configured.ui_url
    uri = resolve_tracking_uri(configured)
    # A SQLite store (tracking, and registry when set apart) is checked before MLflow opens it.
    for store_uri in {uri, os.environ.get(REGISTRY_URI_ENV) or uri}:
        check_sqlite_url(store_uri, what="the MLflow store")
    outage = TrackingOutage()
    client: Any = GuardedClient(MlflowClient(tracking_uri=uri), outage)
    return Tracking(client, uri, wk_tracking.ui_base_url(ui_url, uri), outage, leases)


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
        if wk_tracking.EXPERIMENT_KIND_TAG not in exp.tags:  # one chosen in the UI stays
            client.set_experiment_tag(
                exp.experiment_id, wk_tracking.EXPERIMENT_KIND_TAG, wk_tracking.CLASSIC_EXPERIMENT_KIND
            )
        experiment_id = str(exp.experiment_id)
    else:
        experiment_id = _create_experiment(client, name)
    with _cache_lock:
        _experiments[(tracking_uri, name)] = experiment_id
    return experiment_id


def _create_experiment(client: MlflowClient, name: str) -> str:
    tracking_uri = client.tracking_uri
    artifact_location = None
    if tracking_uri.startswith("sqlite:"):
        # Keep artifacts beside the database instead of ./mlruns in whatever directory we run from.
        db_path = Path(tracking_uri.removeprefix("sqlite:///"))
        artifact_location = (db_path.parent / "mlartifacts").resolve().as_uri()
    # Classic view (runs table, charts), not GenAI mode: these runs are model monitoring, not traces.
    kind = {wk_tracking.EXPERIMENT_KIND_TAG: wk_tracking.CLASSIC_EXPERIMENT_KIND}
    try:
        return str(client.create_experiment(name, artifact_location=artifact_location, tags=kind))
    except Exception:
        # A concurrent run created it first (RESOURCE_ALREADY_EXISTS); anything else raises again.
        exp = client.get_experiment_by_name(name)
        if exp is None:
            raise
        return str(exp.experiment_id)


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
    with tracking.window_lease(experiment_id, tags[wk_tracking.TAG_WINDOW_KEY]):
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
        tags.update(
            wk_tracking.presentation_tags(
                payload["report"],
                evaluation=step + 1,
                previous=existing.data.tags if existing is not None else {},
                ui_base=tracking.ui_url,
                links=payload.get("links") or {},
            )
        )
        ts = int(payload["timestamp_ms"])
        metrics = [Metric(k, float(v), ts, step) for k, v in payload["metrics"].items()]
        for metric_chunk, tag_chunk in log_batches(metrics, [RunTag(k, v) for k, v in tags.items()]):
            client.log_batch(run_id, metrics=metric_chunk, tags=tag_chunk)
        log_texts(
            client,
            run_id,
            {wk_tracking.REPORT_ARTIFACT: json.dumps(payload["report"], indent=2), **artifacts},
        )
        if step == 0:
            link_model_versions(client, run_id, payload.get("links") or {}, payload["report"])
        client.set_terminated(run_id)
    return {
        "run_id": run_id,
        "experiment_id": experiment_id,
        "url": tracking.run_url(experiment_id, run_id),
    }


def link_model_versions(
    client: MlflowClient, run_id: str, links: dict[str, Any], report: dict[str, Any]
) -> None:
    """Record the model versions that scored the window as the run's model inputs (MLflow 3 shows
    them in the run's "Models" column and page). Best effort: a version without a logged model, or a
    registry that cannot be read, leaves the tag and description links only."""
    from mlflow.entities import LoggedModelInput

    registered = links.get("registered_model")
    if not registered:
        return
    try:
        model_ids = [
            logged_model_id(client.get_model_version(registered, str(v)))
            for v in report.get("model_versions") or []
        ]
        inputs = [LoggedModelInput(model_id=m) for m in model_ids if m]
        if inputs:
            client.log_inputs(run_id, models=inputs)
    except Exception as exc:
        log.warning("could not link run %s to its model versions: %s", run_id, exc)


def logged_model_id(version: Any) -> str | None:
    """The logged model behind a registered model version: its `model_id`, which MLflow's SQL
    registry does not return, else the id in its ``models:/<model_id>`` source (what `log_model`
    with `registered_model_name` registers)."""
    if version.model_id:
        return str(version.model_id)
    source = str(version.source or "")
    if not source.startswith("models:/"):
        return None
    found = source.removeprefix("models:/")
    # models:/<name>/<version> and models:/<name>@<alias> name a registered model, not a logged one
    return None if not found or "/" in found or "@" in found else found


@task(name="open-mlflow-run", cache_policy=NO_CACHE)
def open_window_run(report: Any, *, tracking: Tracking, experiment: str) -> dict[str, str] | None:
    """Find or create the window's MLflow run early, so notifications can link to it.

    Returns None when MLflow is unreachable: alerts still go out, without the link.
    """
    try:
        client = tracking.client
        experiment_id = ensure_experiment(client, experiment)
        tags = wk_tracking.run_tags(report)
        with tracking.window_lease(experiment_id, tags[wk_tracking.TAG_WINDOW_KEY]):
            run = find_window_run(client, experiment_id, tags[wk_tracking.TAG_WINDOW_KEY])
            if run is None:
                run = client.create_run(
                    experiment_id,
                    run_name=wk_tracking.run_name(report),
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


def report_payload(report: Any, links: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON form of a window for MLflow (also what is spooled); `links` holds what the run links
    to: ``registered_model`` (the registry name) and ``prefect_flow_run_url``."""
    return {
        "links": dict(links or {}),
        "tags": wk_tracking.run_tags(report),
        "metrics": wk_tracking.metrics_for(report),
        "timestamp_ms": wk_tracking.metric_timestamp_ms(report),
        "run_name": wk_tracking.run_name(report),
        "report": report.to_dict(),
    }


def spool_dir(state: Path) -> Path:
    """Where reports that could not be logged wait for the next run (under the state directory)."""
    return state / "spool" / "mlflow"


def spool_report(
    payload: dict[str, Any], *, spool: Path, tracking: Tracking, experiment: str, artifacts: dict[str, str]
) -> Path:
    """Keep a report that could not be logged, to be logged by the next run.

    Written whole or not at all (`write_atomically`, synced): a full disk raises a `StorageError`
    naming the spool file and leaves no temporary behind.
    """
    with naming_errors("creating the report spool", spool):
        spool.mkdir(parents=True, exist_ok=True)
    key = (
        wk_tracking.metric_key(payload["tags"][wk_tracking.TAG_WINDOW_KEY])
        .replace("/", "_")
        .replace(" ", "_")
    )
    path = spool / f"{key}.json"
    record = {
        "payload": payload,
        # Never the password of the URI: the spool is a plain file. The current store's URI (same
        # redacted form) is what a later run logs to.
        "tracking_uri": redact(tracking.uri),
        "experiment": experiment,
        "artifacts": artifacts,
    }
    write_atomically(path, redact(json.dumps(record)), what="the report spool", durable=True)
    tracking.outage.spooled.append(str(path))
    return path


def quarantine_dir(spool: Path) -> Path:
    return spool / "quarantine"


def _quarantine(path: Path, spool: Path, reason: str, tracking: Tracking) -> Path:
    target_dir = quarantine_dir(spool)
    target = target_dir / path.name
    if target.exists():
        target = target_dir / f"{path.stem}.{utcnow():%Y%m%dT%H%M%S%f}{path.suffix}"
    with naming_errors("moving an unreadable spool file to", target):
        target_dir.mkdir(parents=True, exist_ok=True)
        path.replace(target)
    log.error("spool file %s cannot be read (%s): moved to %s", path, reason, target)
    tracking.outage.quarantined.append(str(target))
    return target


def read_spooled(path: Path) -> dict[str, Any]:
    """A spool file's record; raises on one that is incomplete or not a spooled report."""
    record = json.loads(path.read_text())
    if not isinstance(record, dict):
        raise ValueError("not a JSON object")
    missing = [k for k in ("payload", "tracking_uri", "experiment", "artifacts") if k not in record]
    if missing:
        raise ValueError(f"missing keys {missing}")
    payload = record["payload"]
    for key in ("tags", "metrics", "timestamp_ms", "run_name", "report"):
        if key not in payload:
            raise ValueError(f"payload has no {key!r}")
    return record


@task(
    name="log-to-mlflow",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=[2, 10],
    retry_condition_fn=should_retry_logging,
)
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
def flush_mlflow_spool(spool: Path, tracking: Tracking, store: StateStore | None = None) -> list[str]:
    """Log reports that earlier runs could not log (MLflow was down); returns the run ids logged.

    Each logged window's row in the state database gets its MLflow run id. A file that cannot be
    read is quarantined (`spool/quarantine/`) and named in the log; the others are still logged.
    Temporaries left by a crash while spooling are adopted when complete, removed otherwise.
    """
    done: list[str] = []
    if not spool.exists():
        return done
    # A crash while spooling leaves a temporary: adopted when complete, removed otherwise.
    settle_temporaries(spool, final_suffix=".json", validate=read_spooled, what="the report spool")
    for path in sorted(spool.glob("*.json")):
        try:
            record = read_spooled(path)
        except (OSError, UnicodeDecodeError, ValueError, TypeError, AttributeError) as exc:
            _quarantine(path, spool, f"{type(exc).__name__}: {exc}", tracking)
            continue
        # A report spooled for another store (the configuration changed since) goes there, unless
        # its URI held a password (not kept in the spool): then it waits for that store's runs.
        target = tracking
        if record["tracking_uri"] != redact(tracking.uri):
            if "***" in record["tracking_uri"]:
                log.warning("spooled report %s belongs to another tracking store; left in place", path.name)
                continue
            target = open_tracking(record["tracking_uri"], leases=store)
        try:
            result = write_report_run(
                record["payload"],
                tracking=target,
                experiment=record["experiment"],
                artifacts=record["artifacts"],
            )
        except Exception as exc:  # still down: keep it for the next run
            log.warning("MLflow still unavailable for spooled report %s: %s", path.name, redact(str(exc)))
            break
        with naming_errors("removing a logged report from the spool", path):
            path.unlink()
        done.append(result["run_id"])
        if store is not None:
            _record_run_id(store, record["payload"]["tags"], result["run_id"])
    return done


def _record_run_id(store: StateStore, tags: dict[str, str], run_id: str) -> None:
    window_end: datetime | None = parse_utc(tags.get(wk_tracking.TAG_WINDOW_END))
    model = tags.get(wk_tracking.TAG_MODEL)
    if window_end is None or not model:
        return
    if not store.set_mlflow_run_id(model=str(model), window_end=window_end, run_id=run_id):
        log.warning("no state row for %s %s to record MLflow run %s", model, window_end, run_id)


def read_mlflow_history(tracking: Tracking, experiment: str, model: str) -> anchor.MlflowHistory:
    """The experiment's latest history anchor: one lookup and one search with `max_results=1`."""
    client = tracking.client
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return anchor.MlflowHistory(tracking.uri, experiment, experiment_exists=False)
    runs = client.search_runs([exp.experiment_id], order_by=[anchor.ANCHOR_ORDER], max_results=1)
    latest = anchor.checkpoint_from_tags(runs[0].data.tags, model) if runs else None
    run_id = runs[0].info.run_id if runs and latest is not None else None
    return anchor.MlflowHistory(tracking.uri, experiment, True, latest, run_id)


@task(name="check-history", cache_policy=NO_CACHE)
def check_history(
    store: StateStore,
    tracking: Tracking,
    *,
    experiment: str,
    model: str,
    checkpoint_target: str | None = None,
    new_history: bool = False,
) -> anchor.HistoryCheck:
    """Stop the run when its history is missing or shorter than its anchors (`watchkeeper.anchor`).

    The state database is compared with the latest anchor in MLflow and in the configured checkpoint
    file or URL, and MLflow with what the state database recorded of it. MLflow unreachable: that
    side is skipped, and the log says so. `new_history` starts over deliberately (audited).
    """
    mlflow: anchor.MlflowHistory | None = None
    anchors: list[anchor.Anchor] = []
    try:
        mlflow = read_mlflow_history(tracking, experiment, model)
    except TrackingUnavailable as exc:
        log.warning("history not checked against MLflow (%s): %s", redact(tracking.uri), exc)
    if mlflow is not None and mlflow.latest is not None:
        where = f"MLflow run {mlflow.run_id} of {anchor.tracking_location(tracking.uri)}"
        anchors.append(anchor.Anchor(where, mlflow.latest))
    if checkpoint_target:
        try:
            found = anchor.read_checkpoints(checkpoint_target)
        except anchor.CheckpointError as exc:
            log.warning("history not checked against the audit checkpoint: %s", exc)
            found = []
        newest = max(found, key=lambda c: c.at, default=None)
        if newest is not None:
            anchors.append(anchor.Anchor(redact(checkpoint_target), newest))
    check = anchor.history_problems(store, model, anchors=anchors, mlflow=mlflow)
    for note in check.notes:
        log.error(note)
    if check.ok:
        return check
    if not new_history:
        raise check.error()
    anchor.start_new_history(store, model, check, mlflow)
    log.warning("starting a new history (%s): %s", anchor.NEW_HISTORY_FLAG, "; ".join(check.problems))
    return check


@task(name="checkpoint-history", cache_policy=NO_CACHE)
def checkpoint_history(
    store: StateStore,
    tracking: Tracking,
    *,
    experiment: str,
    model: str,
    run_id: str | None,
    checkpoint_target: str | None = None,
) -> Checkpoint:
    """Checkpoint the audit trail's head outside the state database: as tags on the window's MLflow
    run (recorded in the state database too), in the JSON log and in the configured file or URL."""
    checkpoint = anchor.take_checkpoint(store, model)
    if run_id is None or tracking.outage.down:
        log.warning("history anchor not written to MLflow: the window's run was not logged")
    else:
        try:
            tags = [RunTag(k, v) for k, v in anchor.checkpoint_tags(checkpoint).items()]
            tracking.client.log_batch(run_id, tags=tags)
            anchor.record_mlflow_anchor(store, tracking.uri, experiment, run_id=run_id, checkpoint=checkpoint)
        except Exception as exc:
            log.warning("history anchor not written to MLflow run %s: %s", run_id, redact(str(exc)))
    anchor.log_checkpoint(checkpoint)
    if checkpoint_target:
        try:
            anchor.write_checkpoint(checkpoint_target, checkpoint)
        except anchor.CheckpointError as exc:
            log.error("%s", exc)
    return checkpoint


def find_summary_runs(client: MlflowClient, experiment_id: str) -> list[Any]:
    """The experiment's summary runs, oldest first (more than one only after a lost race)."""
    return list(
        client.search_runs(
            [experiment_id],
            filter_string=f"tags.`{wk_tracking.TAG_KIND}` = '{wk_tracking.KIND_SUMMARY}'",
            max_results=10,
            order_by=["attributes.start_time ASC"],
        )
    )


def write_summary_run(
    tracking: Tracking,
    *,
    experiment: str,
    model: str,
    windows: list[dict[str, Any]],
    evaluated: list[datetime],
    primary_metric: str,
) -> dict[str, str]:
    """Bring the model's summary run up to date with the recorded windows (`wk_tracking.summary_points`).

    New windows newer than the last one logged are appended; anything else (a re-evaluation, a window
    filled in behind) rewrites the run: MLflow keeps every point it was given, so the old run is
    deleted and a new one holds each window's newest evaluation. Held under a lease so concurrent
    runs of the model leave one summary run.
    """
    client = tracking.client
    experiment_id = ensure_experiment(client, experiment)
    with tracking.window_lease(experiment_id, f"summary:{model}"):
        found = find_summary_runs(client, experiment_id)
        current = found[0] if found else None
        logged = int(current.data.tags.get(wk_tracking.TAG_SUMMARY_WINDOWS, "0")) if current else 0
        last_end = parse_utc(current.data.tags.get(wk_tracking.TAG_SUMMARY_LAST_END)) if current else None
        ends = sorted(w["window_end"] for w in windows)
        points = wk_tracking.summary_points(windows, primary_metric)
        if (
            current is not None
            and len(found) == 1
            and wk_tracking.summary_appendable(logged, last_end, ends, evaluated)
        ):
            run_id = current.info.run_id
            points = [p for p in points if p.step > logged]
        else:
            for stale in found:
                client.delete_run(stale.info.run_id)
            run_id = client.create_run(
                experiment_id,
                run_name=wk_tracking.summary_run_name(model),
                tags={wk_tracking.TAG_KIND: wk_tracking.KIND_SUMMARY, wk_tracking.TAG_MODEL: model},
            ).info.run_id
        tags = {wk_tracking.TAG_SUMMARY_WINDOWS: str(len(ends))}
        if ends:
            tags[wk_tracking.TAG_SUMMARY_LAST_END] = iso_z(ends[-1])
        metrics = [Metric(p.key, p.value, p.timestamp_ms, p.step) for p in points]
        for metric_chunk, tag_chunk in log_batches(metrics, [RunTag(k, v) for k, v in tags.items()]):
            client.log_batch(run_id, metrics=metric_chunk, tags=tag_chunk)
        client.set_terminated(run_id)
    return {"run_id": run_id, "url": tracking.run_url(experiment_id, run_id)}


@task(name="update-mlflow-summary", cache_policy=NO_CACHE)
def update_summary_run(
    tracking: Tracking,
    *,
    experiment: str,
    model: str,
    windows: list[dict[str, Any]],
    evaluated: list[datetime],
    primary_metric: str,
) -> dict[str, str] | None:
    """The model's MLflow summary run (charts over windows), after this run's windows are recorded.

    Best effort: without MLflow, or on an error, the summary waits for the next run (it is rebuilt
    from the state database) and the monitoring goes on.
    """
    if tracking.outage.down:
        return None
    try:
        return write_summary_run(
            tracking,
            experiment=experiment,
            model=model,
            windows=windows,
            evaluated=evaluated,
            primary_metric=primary_metric,
        )
    except Exception as exc:
        log.warning("MLflow summary run not updated: %s", redact(str(exc)))
        return None
