"""Loading configs and data for a monitoring run (retried: sources are remote in production)."""

from __future__ import annotations

from datetime import datetime

from prefect import task
from prefect.cache_policies import NO_CACHE

from watchkeeper.config import MonitorConfig, load_config_file
from watchkeeper.windows import Labels, ReferenceData, read_labels, read_reference

open_model_config = task(name="load-config", cache_policy=NO_CACHE)(load_config_file)


@task(name="load-reference", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[5, 30])
def load_reference_data(config: MonitorConfig) -> ReferenceData:
    """Read the reference data the window is compared with (and its fingerprint, for caches)."""
    return read_reference(config)


@task(name="load-labels", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[5, 30])
def load_labels(
    config: MonitorConfig, *, since: datetime, as_of: datetime, hindsight: bool = False
) -> Labels | None:
    """Read the ground truth that arrived from `since` to `as_of` (every label in `hindsight`), once
    per run; each window joins its rows from it."""
    return read_labels(config, since=since, as_of=as_of, hindsight=hindsight)
