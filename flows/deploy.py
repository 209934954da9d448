"""The deploy flow: challenger against champion on data neither was trained on; promote or reject.

Promotion moves the `champion` alias to the challenger and keeps the old champion as
`previous-champion` (what `rollback` returns to). Every outcome — promoted, rejected, deferred for
lack of evaluation data — is audited, tagged on the version and notified on the model's channels.

`start_deploy` is how the retrain and monitor flows start it: as a subflow, or through its deployment
when the Prefect server has one (`trigger_mode`, shared with the retrain launcher).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import flow, get_run_logger
from prefect.client.orchestration import get_client
from prefect.deployments import run_deployment
from prefect.settings import PREFECT_API_URL

from tasks import temporary_server
from tasks.alert_tasks import open_alert_channels
from tasks.data_tasks import open_model_config
from tasks.observability import run_logger
from tasks.presentation_tasks import add_flow_run_tags, name_model_run
from tasks.registry_tasks import (
    alias_version,
    delete_alias,
    load_model_version,
    set_alias,
    set_version_tags,
    version_tags,
)
from tasks.tracking_tasks import open_tracking
from tasks.training_tasks import notify_lifecycle
from watchkeeper import retraining
from watchkeeper.config import MonitorConfig
from watchkeeper.presentation import lifecycle_tags
from watchkeeper.runtime import apply_runtime_defaults
from watchkeeper.state import open_state
from watchkeeper.timeutil import as_utc, parse_utc


@flow(name="deploy-model", log_prints=True, flow_run_name=name_model_run("deploy", window="window_end"))
def deploy(
    config_path: str,
    version: str | None = None,
    window_end: datetime | None = None,
    labels_as_of: datetime | None = None,
) -> dict[str, Any]:
    """Promote model `version` (default: the `challenger`) only if it beats the champion.

    Both models score the most recent labeled windows not used for training. The challenger must
    beat the champion by `retraining.min_improvement` on the primary metric and be no worse than
    `retraining.guard_tolerance` on each guard metric. Without enough evaluation rows the decision
    is deferred: the version stays `challenger` and a later monitor run tries again, once newer
    labeled windows have arrived. `window_end` is the monitoring window whose run asked (for the
    audit trail); by default the window that triggered the retraining. `labels_as_of` is the time
    that run judged as of: the evaluation windows join the labels known then (None: every label, as
    a run by hand or in hindsight does).
    """
    apply_runtime_defaults()
    log = get_run_logger()
    loaded = open_model_config(config_path)
    config = loaded.config
    store = open_state()
    channels = open_alert_channels(config.alerts)
    client = open_tracking(config.tracking).client
    rc = config.retraining
    name = config.model.registry_name
    alias = config.model.alias
    version = version or alias_version(client, name, retraining.CHALLENGER_ALIAS)
    if version is None:
        raise ValueError(f"{name} has no @{retraining.CHALLENGER_ALIAS} version to deploy")
    champion = alias_version(client, name, alias)
    tags = version_tags(client, name, version)
    trigger_end = tags.get(retraining.TAG_TRIGGER_WINDOW_END)
    if window_end is not None:
        window_end = as_utc(window_end)
    elif trigger_end:
        window_end = parse_utc(trigger_end)
    window = (config.window.calendar.shift(window_end, -1), window_end) if window_end else None
    add_flow_run_tags(
        lifecycle_tags(
            config.model.name,
            window=window,
            from_version=champion,
            to_version=version,
            timezone=config.window.timezone,
        )
    )

    def audit(event: str, decision: str, reasons: list[str], evidence: dict[str, Any]) -> None:
        store.append_audit(
            model=config.model.name,
            event=event,
            decision=decision,
            reasons=reasons,
            evidence={
                "version": version,
                "champion": champion,
                "trigger_window_end": trigger_end,
                **evidence,
            },
            window_end=window_end,
            config_hash=loaded.hash,
        )

    if champion == version:
        return {"decision": "noop", "version": version, "champion": champion}
    if champion is None:
        set_alias(client, name, alias, version)
        set_version_tags(client, name, version, {retraining.TAG_DEPLOY_STATUS: "promoted"})
        reasons = [f"no @{alias} version yet: v{version} becomes it"]
        audit(retraining.EVENT_PROMOTED, "promote", reasons, {})
        notify_lifecycle(
            config,
            event=retraining.EVENT_PROMOTED,
            version=version,
            summary=reasons[0],
            window_end=window_end,
            store=store,
            channels=channels,
        )
        return {"decision": "promote", "version": version, "champion": version, "reasons": reasons}

    frame, used = retraining.load_evaluation_data(
        config, tags, store=store, as_of=None if labels_as_of is None else as_utc(labels_as_of)
    )
    if len(frame) < rc.min_evaluation_rows:
        reasons = [
            f"{len(frame)} labeled evaluation row(s) not used for training, fewer than "
            f"retraining.min_evaluation_rows ({rc.min_evaluation_rows}): decision deferred"
        ]
        audit(retraining.EVENT_DEFERRED, "defer", reasons, {"evaluation_windows": used})
        log.info("deploy of v%s deferred: %s", version, reasons[0])
        return {"decision": "defer", "version": version, "champion": champion, "reasons": reasons}

    challenger_metrics = retraining.measure_quality(load_model_version(client, name, version), frame, config)
    champion_metrics = retraining.measure_quality(load_model_version(client, name, champion), frame, config)
    decision = retraining.compare_models(
        challenger_metrics,
        champion_metrics,
        primary_metric=retraining.resolve_primary_metric(config),
        min_improvement=rc.min_improvement,
        guard_metrics=rc.guard_metrics,
        guard_tolerance=rc.guard_tolerance,
    )
    evidence = decision.to_dict() | {"evaluation_windows": used, "evaluation_rows": len(frame)}
    gate = retraining.summarize_gate(decision, min_improvement=rc.min_improvement)
    if decision.promote:
        set_alias(client, name, retraining.PREVIOUS_CHAMPION_ALIAS, champion)
        set_alias(client, name, alias, version)
        delete_alias(client, name, retraining.CHALLENGER_ALIAS)
        set_version_tags(client, name, version, {retraining.TAG_DEPLOY_STATUS: "promoted"})
        audit(retraining.EVENT_PROMOTED, "promote", decision.reasons, evidence)
        summary = f"v{version} promoted to @{alias} (was v{champion}): " + "; ".join(decision.reasons)
        event = retraining.EVENT_PROMOTED
    else:
        set_version_tags(client, name, version, {retraining.TAG_DEPLOY_STATUS: "rejected"})
        audit(retraining.EVENT_REJECTED, "reject", decision.reasons, evidence)
        summary = f"v{version} rejected, v{champion} stays @{alias}: " + "; ".join(decision.reasons)
        event = retraining.EVENT_REJECTED
    notify_lifecycle(
        config,
        event=event,
        version=version,
        summary=summary,
        window_end=window_end,
        store=store,
        channels=channels,
        **gate,
    )
    log.info("%s", summary)
    return {
        "decision": decision.label,
        "version": version,
        "champion": version if decision.promote else champion,
        "reasons": decision.reasons,
        "challenger_metrics": challenger_metrics,
        "champion_metrics": champion_metrics,
        "evaluation_windows": used,
    }


def trigger_mode(config: MonitorConfig, deployment: str) -> str:
    """ "deployment" when configured so, or (auto) when a Prefect server has `deployment`; else "subflow"."""
    mode = config.retraining.trigger
    if mode != "auto":
        return mode
    try:
        if not PREFECT_API_URL.value() or temporary_server.in_use():  # embedded defaults: no workers
            return "subflow"
        with get_client(sync_client=True) as client:
            client.read_deployment_by_name(deployment)
        return "deployment"
    except Exception:  # no such deployment (or no server): run it here
        return "subflow"


def start_deploy(
    config: MonitorConfig,
    config_path: str,
    version: str,
    *,
    window_end: datetime | None = None,
    labels_as_of: datetime | None = None,
) -> dict[str, Any]:
    """Run the deploy flow for `version`: as a subflow, or through its deployment (see `trigger_mode`)."""
    name = retraining.deploy_deployment_name(config)
    mode = trigger_mode(config, name)
    if mode == "deployment":
        run = run_deployment(
            name,
            parameters={
                "config_path": config_path,
                "version": version,
                "window_end": None if window_end is None else window_end.isoformat(),
                "labels_as_of": None if labels_as_of is None else labels_as_of.isoformat(),
            },
            timeout=0,
            idempotency_key=retraining.deploy_key(config.model.name, version),
        )
        return {"mode": mode, "flow_run_id": str(run.id)}
    try:
        return {
            "mode": mode,
            **deploy(config_path, version=version, window_end=window_end, labels_as_of=labels_as_of),
        }
    except Exception as exc:
        run_logger("watchkeeper.retraining").error(
            "deploy of %s v%s failed: %s: %s", config.model.name, version, type(exc).__name__, exc
        )
        return {"mode": mode, "error": f"{type(exc).__name__}: {exc}"}
