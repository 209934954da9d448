"""A critical window, visible in Prefect's runs list: a child run of the monitor run that ends `Failed`.

Prefect paints a run by its state's type, so the monitor run's `Completed` state named "Critical"
is as green as an OK run. The monitor run stays `Completed` (it did its job: retries, `on_failure`
hooks, "failed run" counts and its callers — backfill, the demo, scripts that call `monitor` for its
report — are for runs that could not monitor); for each critical window it produced (its own, or a
re-evaluated window that turned critical) it starts this child run, named after the window, which
ends `Failed` under the name "Critical": a red row in the runs list next to its monitor run, the
event `prefect.flow-run.Critical` for automations. docs/architecture.md weighs the alternatives.
"""

from __future__ import annotations

import logging
from datetime import datetime

from prefect import flow, tags
from prefect.states import Failed, State

from watchkeeper.presentation import CRITICAL_STATE_NAME, monitor_run_name, verdict_tags
from watchkeeper.verdict import Severity

log = logging.getLogger("watchkeeper.presentation")


@flow(name="critical-window", retries=0, log_prints=False)
def critical_window(model: str, window_start: datetime, window_end: datetime, message: str) -> State[None]:
    """A critical window of `model` (judged by the monitor run above this one): the state's message
    says why. Nothing runs here; open the parent monitor run for the verdict card and the reasons."""
    return Failed(name=CRITICAL_STATE_NAME, message=message)


def mark_critical(
    model: str, start: datetime, end: datetime, message: str, timezone: str = "UTC"
) -> State[None] | None:
    """Start the child run for one critical window; its state is returned, never raised.

    Best effort: a child run that cannot be created is a warning (the monitor run's state and tags
    still say Critical), never a failed monitoring run.
    """
    name = monitor_run_name(model, start, end, timezone)  # the window's own name, beside its run
    # Tagged like its monitor run, so filtering the runs list by the model keeps the red row.
    named = critical_window.with_options(flow_run_name=name)
    try:
        with tags(*verdict_tags(model, Severity.CRITICAL)):
            return named(model, start, end, message, return_state=True)
    except Exception as exc:
        log.warning("could not mark %s critical in the runs list: %s", name, exc)
        return None
