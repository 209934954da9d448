"""The rollback flow: put the previous champion back (`watchkeeper rollback --model X`)."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger

from tasks.alert_tasks import open_alert_channels
from tasks.data_tasks import open_model_config
from tasks.presentation_tasks import add_flow_run_tags, name_model_run
from tasks.registry_tasks import alias_version, delete_alias, set_alias, set_version_tags
from tasks.tracking_tasks import open_tracking
from tasks.training_tasks import notify_lifecycle
from watchkeeper import retraining
from watchkeeper.presentation import lifecycle_tags
from watchkeeper.runtime import apply_runtime_defaults
from watchkeeper.state import open_state


@flow(name="rollback-model", log_prints=True, flow_run_name=name_model_run("rollback"))
def rollback(config_path: str) -> dict[str, Any]:
    """Move the `champion` alias back to `previous-champion`.

    The rolled-back version is tagged `rolled-back`, and `previous-champion` is cleared, so a second
    rollback fails loudly instead of flipping back and forth. Audited and notified.
    """
    apply_runtime_defaults()
    loaded = open_model_config(config_path)
    config = loaded.config
    store = open_state()
    channels = open_alert_channels(config.alerts)
    client = open_tracking(config.tracking).client
    name = config.model.registry_name
    alias = config.model.alias
    previous = alias_version(client, name, retraining.PREVIOUS_CHAMPION_ALIAS)
    if previous is None:
        raise ValueError(f"{name} has no @{retraining.PREVIOUS_CHAMPION_ALIAS} version to roll back to")
    current = alias_version(client, name, alias)
    add_flow_run_tags(lifecycle_tags(config.model.name, from_version=current, to_version=previous))
    set_alias(client, name, alias, previous)
    delete_alias(client, name, retraining.PREVIOUS_CHAMPION_ALIAS)
    if current is not None:
        set_version_tags(client, name, current, {retraining.TAG_DEPLOY_STATUS: "rolled-back"})
    reason = f"@{alias} rolled back from v{current} to v{previous}"
    store.append_audit(
        model=config.model.name,
        event=retraining.EVENT_ROLLBACK,
        decision="rollback",
        reasons=[reason],
        evidence={"from_version": current, "to_version": previous},
        config_hash=loaded.hash,
    )
    notify_lifecycle(
        config,
        event=retraining.EVENT_ROLLBACK,
        version=previous,
        summary=reason,
        store=store,
        channels=channels,
    )
    get_run_logger().info("%s", reason)
    return {"champion": previous, "rolled_back": current}
