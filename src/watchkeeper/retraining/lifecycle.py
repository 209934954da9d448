"""The notice a retraining, promotion, rejection or rollback sends on the model's alert channels.

A notice, not an alert (`AlertEvent.status == "notice"`): news of the loop, rendered without
[FIRING] or a severity, never counted as firing and never resolved. Built as a message so it travels through the alerting outbox like any alert: a
channel that is down gets it on a later run, and a retried flow run does not send it twice (the
fingerprint names the model, the event and the version).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import TYPE_CHECKING

from watchkeeper.alerting.messages import AlertEvent, AlertMessage

if TYPE_CHECKING:  # annotations only: the config imports this package
    from watchkeeper.config import MonitorConfig


def build_lifecycle_message(
    config: MonitorConfig,
    *,
    event: str,
    version: str | None,
    summary: str,
    window_end: datetime | None,
    now: datetime,
    metric: str | None = None,
    value: float | None = None,
    threshold: float | None = None,
    op: str = "",
    instance: str | None = None,
) -> AlertMessage:
    """One notice `event` for model `version`; `metric`, `value`, `threshold` and `op` say what
    the deploy gate measured. Dated `window_end` (the window whose run decided), else `now`. A notice
    before there is a version (a retraining started) has none; `instance` (its flow run) keeps two of
    them apart, and a retried run from sending it twice."""
    when = window_end or now
    key = f"lifecycle:{config.model.name}:{event}:{version or '-'}"
    if instance:  # short: the ledger's fingerprint column holds 64 characters
        key += ":" + hashlib.sha256(instance.encode()).hexdigest()[:8]
    alert = AlertEvent(
        fingerprint=key,
        rule=event,
        status="notice",
        # Not a severity: a notice is never filtered or counted as one (`min_severity` aside).
        severity="ok",
        labels={"model": config.model.name, **({"version": version} if version else {})},
        summary=summary,
        condition=event if metric is None else f"{metric} {op} {threshold}",
        metric=metric or event,
        value=value,
        op=op,
        threshold=threshold,
        window_end=when,
    )
    return AlertMessage(model=config.model.name, window_end=when, events=(alert,), model_version=version)
