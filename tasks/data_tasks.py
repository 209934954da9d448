"""Loading configs and data for a monitoring run (retried: sources are remote in production)."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from watchkeeper.config import MonitorConfig, load_config
from watchkeeper.windows import WindowData, load_reference, load_window

load_model_config = task(name="load-config", cache_policy=NO_CACHE)(load_config)


@task(name="load-window", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[5, 30])
def load_window_data(config: MonitorConfig, start: datetime, end: datetime) -> WindowData:
    """Read the window's inference logs (only the configured columns and rows) and join late labels."""
    return load_window(config, start, end)


@task(name="load-reference", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[5, 30])
def load_reference_data(config: MonitorConfig) -> pd.DataFrame:
    """Read the reference data the window is compared with."""
    return load_reference(config)
