"""The deploy flow: challenger against champion on data neither was trained on; promote or reject.

Promotion moves the `champion` alias to the challenger and keeps the old champion as
`previous-champion` (what `rollback` returns to). Every outcome — promoted, rejected, deferred for
lack of evaluation data — is audited, tagged on the version and notified on the model's channels.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
from prefect import flow, get_run_logger

from tasks.data_tasks import load_model_config
from tasks.registry_tasks import (
    alias_version,
    delete_alias,
    load_model_version,
    set_alias,
    set_version_tags,
    version_tags,
)
from tasks.tracking_tasks import resolve_tracking_uri
from tasks.training_tasks import labeled_rows, notify_lifecycle, primary_metric, quality
from watchkeeper import policy
from watchkeeper.config import MonitorConfig, ParquetSourceConfig, config_hash
from watchkeeper.performance.metrics import HIGHER_IS_BETTER
from watchkeeper.runtime import apply_runtime_defaults
from watchkeeper.sources import build_source
from watchkeeper.timeutil import as_utc
from watchkeeper.state import open_state
from watchkeeper.windows import load_window


def evaluation_frame(config: MonitorConfig, tags: dict[str, str]) -> tuple[pd.DataFrame, list[str]]:
    """Labeled rows of the most recent validated windows newer than the challenger's training data,
    or (`evaluate_on: holdout`) the rows held out of the challenger's training."""
    if config.retraining.evaluate_on == "holdout":
        uri = tags.get(policy.TAG_HOLDOUT_URI)
        if not uri:  # a version the retrain flow did not make: nothing held out to judge it on
            return pd.DataFrame(), []
        holdout = build_source(ParquetSourceConfig(type="parquet", path=uri)).read()
        return labeled_rows(holdout, config), [f"holdout {uri}"]
    windows = policy.read_history(open_state(), config.model.name, window_size=config.window.size).windows
    trained_on = [_parse(t) for t in tags.get(policy.TAG_TRAINING_WINDOWS, "").split(",") if t]
    data_end = _parse(tags[policy.TAG_DATA_END]) if tags.get(policy.TAG_DATA_END) else None
    chosen = policy.evaluation_windows(
        windows, training_windows=trained_on, data_end=data_end, count=config.retraining.evaluation_windows
    )
    parts = [labeled_rows(load_window(config, e - config.window.size, e).frame, config) for e in chosen]
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    return frame, [e.strftime("%Y-%m-%dT%H:%M:%SZ") for e in chosen]


def _parse(text: str) -> datetime:
    return as_utc(datetime.fromisoformat(text.replace("Z", "+00:00")))


@flow(name="deploy-model", log_prints=True)
def deploy(
    config_path: str, version: str | None = None, window_end: datetime | None = None
) -> dict[str, Any]:
    """Promote model `version` (default: the `challenger`) only if it beats the champion.

    Both models score the most recent labeled windows not used for training. The challenger must
    beat the champion by `retraining.min_improvement` on the primary metric and be no worse than
    `retraining.guard_tolerance` on each guard metric. Without enough evaluation rows the decision
    is deferred: the version stays `challenger` and a later monitor run tries again, once newer
    labeled windows have arrived. `window_end` is the monitoring window whose run asked (for the
    audit trail); by default the window that triggered the retraining.
    """
    apply_runtime_defaults()
    log = get_run_logger()
    config = load_model_config(config_path)
    rc = config.retraining
    name = config.model.registry_name
    alias = config.model.alias
    tracking_uri = resolve_tracking_uri(config.tracking.tracking_uri)
    store = open_state()
    chash = config_hash(config_path)
    version = version or alias_version(tracking_uri, name, policy.CHALLENGER_ALIAS)
    if version is None:
        raise ValueError(f"{name} has no @{policy.CHALLENGER_ALIAS} version to deploy")
    champion = alias_version(tracking_uri, name, alias)
    tags = version_tags(tracking_uri, name, version)
    trigger_end = tags.get(policy.TAG_TRIGGER_WINDOW_END)
    if window_end is not None:
        window_end = as_utc(window_end)
    elif trigger_end:
        window_end = _parse(trigger_end)

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
            config_hash=chash,
        )

    if champion == version:
        return {"decision": "noop", "version": version, "champion": champion}
    if champion is None:
        set_alias(tracking_uri, name, alias, version)
        set_version_tags(tracking_uri, name, version, {policy.TAG_DEPLOY_STATUS: "promoted"})
        reasons = [f"no @{alias} version yet: v{version} becomes it"]
        audit(policy.EVENT_PROMOTED, "promote", reasons, {})
        notify_lifecycle(
            config, event=policy.EVENT_PROMOTED, version=version, summary=reasons[0], window_end=window_end
        )
        return {"decision": "promote", "version": version, "champion": version, "reasons": reasons}

    frame, used = evaluation_frame(config, tags)
    if len(frame) < rc.min_evaluation_rows:
        reasons = [
            f"{len(frame)} labeled evaluation row(s) not used for training, fewer than "
            f"retraining.min_evaluation_rows ({rc.min_evaluation_rows}): decision deferred"
        ]
        audit(policy.EVENT_DEFERRED, "defer", reasons, {"evaluation_windows": used})
        log.info("deploy of v%s deferred: %s", version, reasons[0])
        return {"decision": "defer", "version": version, "champion": champion, "reasons": reasons}

    challenger_metrics = quality(load_model_version(tracking_uri, name, version), frame, config)
    champion_metrics = quality(load_model_version(tracking_uri, name, champion), frame, config)
    decision = policy.compare_models(
        challenger_metrics,
        champion_metrics,
        primary_metric=primary_metric(config),
        min_improvement=rc.min_improvement,
        guard_metrics=rc.guard_metrics,
        guard_tolerance=rc.guard_tolerance,
    )
    evidence = decision.to_dict() | {"evaluation_windows": used, "evaluation_rows": len(frame)}
    # What the notification shows: the challenger's primary metric against the bar it had to clear.
    metric = decision.primary_metric
    higher = HIGHER_IS_BETTER.get(metric, True)
    bar = champion_metrics.get(metric)
    gate = {
        "metric": metric,
        "value": challenger_metrics.get(metric),
        "threshold": None if bar is None else bar + (rc.min_improvement if higher else -rc.min_improvement),
        "op": ">=" if higher else "<=",
    }
    if decision.promote:
        set_alias(tracking_uri, name, policy.PREVIOUS_CHAMPION_ALIAS, champion)
        set_alias(tracking_uri, name, alias, version)
        delete_alias(tracking_uri, name, policy.CHALLENGER_ALIAS)
        set_version_tags(tracking_uri, name, version, {policy.TAG_DEPLOY_STATUS: "promoted"})
        audit(policy.EVENT_PROMOTED, "promote", decision.reasons, evidence)
        summary = f"v{version} promoted to @{alias} (was v{champion}): " + "; ".join(decision.reasons)
        notify_lifecycle(
            config,
            event=policy.EVENT_PROMOTED,
            version=version,
            summary=summary,
            window_end=window_end,
            **gate,
        )
    else:
        set_version_tags(tracking_uri, name, version, {policy.TAG_DEPLOY_STATUS: "rejected"})
        audit(policy.EVENT_REJECTED, "reject", decision.reasons, evidence)
        summary = f"v{version} rejected, v{champion} stays @{alias}: " + "; ".join(decision.reasons)
        notify_lifecycle(
            config,
            event=policy.EVENT_REJECTED,
            version=version,
            summary=summary,
            window_end=window_end,
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
