"""The retraining loop's steps as Prefect tasks: decide, build the training set, train, write, notify.

The logic is `watchkeeper.retraining`; these wrappers add retries, the task names the Prefect UI
shows and the I/O the library leaves to its callers (the registry client, Parquet writes, delivery
to the flow's alert channels). The launchers that start flows (`maybe_trigger_retraining`,
`start_deploy`) are in `flows/retrain.py` and `flows/deploy.py`: tasks never import flows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
from mlflow.tracking import MlflowClient
from prefect import task
from prefect.cache_policies import NO_CACHE

from tasks.observability import run_logger
from tasks.registry_tasks import config_for_champion
from watchkeeper import retraining
from watchkeeper.alerting import Channel
from watchkeeper.alerting.delivery import deliver
from watchkeeper.config import MonitorConfig
from watchkeeper.state import StateStore
from watchkeeper.timeutil import utcnow
from watchkeeper.windows import load_reference

decide_and_audit = task(name="decide-retraining", cache_policy=NO_CACHE)(retraining.decide_and_audit)
train_model = task(name="train-model", cache_policy=NO_CACHE)(retraining.train_model)


@task(name="build-training-set", cache_policy=NO_CACHE, retries=1, retry_delay_seconds=10)
def build_training_data(
    config: MonitorConfig,
    window_end: datetime,
    *,
    store: StateStore,
    client: MlflowClient,
    labels_as_of: datetime | None = None,
) -> retraining.TrainingData:
    """Reference (the champion's) plus recent labeled windows that passed validation.

    The newest `evaluation_windows` labeled windows are left out for the deploy flow. A seeded
    `holdout_fraction` of the recent windows' rows (of the reference when there are none) is held out:
    it measures the new model and becomes its reference data.
    """
    history = retraining.read_history(store, config.model.name, window_size=config.window.calendar)
    return retraining.build_training_data(
        config,
        history,
        window_end=window_end,
        load_reference=lambda: load_reference(config_for_champion(config, client=client)),
        labels_as_of=labels_as_of,
    )


@task(name="write-version-reference", cache_policy=NO_CACHE, retries=1, retry_delay_seconds=5)
def write_reference(frame: pd.DataFrame, target: str) -> str:
    """Write a version's reference data (or a companion file such as its held-out rows) to `target`
    (`watchkeeper.retraining.reference_location`: a path or an fsspec URL); returns `target`."""
    if "://" not in target:
        Path(target).parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(target, index=False)
    return target


def notify_lifecycle(
    config: MonitorConfig,
    *,
    event: str,
    version: str | None,
    summary: str,
    store: StateStore,
    channels: Sequence[Channel],
    window_end: datetime | None = None,
    metric: str | None = None,
    value: float | None = None,
    threshold: float | None = None,
    op: str = "",
    instance: str | None = None,
) -> list[dict[str, Any]]:
    """Tell the model's alert channels (the flow's, `open_alert_channels`) about a retraining that
    started, a promotion, a rejection or a rollback: a notice, not an alert.

    Goes through the alerting outbox (`watchkeeper.alerting.delivery.deliver`), so a channel that is
    down gets it on a later run and a retried flow run does not send it twice. Never raises.
    """
    log = run_logger("watchkeeper.retraining")
    log.info("%s %s%s: %s", config.model.name, event, f" v{version}" if version else "", summary)
    try:
        message = retraining.build_lifecycle_message(
            config,
            event=event,
            version=version,
            summary=summary,
            window_end=window_end,
            now=utcnow(),
            metric=metric,
            value=value,
            threshold=threshold,
            op=op,
            instance=instance,
        )
        records = []
        for channel in channels:
            record = deliver(store, channel, message, delivery=config.alerts.delivery, now=utcnow())
            if record is not None:
                records.append(record.to_dict())
        return records
    except Exception as exc:  # a notification problem must not undo a promotion
        log.error(
            "could not notify %s for %s%s: %s: %s",
            event,
            config.model.name,
            f" v{version}" if version else "",
            type(exc).__name__,
            exc,
        )
        return []
