"""Backfill: run the monitor flow over every window in a past time range."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import flow

from flows.monitor import monitor
from tasks.data_tasks import open_model_config
from tasks.presentation_tasks import name_model_run
from watchkeeper.windows import windows_between


@flow(name="backfill-model", flow_run_name=name_model_run("backfill", "start", "end"))
def backfill(config_path: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Monitor every complete window whose end falls in (start, end], oldest first.

    Re-running a window updates its MLflow run instead of creating another, so a backfill over
    windows already monitored (for example after late labels landed) refreshes them in place.
    """
    config = open_model_config(config_path).config
    out = []
    for _, window_end in windows_between(start, end, config.window.size):
        report = monitor(config_path, window_end=window_end)
        out.append(
            {
                "window_end": window_end.isoformat(),
                "verdict": report.verdict.label,
                "mlflow_run_id": report.mlflow_run_id,
            }
        )
    return out
