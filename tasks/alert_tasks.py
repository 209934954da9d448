"""Alerting from flows: rule evaluation, state and delivery (secrets from env or Prefect Secret blocks)."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from watchkeeper import alerting
from watchkeeper.alerting.config import AlertsConfig


def resolve_prefect_secret(name: str) -> str | None:
    """A channel's `*_secret:` names a Prefect Secret block; read it only when one is configured."""
    from prefect.blocks.system import Secret

    try:
        value: Any = Secret.load(name).get()
    except ValueError:
        return None
    return str(value)


def open_alert_channels(config: AlertsConfig) -> list[alerting.Channel]:
    """The model's alert channels, built once per run (secrets are resolved when a message is sent)."""
    return alerting.build_channels(
        config.channels, delivery=config.delivery, secret_resolver=resolve_prefect_secret
    )


@task(name="evaluate-alerts", cache_policy=NO_CACHE)
def evaluate_alerts(figures: dict[str, float], **kwargs: Any) -> alerting.AlertsReport:
    """Evaluate the model's alert rules on this window, update alert state, notify, retry the outbox."""
    kwargs.setdefault("secret_resolver", resolve_prefect_secret)
    return alerting.evaluate_alerts(figures, **kwargs)
