"""Retraining and deployment from flows: decide, build the training set, train, evaluate, notify.

`maybe_trigger_retraining(config, config_path, report)` is what the monitor flow calls at the end of
a run: it asks the policy (`watchkeeper.policy.decide_retraining`), audits the decision, takes the
model's retraining lease and starts the retrain flow — as a subflow on embedded defaults, or through
its deployment (`run_deployment(..., timeout=0)` with an idempotency key per model and window) when
the Prefect server has one, so retraining can run on other infrastructure and a retried monitor run
never starts two.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from watchkeeper import policy
from watchkeeper.config import MonitorConfig, config_hash
from watchkeeper.report import MonitoringReport
from watchkeeper.state import StateStore, open_state, state_dir
from watchkeeper.training import load_trainer, score_frame
from watchkeeper.windows import load_reference, load_window


def _logger() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    try:
        return get_run_logger()
    except Exception:  # outside a run
        return logging.getLogger("watchkeeper.retraining")


def retrain_deployment_name(config: MonitorConfig) -> str:
    return config.retraining.retrain_deployment or f"retrain-model/{config.model.name}-retrain"


def deploy_deployment_name(config: MonitorConfig) -> str:
    return config.retraining.deploy_deployment or f"deploy-model/{config.model.name}-deploy"


def primary_metric(config: MonitorConfig) -> str:
    return (
        config.retraining.primary_metric
        or config.performance.primary_metric
        or policy.default_primary_metric(config.model.task.value)
    )


def trigger_mode(config: MonitorConfig, deployment: str) -> str:
    """ "deployment" when configured so, or (auto) when a Prefect server has `deployment`; else "subflow"."""
    mode = config.retraining.trigger
    if mode != "auto":
        return mode
    try:
        from prefect.client.orchestration import get_client
        from prefect.settings import PREFECT_API_URL

        if not PREFECT_API_URL.value():  # embedded defaults: a temporary local server, no workers
            return "subflow"
        with get_client(sync_client=True) as client:
            client.read_deployment_by_name(deployment)
        return "deployment"
    except Exception:  # no such deployment (or no server): run it here
        return "subflow"


# -- deciding ---------------------------------------------------------------------------------------
@task(name="decide-retraining", cache_policy=NO_CACHE)
def decide_and_audit(
    config: MonitorConfig, config_path: str, report: MonitoringReport
) -> policy.RetrainDecision:
    """Ask the retraining policy about this window and write the decision to the audit trail."""
    store = open_state()
    history = policy.read_history(store, config.model.name, window_size=config.window.size)
    decision = policy.decide_retraining(
        report.figures(), history, config.retraining, window_end=report.window_end, now=datetime.now(UTC)
    )
    policy.audit_decision(
        store,
        decision,
        model=config.model.name,
        window_start=report.window_start,
        window_end=report.window_end,
        config_hash=config_hash(config_path),
    )
    _logger().info(
        "retraining decision: %s (%s)",
        decision.label,
        "; ".join(decision.reasons + decision.blocked_by) or "no trigger",
    )
    return decision


def pending_challenger(config: MonitorConfig) -> str | None:
    """A challenger still waiting for its deployment decision (not enough evaluation data before)."""
    from tasks.registry_tasks import alias_version, version_tags
    from tasks.tracking_tasks import resolve_tracking_uri

    tracking_uri = resolve_tracking_uri(config.tracking.tracking_uri)
    name = config.model.registry_name
    try:
        version = alias_version(tracking_uri, name, policy.CHALLENGER_ALIAS)
        if version is None:
            return None
        status = version_tags(tracking_uri, name, version).get(policy.TAG_DEPLOY_STATUS)
    except Exception:
        return None
    return version if status == "pending" else None


def maybe_trigger_retraining(
    config: MonitorConfig, config_path: str, report: MonitoringReport
) -> dict[str, Any]:
    """Decide (and audit) whether this window starts a retraining, and start it if so.

    Returns ``{"decision": {...}, "mode": "subflow" | "deployment" | None, ...}``: with a subflow,
    ``retrain`` holds the retrain flow's result; with a deployment, ``flow_run_id`` the run it created.
    A challenger still waiting for evaluation data gets its deploy flow run instead.
    Failures of retraining are logged and audited, never raised: the monitoring run stays valid.
    """
    log = _logger()
    decision = decide_and_audit(config, config_path, report)
    result: dict[str, Any] = {"decision": decision.to_dict(), "mode": None}
    model = config.model.name
    if not decision.retrain:
        if config.retraining.enabled and config.retraining.auto_deploy:
            version = pending_challenger(config)
            if version is not None:
                result["deploy"] = start_deploy(config, config_path, version, window_end=report.window_end)
        return result

    key = f"{model}:{report.window_end.isoformat()}"
    store = open_state()
    if not policy.acquire_lease(
        store, model, holder=key, ttl=config.retraining.lease_ttl, window_end=report.window_end
    ):
        # Lost a race with another run between the decision and now.
        result["started"] = False
        return result
    name = retrain_deployment_name(config)
    mode = trigger_mode(config, name)
    result["mode"] = mode
    params = {
        "config_path": config_path,
        "reason": decision.reason,
        "window_end": report.window_end.isoformat(),
        "monitor_flow_run_id": report.flow_run_id,
        "lease_holder": key,
    }
    try:
        if mode == "deployment":
            from prefect.deployments import run_deployment

            run = run_deployment(name, parameters=params, timeout=0, idempotency_key=key)
            result["flow_run_id"] = str(run.id)
            log.info("retraining requested: deployment %s, flow run %s", name, run.id)
        else:
            from flows.retrain import retrain

            result["retrain"] = retrain(
                config_path,
                reason=decision.reason,
                window_end=report.window_end,
                monitor_flow_run_id=report.flow_run_id,
                lease_holder=key,
            )
        result["started"] = True
    except Exception as exc:
        policy.release_lease(store, model, holder=key)
        log.error("retraining for %s failed: %s: %s", model, type(exc).__name__, exc)
        result["started"] = mode == "subflow"
        result["error"] = f"{type(exc).__name__}: {exc}"
    return result


def start_deploy(
    config: MonitorConfig, config_path: str, version: str, *, window_end: datetime | None = None
) -> dict[str, Any]:
    """Run the deploy flow for `version`: as a subflow, or through its deployment (see `trigger_mode`)."""
    name = deploy_deployment_name(config)
    mode = trigger_mode(config, name)
    if mode == "deployment":
        from prefect.deployments import run_deployment

        run = run_deployment(
            name,
            parameters={
                "config_path": config_path,
                "version": version,
                "window_end": None if window_end is None else window_end.isoformat(),
            },
            timeout=0,
            idempotency_key=f"{config.model.name}:deploy:{version}",
        )
        return {"mode": mode, "flow_run_id": str(run.id)}
    from flows.deploy import deploy

    try:
        return {"mode": mode, **deploy(config_path, version=version, window_end=window_end)}
    except Exception as exc:
        _logger().error(
            "deploy of %s v%s failed: %s: %s", config.model.name, version, type(exc).__name__, exc
        )
        return {"mode": mode, "error": f"{type(exc).__name__}: {exc}"}


# -- training data ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class TrainingData:
    train: pd.DataFrame
    holdout: pd.DataFrame  # scored by the new model, it becomes the version's reference data
    training_windows: list[datetime]
    evaluation_windows: list[datetime]
    data_start: datetime | None
    data_end: datetime | None


def labeled_rows(frame: pd.DataFrame, config: MonitorConfig) -> pd.DataFrame:
    cols = config.columns
    assert cols.target is not None
    keep = [c for c in (cols.timestamp, *cols.features, cols.target) if c in frame.columns]
    out = frame.loc[frame[cols.target].notna(), keep].reset_index(drop=True)
    target = out[cols.target]
    # Labels joined from late ground truth come back as floats (NaN while missing); integer labels
    # go back to integers so the new model's classes match the old one's.
    if pd.api.types.is_float_dtype(target) and len(target) and bool(np.all(target == np.round(target))):
        out[cols.target] = target.astype("int64")
    return out


@task(name="build-training-set", cache_policy=NO_CACHE, retries=1, retry_delay_seconds=10)
def build_training_data(config: MonitorConfig, window_end: datetime) -> TrainingData:
    """Reference (the champion's) plus recent labeled windows that passed validation.

    The newest `evaluation_windows` labeled windows are left out for the deploy flow. A seeded
    `holdout_fraction` of the recent windows' rows (of the reference when there are none) is held out:
    it measures the new model and becomes its reference data.
    """
    from tasks.registry_tasks import config_for_champion

    rc = config.retraining
    store = open_state()
    history = policy.read_history(store, config.model.name, window_size=config.window.size)
    train_ends, eval_ends = policy.split_windows(
        history.windows,
        window_end=window_end,
        training=rc.training_windows,
        # Judged on its held-out rows, the challenger may train on the newest windows too.
        evaluation=0 if rc.evaluate_on == "holdout" else rc.evaluation_windows,
    )
    recent_parts = [
        labeled_rows(load_window(config, end - config.window.size, end).frame, config) for end in train_ends
    ]
    recent = pd.concat(recent_parts, ignore_index=True) if recent_parts else pd.DataFrame()
    reference = pd.DataFrame()
    if rc.include_reference or recent.empty:
        ref = load_reference(config_for_champion(config))
        if config.columns.target in ref.columns:
            reference = labeled_rows(ref, config)
    if recent.empty:
        mask = policy.holdout_mask(len(reference), rc.holdout_fraction, rc.seed)
        holdout, train = reference[mask], reference[~mask]
    else:
        mask = policy.holdout_mask(len(recent), rc.holdout_fraction, rc.seed)
        holdout = recent[mask]
        train = pd.concat([reference, recent[~mask]], ignore_index=True) if len(reference) else recent[~mask]
    if len(train) < rc.min_training_rows:
        raise ValueError(
            f"only {len(train)} labeled training row(s) (retraining.min_training_rows: {rc.min_training_rows})"
        )
    ts = config.columns.timestamp
    data_start = data_end = None
    if ts in train.columns and train[ts].notna().any():
        times = pd.to_datetime(train[ts], utc=True)
        data_start, data_end = (t.floor("s").to_pydatetime() for t in (times.min(), times.max()))
    return TrainingData(
        train=train.reset_index(drop=True),
        holdout=holdout.reset_index(drop=True),
        training_windows=train_ends,
        evaluation_windows=eval_ends,
        data_start=data_start,
        data_end=data_end,
    )


@task(name="train-model", cache_policy=NO_CACHE)
def train_model(config: MonitorConfig, frame: pd.DataFrame) -> Any:
    """Fit the user's trainer (`retraining.trainer`) on the training set."""
    rc = config.retraining
    trainer = load_trainer(rc.trainer)
    return trainer(frame, columns=config.columns, task=config.model.task, seed=rc.seed, **rc.trainer_kwargs)


def scored(model: Any, frame: pd.DataFrame, config: MonitorConfig) -> pd.DataFrame:
    outputs = score_frame(model, frame, columns=config.columns, task=config.model.task)
    return pd.concat(
        [frame.drop(columns=[c for c in outputs.columns if c in frame.columns]), outputs], axis=1
    )


def quality(model: Any, frame: pd.DataFrame, config: MonitorConfig) -> dict[str, float]:
    """Realized metrics of `model` on the labeled rows of `frame` (the monitoring report's definitions)."""
    cols = config.columns
    assert cols.target is not None
    return policy.model_metrics(
        scored(model, frame, config),
        target=cols.target,
        prediction=cols.prediction or "prediction",
        score=cols.score or "score",
        task=config.model.task.value,
        classes=list(model.classes_) if hasattr(model, "classes_") else None,
        probabilities=cols.probabilities,
    )


@task(name="write-version-reference", cache_policy=NO_CACHE, retries=1, retry_delay_seconds=5)
def write_reference(config: MonitorConfig, frame: pd.DataFrame, version: str, *, suffix: str = "") -> str:
    """Write the new version's reference data (or, with a suffix, a companion file such as its
    held-out rows); returns where (a path or fsspec URL)."""
    base = config.retraining.reference_dir
    if base is None or "://" not in base:
        root = Path(base) if base else state_dir() / "references" / config.model.name
        root = root.resolve()
        root.mkdir(parents=True, exist_ok=True)
        target = str(root / policy.reference_file_name(version, suffix))
    else:
        target = f"{base.rstrip('/')}/{policy.reference_file_name(version, suffix)}"
    frame.to_parquet(target, index=False)
    return target


# -- notifications ----------------------------------------------------------------------------------
def notify_lifecycle(
    config: MonitorConfig,
    *,
    event: str,
    version: str,
    summary: str,
    window_end: datetime | None = None,
    metric: str | None = None,
    value: float | None = None,
    threshold: float | None = None,
    op: str = "",
    store: StateStore | None = None,
) -> list[dict[str, Any]]:
    """Tell the model's alert channels about a promotion, rejection or rollback.

    Goes through the alerting outbox (`watchkeeper.alerting.delivery.deliver`), so a channel that is
    down gets it on a later run and a retried flow run does not send it twice. Never raises.
    """
    log = _logger()
    log.info("%s %s v%s: %s", config.model.name, event, version, summary)
    try:
        from watchkeeper.alerting import build_channels
        from watchkeeper.alerting.delivery import deliver
        from watchkeeper.alerting.messages import AlertEvent, AlertMessage

        when = window_end or datetime.now(UTC)
        alert = AlertEvent(
            fingerprint=f"lifecycle:{config.model.name}:{event}:{version}",
            rule=event,
            status="firing",
            severity="warning",
            labels={"model": config.model.name, "version": version},
            summary=summary,
            condition=event if metric is None else f"{metric} {op} {threshold}",
            metric=metric or event,
            value=value,
            op=op,
            threshold=threshold,
            window_end=when,
        )
        message = AlertMessage(
            model=config.model.name, window_end=when, events=(alert,), model_version=version
        )
        store = store or open_state()
        records = []
        for channel in build_channels(config.alerts.channels, delivery=config.alerts.delivery):
            record = deliver(store, channel, message, delivery=config.alerts.delivery, now=datetime.now(UTC))
            if record is not None:
                records.append(record.to_dict())
        return records
    except Exception as exc:  # a notification problem must not undo a promotion
        log.error(
            "could not notify %s for %s v%s: %s: %s",
            event,
            config.model.name,
            version,
            type(exc).__name__,
            exc,
        )
        return []
