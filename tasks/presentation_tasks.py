"""How a flow run looks in the Prefect UI: its name, its tags and its final state.

The names and strings come from `watchkeeper.presentation`; this module only talks to Prefect.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from prefect.client.orchestration import get_client
from prefect.runtime import flow_run
from prefect.states import Completed, State

from watchkeeper.config import MonitorConfig, load_config
from watchkeeper.presentation import (
    RunVerdict,
    WindowVerdict,
    monitor_run_name,
    reevaluation_note,
    run_verdict,
    version_label,
    window_span,
)
from watchkeeper.report import MonitoringReport
from watchkeeper.timeutil import parse_utc
from watchkeeper.windows import window_bounds

log = logging.getLogger("watchkeeper.presentation")


def _config(config_path: Any) -> MonitorConfig | None:
    # A config that does not load fails the run with its own clear error right after; the name
    # falls back to the file's stem so the run is still findable.
    try:
        return load_config(str(config_path))
    except Exception:
        return None


def _time(value: Any) -> datetime | None:
    return parse_utc(value) if isinstance(value, str) else value


def name_monitor_run() -> str:
    """`flow_run_name` of the monitor flow: the window's name, ``credit-risk 2026-03-10 → 03-11``."""
    params = flow_run.parameters
    config_path = params.get("config_path", "?")
    config = _config(config_path)
    if config is None:
        return f"{Path(str(config_path)).stem} {params.get('window_end') or 'latest'}"
    start, end = window_bounds(_time(params.get("window_end")), config.window)
    return monitor_run_name(config.model.name, start, end, config.window.timezone)


def name_model_run(
    action: str, *, window: str | None = None, span: tuple[str, str] | None = None
) -> Callable[[], str]:
    """`flow_run_name` for the other per-model flows, in the names the monitor run uses:

    - `window`, the parameter holding the end of the window whose run asked: the window's name, then
      the action and any `version` parameter (``credit-risk 2026-03-10 → 03-11 retrain``,
      ``credit-risk 2026-03-10 → 03-11 deploy v3``), so searching the runs list for a window's name
      finds its retraining and deployment too; without a window, ``credit-risk retrain``;
    - `span`, the parameters holding a time range: ``credit-risk backfill 2026-03-01 → 03-15``.
    """

    def name() -> str:
        params = flow_run.parameters
        config_path = params.get("config_path", "?")
        config = _config(config_path)
        model = config.model.name if config is not None else Path(str(config_path)).stem
        zone = config.window.timezone if config is not None else "UTC"
        parts = [model]
        end = _time(params.get(window)) if window else None
        if end is not None and config is not None:
            with contextlib.suppress(ValueError):  # not a window boundary: the flow says so
                parts[0] = monitor_run_name(model, *window_bounds(end, config.window), zone)
        parts.append(action)
        if params.get("version") is not None:
            parts.append(version_label(str(params["version"])))
        times = [_time(params.get(p)) for p in span or ()]
        if len(times) == 2 and times[0] is not None and times[1] is not None:
            parts.append(window_span(times[0], times[1], zone))
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


def verdict_state(report: MonitoringReport, outcome: RunVerdict | None = None) -> State[MonitoringReport]:
    """The monitor run's final state: `Completed`, named after the run's verdict (OK, Warning,
    Critical) — the worst of its window's and of the re-evaluated windows whose verdict changed
    (`outcome`, `watchkeeper.presentation.run_verdict`; without it, the window's own).

    A `Completed` type keeps retries (only for failed runs) and "failed run" counts for runs that
    could not monitor; the name is shown in the runs list and is the event automations match
    (``prefect.flow-run.Critical``). Calling the flow still returns the window's report.
    """
    outcome = outcome or run_verdict(report.model, WindowVerdict.of(report))
    return Completed(name=outcome.state_name, message=outcome.message, data=report)


def reevaluation_preface(
    report: MonitoringReport, verdict: WindowVerdict, *, run_name: str, run_url: str | None
) -> tuple[str, str]:
    """What a re-evaluated window's new card says first, as (description, markdown): "re-evaluated
    on … by run …: verdict now … (was …), label coverage …" (`watchkeeper.presentation.reevaluation_note`).
    The card goes to the window's own flow run, so whoever opens that run sees its current verdict."""
    window = report.section("window")
    return reevaluation_note(
        verdict,
        model=report.model,
        when=report.evaluated_at,
        run_name=run_name,
        run_url=run_url,
        labeled=window.labeled if window else 0,
        rows=window.rows if window else 0,
    )
