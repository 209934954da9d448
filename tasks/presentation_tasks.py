"""How a flow run looks in the Prefect UI: its name, its tags and its final state.

The names and strings come from `watchkeeper.presentation`; this module only talks to Prefect.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from prefect.client.orchestration import get_client
from prefect.runtime import flow_run
from prefect.states import Completed, State

from watchkeeper.config import load_config
from watchkeeper.presentation import monitor_run_name, verdict_state_name, window_label
from watchkeeper.report import MonitoringReport
from watchkeeper.timeutil import parse_utc
from watchkeeper.windows import window_bounds

log = logging.getLogger("watchkeeper.presentation")


def _model_name(config_path: Any) -> str:
    # A config that does not load fails the run with its own clear error right after; the name
    # falls back to the file's stem so the run is still findable.
    try:
        return load_config(str(config_path)).model.name
    except Exception:
        return Path(str(config_path)).stem


def _window_end(value: Any) -> datetime | None:
    return parse_utc(value) if isinstance(value, str) else value


def name_monitor_run() -> str:
    """`flow_run_name` of the monitor flow: ``credit-risk 2026-03-05`` (model and window)."""
    params = flow_run.parameters
    config_path = params.get("config_path", "?")
    try:
        config = load_config(str(config_path))
    except Exception:
        return f"{_model_name(config_path)} {params.get('window_end') or 'latest'}"
    start, end = window_bounds(_window_end(params.get("window_end")), config.window.size)
    return monitor_run_name(config.model.name, start, end)


def name_model_run(action: str, *time_params: str) -> Callable[[], str]:
    """`flow_run_name` for the other per-model flows: ``credit-risk retrain`` or, with time
    parameters, ``credit-risk backfill 2026-03-01–2026-03-15``."""

    def name() -> str:
        params = flow_run.parameters
        parts = [_model_name(params.get("config_path", "?")), action]
        times = [_window_end(params.get(p)) for p in time_params if params.get(p) is not None]
        if len(times) == 2:
            parts.append(f"{times[0]:%Y-%m-%d}–{times[1]:%Y-%m-%d}")
        elif len(times) == 1:
            parts.append(f"{times[0]:%Y-%m-%d %H:%M}")
        return " ".join(parts)

    return name


def add_flow_run_tags(tags: Iterable[str]) -> None:
    """Add tags to the current flow run (Prefect replaces the list, so the existing ones are kept).

    Best effort: tags are for finding runs; failing to set them must not fail the monitoring.
    """
    run_id = flow_run.get_id()
    if run_id is None:
        return
    try:
        with get_client(sync_client=True) as client:
            current = client.read_flow_run(run_id).tags or []
            wanted = list(dict.fromkeys([*current, *tags]))
            if wanted != current:
                client.update_flow_run(run_id, tags=wanted)
    except Exception as exc:
        log.warning("could not tag flow run %s: %s", run_id, exc)


def verdict_state(report: MonitoringReport) -> State[MonitoringReport]:
    """The monitor run's final state: `Completed`, named after the verdict (OK, Warning, Critical).

    A `Completed` type keeps retries (only for failed runs) and "failed run" counts for runs that
    could not monitor; the name is shown in the runs list and is the event automations match
    (``prefect.flow-run.Critical``). Calling the flow still returns the report.
    """
    label = window_label(report.window_start, report.window_end)
    reasons = "; ".join(report.reasons[:3]) or "no check raised anything"
    return Completed(
        name=verdict_state_name(report.verdict),
        message=f"{report.model} {label}: {report.verdict.label} — {reasons}"[:1000],
        data=report,
    )
