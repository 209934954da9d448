"""What a person sees first: run names, state names, artifact keys and rounded figures (pure).

Prefect's runs list and MLflow's run table show a name and little else, so names carry the model and
the window, and the Prefect state carries the verdict. Everything here is plain formatting so the
Prefect and MLflow wiring (`tasks/presentation_tasks.py`, `tasks/tracking_tasks.py`) stays one line
per use, and a unit test pins the exact strings.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from watchkeeper.timeutil import as_utc
from watchkeeper.verdict import Severity

if TYPE_CHECKING:  # the report imports the alerting package, whose rendering imports this module
    from watchkeeper.report import MonitoringReport

# The names of the monitor flow run's final `Completed` state, by verdict. The state type stays
# COMPLETED: the run did its job (retries and "failed" counts are for runs that could not monitor),
# and the name is what the runs list shows and what automations match (`prefect.flow-run.Critical`).
VERDICT_STATE_NAMES = {Severity.OK: "OK", Severity.WARNING: "Warning", Severity.CRITICAL: "Critical"}
# A critical window also gets a child run ending `Failed` under this name (red in the runs list;
# flows/critical_window.py).
CRITICAL_STATE_NAME = VERDICT_STATE_NAMES[Severity.CRITICAL]

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


# The level of a run's verdict line: a Prefect run's log view filtered to warnings shows the windows
# that need a look, an error the critical ones.
VERDICT_LOG_LEVELS = {
    Severity.OK: logging.INFO,
    Severity.WARNING: logging.WARNING,
    Severity.CRITICAL: logging.ERROR,
}


def verdict_log_level(verdict: Severity) -> int:
    """The logging level of a verdict's line: INFO, WARNING or ERROR."""
    return VERDICT_LOG_LEVELS[verdict]


def verdict_tags(model: str, verdict: Severity) -> list[str]:
    """Tags of a monitoring flow run: the model and the verdict, filterable in the runs list."""
    return [model, f"verdict:{verdict.label}"]


def lifecycle_tags(
    model: str,
    *,
    window: tuple[datetime, datetime] | None = None,
    from_version: str | None = None,
    to_version: str | None = None,
) -> list[str]:
    """Tags of a retrain, deploy or rollback flow run: the model, the window whose run asked
    (``window:2026-03-13``) and the versions it moves between (``from:1``, ``to:2``), so the runs
    list finds every run of a model, a window or a version with its Tags filter."""
    tags = [model]
    if window is not None:
        tags.append(f"window:{window_label(*window)}")
    if from_version is not None:
        tags.append(f"from:{from_version}")
    if to_version is not None:
        tags.append(f"to:{to_version}")
    return tags


# How many rule names a state message lists per window before "…" (the reasons are in the report).
STATE_MESSAGE_RULES = 3
STATE_MESSAGE_LIMIT = 1000  # Prefect shows a state message in one line of the runs list


@dataclass(frozen=True)
class WindowVerdict:
    """One window's verdict as a monitoring run produced it.

    `was` is the verdict recorded before this run re-evaluated the window (late labels); None for the
    run's own window.
    """

    start: datetime
    end: datetime
    verdict: Severity
    rules: tuple[str, ...] = ()  # the rules that hold, worst first
    reasons: tuple[str, ...] = ()
    was: str | None = None

    @classmethod
    def of(cls, report: MonitoringReport, *, was: str | None = None) -> WindowVerdict:
        ranked = sorted(report.findings, key=lambda f: -f.severity)
        rules = dict.fromkeys(f.rule_name for f in ranked if f.severity > Severity.OK)
        return cls(
            start=report.window_start,
            end=report.window_end,
            verdict=report.verdict,
            rules=tuple(rules),
            reasons=tuple(report.reasons),
            was=was,
        )

    @property
    def changed(self) -> bool:
        """Re-evaluated, and the verdict is not the one recorded before."""
        return self.was is not None and self.was != self.verdict.label

    @property
    def label(self) -> str:
        return window_label(self.start, self.end)

    def says(self) -> str:
        """``critical (concept_drift, performance_drop)``, ``ok``."""
        if not self.rules:
            return self.verdict.label
        shown = ", ".join(self.rules[:STATE_MESSAGE_RULES])
        more = ", …" if len(self.rules) > STATE_MESSAGE_RULES else ""
        return f"{self.verdict.label} ({shown}{more})"


