"""What a person sees first: run names, state names, artifact keys and rounded figures (pure).

Prefect's runs list and MLflow's run table show a name and little else, so names carry the model and
the window, and the Prefect state carries the verdict. Everything here is plain formatting so the
Prefect and MLflow wiring (`tasks/presentation_tasks.py`, `tasks/tracking_tasks.py`) stays one line
per use, and a unit test pins the exact strings.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta
from typing import Any

from watchkeeper.timeutil import as_utc
from watchkeeper.verdict import Severity

# The names of the monitor flow run's final `Completed` state, by verdict. The state type stays
# COMPLETED: the run did its job (retries and "failed" counts are for runs that could not monitor),
# and the name is what the runs list shows and what automations match (`prefect.flow-run.Critical`).
VERDICT_STATE_NAMES = {Severity.OK: "OK", Severity.WARNING: "Warning", Severity.CRITICAL: "Critical"}

_DAY = timedelta(days=1)


def window_label(start: datetime, end: datetime) -> str:
    """``2026-03-05`` for a calendar day, else ``2026-03-05 06:00–12:00`` (or with both dates)."""
    start, end = as_utc(start) or start, as_utc(end) or end
    midnight = start.hour == start.minute == start.second == 0 and start.microsecond == 0
    if end - start == _DAY and midnight:
        return f"{start:%Y-%m-%d}"
    if start.date() == end.date() or (end - start < _DAY and end.time() == datetime.min.time()):
        return f"{start:%Y-%m-%d %H:%M}–{end:%H:%M}"
    return f"{start:%Y-%m-%d %H:%M}–{end:%Y-%m-%d %H:%M}"


def monitor_run_name(model: str, start: datetime, end: datetime) -> str:
    """The Prefect flow run name of a monitoring run: ``credit-risk 2026-03-05``."""
    return f"{model} {window_label(start, end)}"


def verdict_state_name(verdict: Severity) -> str:
    """The name of the monitor run's final state for a verdict (see `VERDICT_STATE_NAMES`)."""
    return VERDICT_STATE_NAMES[verdict]


def verdict_tags(model: str, verdict: Severity) -> list[str]:
    """Tags of a monitoring flow run: the model and the verdict, filterable in the runs list."""
    return [model, f"verdict:{verdict.label}"]


HINDSIGHT_TAG = "labels:hindsight"


def labels_tags(hindsight: bool) -> list[str]:
    """`labels:hindsight` for a run that joined every label on disk, not the labels known then."""
    return [HINDSIGHT_TAG] if hindsight else []


def reevaluation_tag(start: datetime, end: datetime, before: str, after: Severity) -> str | None:
    """A tag for a monitoring run whose late labels changed an earlier window's verdict
    (``2026-03-10 warning→critical``), so the runs list shows it next to the run that found it;
    None when the verdict stayed."""
    if before == after.label:
        return None
    return f"{window_label(start, end)} {before}→{after.label}"


def window_artifact_key(model: str, start: datetime, end: datetime, name: str) -> str:
    """A Prefect artifact key per model, window and card: ``credit-risk-2026-03-05-verdict``.

    Keys allow lowercase letters, digits and dashes only; the same key across runs makes one card
    with a history (a re-evaluated window's card gets a new version, not a second card).
    """
    text = f"{model}-{window_label(start, end)}-{name}".lower()
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]", "-", text)).strip("-")


def round_figure(value: Any, digits: int = 4) -> Any:
    """A float rounded to `digits` significant digits (integers, text and None pass through)."""
    if isinstance(value, bool) or not isinstance(value, float):
        return value
    if not math.isfinite(value):
        return None
    if value == 0.0:
        return 0.0
    magnitude = math.floor(math.log10(abs(value)))
    return round(value, max(digits - 1 - magnitude, 0))


def round_table(rows: list[dict[str, Any]], digits: int = 4) -> list[dict[str, Any]]:
    """Every float of a table rounded (`round_figure`), for people reading a table artifact."""
    return [{k: round_figure(v, digits) for k, v in row.items()} for row in rows]


def window_range(start: datetime, end: datetime) -> str:
    """Start–end, short: ``2026-03-05–03-06`` for whole days, else with the times."""
    start, end = as_utc(start) or start, as_utc(end) or end
    if all(t.time() == datetime.min.time() for t in (start, end)):
        return (
            f"{start:%Y-%m-%d}–{end:%m-%d}" if start.year == end.year else f"{start:%Y-%m-%d}–{end:%Y-%m-%d}"
        )
    return f"{start:%Y-%m-%d %H:%M}–{end:%m-%d %H:%M}"


def mlflow_run_name(start: datetime, end: datetime, verdict: Severity) -> str:
    """The MLflow run name: the window (start–end) and its verdict, which the run table shows by
    default (figures and tags need a column chosen by hand)."""
    return f"{window_range(start, end)} {verdict.label}"
