"""Backfill: run the monitor flow over every window in a past time range, with progress.

Windows are prepared in parallel on the configured engine (`execution:`; a thread pool by default,
or a Dask cluster) and folded in window order: each window is still its own monitor run, which
feeds the detectors, judges the alerts, logs to MLflow and applies the retraining policy in turn, so
the result is the sequential backfill's (`parallel=False` runs that one). See
`watchkeeper.backfill`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from flows.monitor import (
    ReferenceFits,
    monitor,
    monitor_checks,
    offer_prepared,
    open_monitor_run,
    scored_by_one,
)
from tasks.data_tasks import open_model_config
from tasks.observability import run_logger
from tasks.presentation_tasks import add_flow_run_tags, name_model_run
from watchkeeper.backfill import BackfillJob, PreparedWindow, WindowItem, backfill_row, prepare_or_skip
from watchkeeper.config import LoadedConfig
from watchkeeper.execution import resolve_execution
from watchkeeper.partitioned.engine import LocalMapper, Mapper, open_mapper, plan_window
from watchkeeper.presentation import labels_tags, window_name
from watchkeeper.timeutil import format_progress, utcnow
from watchkeeper.windows import (
    describe_uncovered_tail,
    read_model_versions,
    reevaluation_start,
    windows_between,
)

# Windows prepared per engine worker before they are folded: bounds the prepared windows held.
AHEAD_PER_WORKER = 2


@task(name="prepare-windows", cache_policy=NO_CACHE)
def prepare_windows(
    loaded: LoadedConfig,
    windows: Sequence[tuple[datetime, datetime]],
    mapper: Mapper,
    hindsight: bool = False,
) -> dict[datetime, PreparedWindow]:
    """Evaluate `windows` in parallel on the engine, detectors deferred (by window end).

    Windows beyond the memory budget, not yet ended, or whose reference cannot be fitted are left
    for their turn (their own monitor run evaluates them, or says why it cannot). The labels are
    read once for the batch, up to its last ended window's end; each window joins those known at
    its own end (every label on disk in `hindsight`).
    """
    ended = [w for w in windows if w[1] <= utcnow()]
    if not ended:
        return {}
    run = open_monitor_run(
        loaded,
        since=reevaluation_start(loaded.config, min(s for s, _ in ended)),
        as_of=max(e for _, e in ended),
        hindsight=hindsight,
    )
    config = run.config
    checks, checks_without_html = monitor_checks(run)
    fits = ReferenceFits(run, checks)
    log = run_logger("watchkeeper.backfill")
    items = []
    for start, end in windows:
        if end > utcnow() or plan_window(config, run.execution, start, end) is not None:
            continue
        try:
            version = scored_by_one(read_model_versions(config, start, end))
            key = fits.key(version)
            fits.fitted(key)
        except Exception as exc:
            name = window_name(config.model.name, start, end, config.window.timezone)
            log.warning("window %s not prepared ahead (%s); it is evaluated in its turn", name, exc)
            continue
        items.append(WindowItem(start, end, version, key))
    job = BackfillJob(
        config=config,
        config_hash=loaded.hash,
        checks=checks_without_html,
        fitted={item.reference_key: fits.by_key[item.reference_key] for item in items},
        labels=run.labels,
        evidently_report=True,
        hindsight=hindsight,
    )
    prepared = mapper.map(prepare_or_skip, job, items)
    return {p.end: p for p in prepared if p is not None}


@flow(name="backfill-model", flow_run_name=name_model_run("backfill", span=("start", "end")))
def backfill(
    config_path: str,
    start: datetime,
    end: datetime,
    parallel: bool = True,
    hindsight: bool = False,
    new_history: bool = False,
) -> list[dict[str, Any]]:
    """Monitor every complete window whose end falls in (start, end], oldest first.

    The past is replayed as it was: each window is judged as of its end, with the labels that had
    arrived by then, and re-evaluated as later days' runs would have when its labels landed. So a
    backfill and the same days monitored one by one give the same reports and alerts. `hindsight`
    judges every window with every label on disk instead (analysis; tagged `labels:hindsight`).

    Re-running a window updates its MLflow run instead of creating another, so a backfill over
    windows already monitored (for example after late labels landed) refreshes them in place. Each
    window logs the progress (done / total, rate, ETA); rows after the last complete window are
    left for that window's own run, and one line says how many and why.

    A window's run stops the backfill when the history is missing or shorter than its anchors
    (`monitor`); `new_history` lets the first window start a new history deliberately (audited).
    """
    loaded = open_model_config(config_path)
    config = loaded.config
    log = run_logger("watchkeeper.backfill")
    if hindsight:
        add_flow_run_tags(labels_tags(hindsight))
    windows = windows_between(start, end, config.window)
    out: list[dict[str, Any]] = []
    began = time.monotonic()
    execution = resolve_execution(config.execution)
    with open_mapper(execution) if parallel else contextlib.nullcontext() as mapper:
        batch_size = AHEAD_PER_WORKER * (_engine_width(mapper) if mapper is not None else 1)
        for first in range(0, len(windows), batch_size):
            batch = windows[first : first + batch_size]
            prepared = prepare_windows(loaded, batch, mapper, hindsight) if mapper is not None else {}
            with offer_prepared(prepared) as offer:
                for _, window_end in batch:
                    report = monitor(
                        config_path,
                        window_end=window_end,
                        hindsight=hindsight,
                        new_history=new_history and not out,
                    )
                    ahead = window_end in offer.taken
                    out.append(backfill_row(report, prepared_ahead=ahead))
                    log.info(
                        "backfill %s: %s (%s)",
                        report.window_name,
                        format_progress(len(out), len(windows), time.monotonic() - began),
                        "prepared ahead" if ahead else "evaluated in its turn",
                    )
    tail = describe_uncovered_tail(config, start, end)
    if tail is not None:
        log.warning("backfill %s: %s", config.model.name, tail)
    return out


def _engine_width(mapper: Mapper) -> int:
    """How many windows the engine prepares at once: its threads, or the cluster's workers."""
    if isinstance(mapper, LocalMapper):
        return mapper.workers
    client = getattr(mapper, "client", None)
    return max(1, len(client.scheduler_info().get("workers", {}))) if client is not None else 1
