"""The retrain flow: a new model version from the reference and recent labeled windows.

Started by the monitor flow when the retraining policy says so (`maybe_trigger_retraining`, here:
as a subflow, or through its deployment on other infrastructure), or by hand. Registers the version
with alias `challenger`; the deploy flow decides whether it replaces the champion.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import pandas as pd
from mlflow.tracking import MlflowClient
from prefect import flow, get_run_logger
from prefect.deployments import run_deployment
from prefect.runtime import flow_run

from flows.deploy import start_deploy, trigger_mode
from tasks.alert_tasks import open_alert_channels
from tasks.data_tasks import open_model_config
from tasks.observability import run_logger
from tasks.presentation_tasks import add_flow_run_tags, name_model_run
from tasks.registry_tasks import alias_version, pending_challenger, register_model, set_version_tags
from tasks.tracking_tasks import open_tracking
from tasks.training_tasks import (
    build_training_data,
    decide_and_audit,
    notify_lifecycle,
    train_model,
    write_reference,
)
from watchkeeper import retraining
from watchkeeper.config import MonitorConfig
from watchkeeper.presentation import lifecycle_tags
from watchkeeper.report import MonitoringReport
from watchkeeper.runtime import apply_runtime_defaults
from watchkeeper.state import StateStore, open_state, state_dir
from watchkeeper.timeutil import as_utc, iso_z, utcnow


@flow(name="retrain-model", log_prints=True, flow_run_name=name_model_run("retrain", window="window_end"))
def retrain(
    config_path: str,
    reason: str = "manual",
    window_end: datetime | None = None,
    monitor_flow_run_id: str | None = None,
    lease_holder: str | None = None,
    labels_as_of: datetime | None = None,
) -> dict[str, Any]:
    """Train a new version of the model and register it as `challenger`.

    Training set: the champion's reference plus the recent labeled windows that passed validation
    (the newest are kept out for the deploy flow's comparison). Logs params, holdout metrics, the
    model (signature, input example) and the training data as its dataset input to MLflow; tags the
    version with why (`reason`), on what data, and which monitor run asked. Writes the version's own
    reference data, which monitoring compares against once the version is champion. Then runs the
    deploy flow unless `retraining.auto_deploy` is off. `labels_as_of` is the time the monitor run
    that asked judged as of: the windows train on the labels known then, so a retraining in a
    backfill trains on what it would have had (None: every label, by hand or in hindsight).
    """
    apply_runtime_defaults()
    log = get_run_logger()
    loaded = open_model_config(config_path)
    config = loaded.config
    store = open_state()
    root = state_dir()  # version references go under it unless `retraining.reference_dir` is set
    rc = config.retraining
    model = config.model.name
    if window_end is None:
        windows = store.list_windows(model)
        window_end = windows[-1]["window_end"] if windows else utcnow()
    window_end = as_utc(window_end)
    window = (config.window.calendar.shift(window_end, -1), window_end)
    add_flow_run_tags(lifecycle_tags(model, window=window, timezone=config.window.timezone))
    run_id = flow_run.get_id() or uuid.uuid4().hex
    # The monitor run that asked holds the lease already (taking it again extends it); a run started
    # by hand takes its own. Either way, another retraining of this model in flight stops this one.
    holder = lease_holder or f"retrain:{run_id}"
    if not retraining.acquire_lease(store, model, holder=holder, ttl=rc.lease_ttl, window_end=window_end):
        raise RuntimeError(
            f"a retraining of {model} is already in flight: {retraining.read_lease(store, model)}"
        )
    store.append_audit(
        model=model,
        event=retraining.EVENT_RETRAIN_STARTED,
        decision="retrain",
        reasons=[reason],
        evidence={"flow_run_id": run_id, "monitor_flow_run_id": monitor_flow_run_id},
        window_end=window_end,
        config_hash=loaded.hash,
    )
    try:
        # A notice on the model's channels (never raises); inside the lease's try, so channels that
        # cannot even be built end as an audited failure that releases the lease.
        notify_lifecycle(
            config,
            event=retraining.EVENT_RETRAIN_STARTED,
            version=None,
            summary=f"retraining {model} ({reason})",
            window_end=window_end,
            store=store,
            channels=open_alert_channels(config.alerts),
            instance=run_id,
        )
        # Opened under the lease: an unreachable tracking store is an audited failure that releases it.
        client = open_tracking(config.tracking).client
        as_of = None if labels_as_of is None else as_utc(labels_as_of)
        data = build_training_data(config, window_end, store=store, client=client, labels_as_of=as_of)
        fitted = train_model(config, data.train)
        metrics = retraining.measure_quality(fitted, data.holdout, config)
        registered = register_model(
            fitted,
            client=client,
            experiment=f"{config.experiment_name}/training",
            registered_name=config.model.registry_name,
            training_frame=data.train,
            columns=config.columns,
            task_type=config.model.task,
            dataset_name=f"{model}-training-{window_end:%Y%m%d%H%M}",
            params={
                "trainer": rc.trainer,
                "seed": rc.seed,
                "rows": len(data.train),
                "holdout_rows": len(data.holdout),
                "include_reference": rc.include_reference,
                "training_windows": len(data.training_windows),
                **{f"trainer.{k}": v for k, v in rc.trainer_kwargs.items()},
            },
            metrics={f"holdout/{k}": v for k, v in metrics.items()},
            version_tags=retraining.challenger_tags(
                reason=reason,
                window_end=window_end,
                training_windows=data.training_windows,
                data_start=data.data_start,
                data_end=data.data_end,
                monitor_flow_run_id=monitor_flow_run_id,
                retrain_flow_run_id=run_id,
            ),
            aliases=(retraining.CHALLENGER_ALIAS,),
        )
        version = registered["version"]
        champion = alias_version(client, config.model.registry_name, config.model.alias)
        add_flow_run_tags(
            lifecycle_tags(
                model,
                window=window,
                from_version=champion,
                to_version=version,
                timezone=config.window.timezone,
            )
        )
        # The version's reference is its training data (all of it: a small reference makes the
        # p-value drift tests flag sampling noise); the held-out rows are kept apart, as the one
        # sample neither model trained on, for the deploy flow's `evaluate_on: holdout`.
        training_rows = pd.concat([data.train, data.holdout], ignore_index=True)
        reference_uri = write_reference(
            retraining.score_rows(fitted, training_rows, config),
            retraining.reference_location(config, version, state_dir=root),
        )
        holdout_uri = write_reference(
            retraining.score_rows(fitted, data.holdout, config),
            retraining.reference_location(config, version, state_dir=root, suffix="-holdout"),
        )
        set_version_tags(
            client,
            config.model.registry_name,
            version,
            {retraining.TAG_REFERENCE_URI: reference_uri, retraining.TAG_HOLDOUT_URI: holdout_uri},
        )
    except Exception as exc:
        store.append_audit(
            model=model,
            event=retraining.EVENT_RETRAIN_FAILED,
            decision="failed",
            reasons=[reason, f"{type(exc).__name__}: {exc}"],
            evidence={"flow_run_id": run_id},
            window_end=window_end,
            config_hash=loaded.hash,
        )
        raise
    finally:
        retraining.release_lease(store, model, holder=holder)
    result: dict[str, Any] = {
        "version": version,
        "run_id": registered["run_id"],
        "model_uri": registered["model_uri"],
        "reference_uri": reference_uri,
        "holdout_metrics": metrics,
        "training_rows": len(data.train),
        "training_windows": [iso_z(e) for e in data.training_windows],
        "evaluation_windows": [iso_z(e) for e in data.evaluation_windows],
    }
    store.append_audit(
        model=model,
        event=retraining.EVENT_RETRAIN_COMPLETED,
        decision="registered",
        reasons=[reason],
        evidence=result | {"flow_run_id": run_id, "monitor_flow_run_id": monitor_flow_run_id},
        window_end=window_end,
        config_hash=loaded.hash,
    )
    log.info(
        "registered %s v%s as @%s (%d training rows)",
        config.model.registry_name,
        version,
        retraining.CHALLENGER_ALIAS,
        len(data.train),
    )
    if rc.auto_deploy:
        result["deploy"] = start_deploy(
            config, config_path, version, window_end=window_end, labels_as_of=labels_as_of
        )
    return result


def maybe_trigger_retraining(
    config: MonitorConfig,
    config_path: str,
    report: MonitoringReport,
    *,
    store: StateStore,
    client: MlflowClient,
) -> dict[str, Any]:
    """Decide (and audit) whether this window starts a retraining, and start it if so.

    What the monitor flow calls at the end of a run. Returns ``{"decision": {...}, "mode": "subflow"
    | "deployment" | None, ...}``: with a subflow, ``retrain`` holds the retrain flow's result; with
    a deployment (`run_deployment(..., timeout=0)`, so retraining can run on other infrastructure),
    ``flow_run_id`` the run it created — keyed by model and window, so a retried monitor run never
    starts two. A challenger still waiting for evaluation data gets its deploy flow run instead.
    Failures of retraining are logged and audited, never raised: the monitoring run stays valid.
    """
    log = run_logger("watchkeeper.retraining")
    decision = decide_and_audit(store, config, report, config_hash=report.config_hash, now=utcnow())
    log.info(
        "retraining decision for %s: %s (%s)",
        report.window_name,
        decision.label,
        "; ".join(decision.reasons + decision.blocked_by) or "no trigger",
    )
    result: dict[str, Any] = {"decision": decision.to_dict(), "mode": None}
    model = config.model.name
    # Training and evaluation data are the labels this run judged with (all of them in hindsight).
    labels_as_of = None if report.hindsight else report.labels_as_of
    if not decision.retrain:
        if config.retraining.enabled and config.retraining.auto_deploy:
            version = pending_challenger(config, client=client)
            if version is not None:
                result["deploy"] = start_deploy(
                    config, config_path, version, window_end=report.window_end, labels_as_of=labels_as_of
                )
        return result

    key = retraining.retrain_key(model, report.window_end)
    if not retraining.acquire_lease(
        store, model, holder=key, ttl=config.retraining.lease_ttl, window_end=report.window_end
    ):
        # Lost a race with another run between the decision and now.
        result["started"] = False
        return result
    name = retraining.retrain_deployment_name(config)
    mode = trigger_mode(config, name)
    result["mode"] = mode
    params = {
        "config_path": config_path,
        "reason": decision.reason,
        "window_end": report.window_end.isoformat(),
        "monitor_flow_run_id": report.flow_run_id,
        "lease_holder": key,
        "labels_as_of": None if labels_as_of is None else labels_as_of.isoformat(),
    }
    try:
        if mode == "deployment":
            run = run_deployment(name, parameters=params, timeout=0, idempotency_key=key)
            result["flow_run_id"] = str(run.id)
            log.info("retraining requested: deployment %s, flow run %s", name, run.id)
        else:
            result["retrain"] = retrain(
                config_path,
                reason=decision.reason,
                window_end=report.window_end,
                monitor_flow_run_id=report.flow_run_id,
                lease_holder=key,
                labels_as_of=labels_as_of,
            )
        result["started"] = True
    except Exception as exc:
        retraining.release_lease(store, model, holder=key)
        log.error("retraining for %s failed: %s: %s", model, type(exc).__name__, exc)
        result["started"] = mode == "subflow"
        result["error"] = f"{type(exc).__name__}: {exc}"
    return result
