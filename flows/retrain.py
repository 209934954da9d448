"""The retrain flow: a new model version from the reference and recent labeled windows.

Started by the monitor flow when the retraining policy says so (as a subflow, or through its
deployment on other infrastructure), or by hand. Registers the version with alias `challenger`; the
deploy flow decides whether it replaces the champion.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from tasks.data_tasks import load_model_config
from tasks.registry_tasks import register_model, set_version_tags
from tasks.tracking_tasks import resolve_tracking_uri
from tasks.training_tasks import (
    build_training_data,
    quality,
    scored,
    start_deploy,
    train_model,
    write_reference,
)
from watchkeeper import policy
from watchkeeper.config import config_hash
from watchkeeper.runtime import apply_runtime_defaults
from watchkeeper.timeutil import as_utc
from watchkeeper.state import open_state


def _iso(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%dT%H:%M:%SZ")


@flow(name="retrain-model", log_prints=True)
def retrain(
    config_path: str,
    reason: str = "manual",
    window_end: datetime | None = None,
    monitor_flow_run_id: str | None = None,
    lease_holder: str | None = None,
) -> dict[str, Any]:
    """Train a new version of the model and register it as `challenger`.

    Training set: the champion's reference plus the recent labeled windows that passed validation
    (the newest are kept out for the deploy flow's comparison). Logs params, holdout metrics, the
    model (signature, input example) and the training data as its dataset input to MLflow; tags the
    version with why (`reason`), on what data, and which monitor run asked. Writes the version's own
    reference data, which monitoring compares against once the version is champion. Then runs the
    deploy flow unless `retraining.auto_deploy` is off.
    """
    apply_runtime_defaults()
    log = get_run_logger()
    config = load_model_config(config_path)
    rc = config.retraining
    model = config.model.name
    store = open_state()
    if window_end is None:
        windows = store.list_windows(model)
        window_end = windows[-1]["window_end"] if windows else datetime.now(UTC)
    window_end = as_utc(window_end)
    run_id = flow_run.get_id() or uuid.uuid4().hex
    # The monitor run that asked holds the lease already (taking it again extends it); a run started
    # by hand takes its own. Either way, another retraining of this model in flight stops this one.
    holder = lease_holder or f"retrain:{run_id}"
    if not policy.acquire_lease(store, model, holder=holder, ttl=rc.lease_ttl, window_end=window_end):
        raise RuntimeError(f"a retraining of {model} is already in flight: {policy.read_lease(store, model)}")
    chash = config_hash(config_path)
    store.append_audit(
        model=model,
        event=policy.EVENT_RETRAIN_STARTED,
        decision="retrain",
        reasons=[reason],
        evidence={"flow_run_id": run_id, "monitor_flow_run_id": monitor_flow_run_id},
        window_end=window_end,
        config_hash=chash,
    )
    tracking_uri = resolve_tracking_uri(config.tracking.tracking_uri)
    try:
        data = build_training_data(config, window_end)
        fitted = train_model(config, data.train)
        metrics = quality(fitted, data.holdout, config)
        version_tags = {
            policy.TAG_TRIGGER: reason[:5000],
            policy.TAG_TRIGGER_WINDOW_END: _iso(window_end),
            policy.TAG_TRAINING_WINDOWS: ",".join(_iso(e) for e in data.training_windows),
            policy.TAG_DATA_START: _iso(data.data_start),
            policy.TAG_DATA_END: _iso(data.data_end),
            policy.TAG_MONITOR_RUN: monitor_flow_run_id or "",
            policy.TAG_RETRAIN_RUN: run_id,
            policy.TAG_DEPLOY_STATUS: "pending",
        }
        registered = register_model(
            fitted,
            tracking_uri=tracking_uri,
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
            version_tags=version_tags,
            aliases=(policy.CHALLENGER_ALIAS,),
        )
        version = registered["version"]
        # The version's reference is its training data (all of it: a small reference makes the
        # p-value drift tests flag sampling noise); the held-out rows are kept apart, as the one
        # sample neither model trained on, for the deploy flow's `evaluate_on: holdout`.
        training_rows = pd.concat([data.train, data.holdout], ignore_index=True)
        reference_uri = write_reference(config, scored(fitted, training_rows, config), version)
        holdout_uri = write_reference(
            config, scored(fitted, data.holdout, config), version, suffix="-holdout"
        )
        set_version_tags(
            tracking_uri,
            config.model.registry_name,
            version,
            {policy.TAG_REFERENCE_URI: reference_uri, policy.TAG_HOLDOUT_URI: holdout_uri},
        )
    except Exception as exc:
        store.append_audit(
            model=model,
            event=policy.EVENT_RETRAIN_FAILED,
            decision="failed",
            reasons=[reason, f"{type(exc).__name__}: {exc}"],
            evidence={"flow_run_id": run_id},
            window_end=window_end,
            config_hash=chash,
        )
        raise
    finally:
        policy.release_lease(store, model, holder=holder)
    result: dict[str, Any] = {
        "version": version,
        "run_id": registered["run_id"],
        "model_uri": registered["model_uri"],
        "reference_uri": reference_uri,
        "holdout_metrics": metrics,
        "training_rows": len(data.train),
        "training_windows": [_iso(e) for e in data.training_windows],
        "evaluation_windows": [_iso(e) for e in data.evaluation_windows],
    }
    store.append_audit(
        model=model,
        event=policy.EVENT_RETRAIN_COMPLETED,
        decision="registered",
        reasons=[reason],
        evidence=result | {"flow_run_id": run_id, "monitor_flow_run_id": monitor_flow_run_id},
        window_end=window_end,
        config_hash=chash,
    )
    log.info(
        "registered %s v%s as @%s (%d training rows)",
        config.model.registry_name,
        version,
        policy.CHALLENGER_ALIAS,
        len(data.train),
    )
    if rc.auto_deploy:
        result["deploy"] = start_deploy(config, config_path, version, window_end=window_end)
    return result