@dataclass(frozen=True)
class RunVerdict:
    """A monitoring run's outcome: its state's verdict and the state's message."""

    verdict: Severity
    message: str

    @property
    def state_name(self) -> str:
        return verdict_state_name(self.verdict)


def run_verdict(model: str, current: WindowVerdict, reevaluated: Sequence[WindowVerdict] = ()) -> RunVerdict:
    """The worst verdict a monitoring run produced: its own window's, and every re-evaluated window's
    whose verdict the late labels changed (an unchanged one was announced by an earlier run).

    The message names the windows behind it: ``credit-risk: Critical — 2026-03-07 re-evaluated with
    late labels: critical (concept_drift), was warning; current window 2026-03-10: ok``. Without a
    changed window it is the window's own: ``credit-risk 2026-03-10: ok — no check raised anything``.
    """
    changed = [w for w in reevaluated if w.changed]
    verdict = max([current.verdict, *(w.verdict for w in changed)])
    if not changed:
        reasons = "; ".join(current.reasons[:3]) or "no check raised anything"
        message = f"{model} {current.label}: {current.verdict.label} — {reasons}"
    else:
        parts = [f"{w.label} re-evaluated with late labels: {w.says()}, was {w.was}" for w in changed]
        parts.append(f"current window {current.label}: {current.says()}")
        message = f"{model}: {verdict_state_name(verdict)} — {'; '.join(parts)}"
    return RunVerdict(verdict=verdict, message=message[:STATE_MESSAGE_LIMIT])


def critical_windows(
    current: WindowVerdict, reevaluated: Sequence[WindowVerdict] = ()
) -> list[WindowVerdict]:
    """The windows a monitoring run marks critical in the runs list: re-evaluated windows whose late
    labels made them critical (oldest first), then its own window, if critical."""
    changed = [w for w in reevaluated if w.changed]
    return [w for w in [*changed, current] if w.verdict == Severity.CRITICAL]


def reevaluation_note(
    window: WindowVerdict,
    *,
    model: str,
    when: datetime,
    run_name: str,
    run_url: str | None,
    labeled: int,
    rows: int,
) -> tuple[str, str]:
    """What a re-evaluated window's own Prefect run shows of its newest evaluation, as
    (description, markdown): ``re-evaluated on 2026-03-10 00:05 UTC by run credit-risk 2026-03-10:
    verdict now critical (was warning), label coverage 70% (420 of 600 rows)``."""
    when_text = f"{as_utc(when) or when:%Y-%m-%d %H:%M} UTC"
    now = "now" if window.changed else "still"
    was = f" (was {window.was})" if window.changed else ""
    coverage = f"{labeled / rows:.0%} ({labeled} of {rows} rows)" if rows else "no rows"
    tail = f"verdict {now} {window.verdict.label}{was}, label coverage {coverage}"
    description = f"Re-evaluated on {when_text} by run {run_name}: {tail}"
    by = f"[{run_name}]({run_url})" if run_url else f"**{run_name}**"
    lines = [
        f"# {model} {window.label}: re-evaluated with late labels",
        "",
        f"Re-evaluated on {when_text} by run {by}: verdict {now} **{window.verdict.label.upper()}**{was}, "
        f"label coverage {coverage}.",
    ]
    if window.reasons:
        lines += ["", *(f"- {reason}" for reason in window.reasons)]
    return description, "\n".join(lines) + "\n"


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


def markdown_table(rows: list[dict[str, Any]], digits: int = 4) -> str:
    """Rows as a markdown table (columns in first-seen order, floats rounded, ``|`` escaped)."""
    columns = list(dict.fromkeys(k for row in rows for k in row))

    def cell(value: Any) -> str:
        value = round_figure(value, digits)
        return "" if value is None else str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"
