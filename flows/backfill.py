"""Backfill: run the monitor flow over every window in a past time range, with progress."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from prefect import flow

from flows.monitor import monitor
from tasks.data_tasks import open_model_config
from tasks.observability import run_logger
from tasks.presentation_tasks import name_model_run
from watchkeeper.timeutil import format_progress
from watchkeeper.windows import describe_uncovered_tail, windows_between


@flow(name="backfill-model", flow_run_name=name_model_run("backfill", "start", "end"))
def backfill(config_path: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Monitor every complete window whose end falls in (start, end], oldest first.

    Re-running a window updates its MLflow run instead of creating another, so a backfill over
    windows already monitored (for example after late labels landed) refreshes them in place. Each
    window logs the progress (done / total, rate, ETA); rows after the last complete window are
    left for that window's own run, and one line says how many and why.
    """
    config = open_model_config(config_path).config
    log = run_logger("watchkeeper.backfill")
    windows = windows_between(start, end, config.window)
    out = []
    began = time.monotonic()
    for done, (_, window_end) in enumerate(windows, start=1):
        report = monitor(config_path, window_end=window_end)
        out.append(
            {
                "window_end": window_end.isoformat(),
                "verdict": report.verdict.label,
                "mlflow_run_id": report.mlflow_run_id,
            }
        )
        log.info(
            "backfill %s: %s",
            config.model.name,
            format_progress(done, len(windows), time.monotonic() - began),
        )
    tail = describe_uncovered_tail(config, start, end)
    if tail is not None:
        log.warning("backfill %s: %s", config.model.name, tail)
    return out
