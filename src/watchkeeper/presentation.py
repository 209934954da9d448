"""What a person sees first: run names, state names, artifact keys and rounded figures (pure).

Prefect's runs list and MLflow's run table show a name and little else, so names carry the model and
the window, and the Prefect state carries the verdict. Everything here is plain formatting so the
Prefect and MLflow wiring (`tasks/presentation_tasks.py`, `tasks/tracking_tasks.py`) stays one line
per use, and a unit test pins the exact strings.

A window has one name everywhere (`window_name`: ``credit-risk 2026-03-10 → 03-11``, in the model's
calendar) and a model version one label (`version_label`: ``v1``): Prefect run names and log lines,
MLflow run names and tags, Slack and console alerts, the Prefect cards, `watchkeeper audit`, the CLI's
summaries, the dashboard and Prometheus' `watchkeeper_window_info`. `tests/unit/test_window_identity.py`
renders each view of one window and compares.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from watchkeeper.timegrid import parse_timezone
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

# The arrow between a window's start and end, in every view (Prefect forbids ">" in names).
SPAN_ARROW = " → "
# A window scored by no known version (logs without a version column).
UNKNOWN_VERSION = "unknown"


def _local(value: datetime, zone: ZoneInfo) -> datetime:
    return (as_utc(value) or value).astimezone(zone)


def _clock(value: datetime) -> str:
    return f"{value:%H:%M:%S}" if value.second or value.microsecond else f"{value:%H:%M}"


def window_span(start: datetime, end: datetime, timezone: str = "UTC") -> str:
    """A window's start → end in the model's calendar (`window.timezone`), as short as it stays
    unambiguous; the end is exclusive, and it drops what it shares with the start:

    - whole local days (a day, a week, a month): ``2026-03-10 → 03-11``, ``2026-03-01 → 04-01``,
      ``2025-12-31 → 2026-01-01``;
    - with times (hours, minutes, days from 06:00): ``2026-03-10 06:00 → 07:00``,
      ``2026-03-10 23:00 → 03-11 00:00``, ``2026-03-10 06:00 → 03-11 06:00``.

    Times outside UTC carry the zone's abbreviation (``2026-03-10 06:00 → 07:00 CET``), the
    start's too when a clock change falls inside (``2026-10-25 02:00 CEST → 02:00 CET``), so an hour
    repeated by daylight saving still has a name of its own.
    """
    zone = parse_timezone(timezone)
    a, b = _local(start, zone), _local(end, zone)
    if all(t.time() == time() for t in (a, b)):
        return (
            f"{a:%Y-%m-%d}{SPAN_ARROW}{b:%m-%d}"
            if a.year == b.year
            else f"{a:%Y-%m-%d}{SPAN_ARROW}{b:%Y-%m-%d}"
        )
    if a.date() == b.date():
        tail = _clock(b)
    elif a.year == b.year:
        tail = f"{b:%m-%d} {_clock(b)}"
    else:
        tail = f"{b:%Y-%m-%d} {_clock(b)}"
    head = f"{a:%Y-%m-%d} {_clock(a)}"
    if timezone != "UTC":
        if a.tzname() != b.tzname():
            head += f" {a.tzname()}"
        tail += f" {b.tzname()}"
    return f"{head}{SPAN_ARROW}{tail}"


def window_name(model: str, start: datetime, end: datetime, timezone: str = "UTC") -> str:
    """A window's one name in every view: the model and its span, ``credit-risk 2026-03-10 → 03-11``
    (`window_span`). Machine-readable fields beside it stay ISO-8601 UTC."""
    return f"{model} {window_span(start, end, timezone)}"


def version_label(version: str | None) -> str:
    """A model version for people: ``v1`` (a version that does not start with a digit, such as
    ``v2`` or ``canary``, as written). Tags, JSON and the registry keep the version itself (``1``)."""
    if not version:
        return UNKNOWN_VERSION
    return f"v{version}" if version[0].isdigit() else version


def versions_label(versions: Sequence[str] | str | None) -> str:
    """The versions that scored a window: ``v1``, ``v1, v2`` (a comma-joined ``"1,2"`` too)."""
    if isinstance(versions, str):
        versions = [v for v in versions.split(",") if v]
    return ", ".join(version_label(v) for v in versions or ()) or UNKNOWN_VERSION


def monitor_run_name(model: str, start: datetime, end: datetime, timezone: str = "UTC") -> str:
    """The Prefect flow run name of a monitoring run: the window's name (`window_name`)."""
    return window_name(model, start, end, timezone)


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
    timezone: str = "UTC",
) -> list[str]:
    """Tags of a retrain, deploy or rollback flow run: the model, the window whose run asked
    (``window:2026-03-13 → 03-14``, its span in the model's calendar) and the versions it moves between (``from:1``, ``to:2``), so the runs
    list finds every run of a model, a window or a version with its Tags filter."""
    tags = [model]
    if window is not None:
        tags.append(f"window:{window_span(*window, timezone)}")
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
    timezone: str = "UTC"  # the model's calendar, which the window's name is written in

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
            timezone=report.timezone,
        )

    @property
    def changed(self) -> bool:
        """Re-evaluated, and the verdict is not the one recorded before."""
        return self.was is not None and self.was != self.verdict.label

    @property
    def label(self) -> str:
        """The window's span (`window_span`); with the model in front, its name."""
        return window_span(self.start, self.end, self.timezone)

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

    The message names the windows behind it: ``credit-risk: Critical — 2026-03-07 → 03-08
    re-evaluated with late labels: critical (concept_drift), was warning; current window
    2026-03-10 → 03-11: ok``. Without a changed window it is the window's own, led by its name:
    ``credit-risk 2026-03-10 → 03-11: ok — no check raised anything``.
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
    (description, markdown): ``re-evaluated on 2026-03-11 00:05 UTC by run credit-risk 2026-03-10 → 03-11:
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


def reevaluation_tag(
    start: datetime, end: datetime, before: str, after: Severity, timezone: str = "UTC"
) -> str | None:
    """A tag for a monitoring run whose late labels changed an earlier window's verdict
    (``2026-03-07 → 03-08: warning→critical``), so the runs list shows it next to the run that
    found it; None when the verdict stayed."""
    if before == after.label:
        return None
    return f"{window_span(start, end, timezone)}: {before}→{after.label}"


def window_artifact_key(model: str, start: datetime, end: datetime, name: str, timezone: str = "UTC") -> str:
    """A Prefect artifact key per window and card, the window's name as a key:
    ``credit-risk-2026-03-05-03-06-verdict``.

    Keys allow lowercase letters, digits and dashes only; the same key across runs makes one card
    with a history (a re-evaluated window's card gets a new version, not a second card).
    """
    text = f"{window_name(model, start, end, timezone)}-{name}".lower()
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


def mlflow_run_name(
    model: str, start: datetime, end: datetime, verdict: Severity, timezone: str = "UTC"
) -> str:
    """The MLflow run name: the window's name and its verdict, which the run table shows by default
    (figures and tags need a column chosen by hand): ``credit-risk 2026-03-10 → 03-11 · critical``."""
    return f"{window_name(model, start, end, timezone)} · {verdict.label}"


def markdown_table(rows: list[dict[str, Any]], digits: int = 4) -> str:
    """Rows as a markdown table (columns in first-seen order, floats rounded, ``|`` escaped)."""
    columns = list(dict.fromkeys(k for row in rows for k in row))

    def cell(value: Any) -> str:
        value = round_figure(value, digits)
        return "" if value is None else str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"
