"""The check runner: one window through every check, failures isolated, the report assembled.

    fitted = fit_checks(checks, reference, config)             # once per reference
    result = evaluate_window(checks, fitted, config=config, config_hash=..., start=..., end=...,
                             load=lambda: load_window(config, start, end), labels_complete=True)
    result.report        # the MonitoringReport: verdict, reasons, every figure
    result.publication   # what the sections publish: MLflow artifacts, Prefect tables and markdown

`evaluate_window` loads the window, runs each check's `evaluate` (a check that raises is listed in
the report's errors with its message, and every other check still runs), measures each step's wall
time, CPU time and peak memory (the `footprint` section), assembles the `MonitoringReport` and
merges what every result publishes. Nothing here branches on a particular check.

`run` executes each step: `run(step, fn, *args)` must return `fn(*args)`. The monitor flow passes
one that runs each step as a Prefect task (one task per check in the UI); by default steps are plain
calls, as in benchmarks and notebooks. Steps are named ``fit-<check>`` for fits, ``load_window``, and
the check's name for evaluations.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, TypeVar

from watchkeeper.bad_data import LabelsReport, count_rows_after_evaluation
from watchkeeper.checks import Check, Window, assess_fits, model_versions
from watchkeeper.config import MonitorConfig
from watchkeeper.footprint import StepFootprint
from watchkeeper.guards import ReferenceTooSmall, reference_too_small
from watchkeeper.performance import PerformanceReport
from watchkeeper.report import MonitoringReport
from watchkeeper.sources.arrow import release_arrow_memory
from watchkeeper.timeutil import utcnow
from watchkeeper.verdict import NOTHING_TO_PUBLISH, Publication, Publishes, SectionReport
from watchkeeper.windows import ReferenceData, WindowData, WindowReport

T = TypeVar("T")
Runner = Callable[..., Any]

_log = logging.getLogger("watchkeeper.monitoring")


def call_directly(step: str, fn: Callable[..., T], *args: Any) -> T:
    """The default `run`: a step is a plain call."""
    return fn(*args)


@dataclass(frozen=True)
class FittedChecks:
    """What each check learned from one reference, by check name."""

    reference_fingerprint: str | None
    fitted: Mapping[str, Any] = field(default_factory=dict)

    def get(self, name: str) -> Any:
        return self.fitted.get(name)


def fit_checks(
    checks: Sequence[Check], reference: ReferenceData, config: MonitorConfig, *, run: Runner = call_directly
) -> FittedChecks:
    """Fit every check on the reference (a failing fit stops the run: the config or data is wrong).

    A check whose reference is below its `min_reference_rows` gets `ReferenceTooSmall` instead: an
    error of that check in every window, while the others still run.
    """
    rows = len(reference.frame)
    fitted: dict[str, Any] = {}
    for check in checks:
        small = reference_too_small(check.name, rows, config.min_reference_rows)
        try:
            fitted[check.name] = run(f"fit-{check.name}", check.fit, reference, config)
        except Exception:
            if small is None:
                raise
            fitted[check.name] = small
        if small is not None and fitted[check.name] is not None:
            fitted[check.name] = small  # a disabled check (fitted None) needs no reference
    return FittedChecks(reference.fingerprint, fitted)


@dataclass(frozen=True)
class WindowEvaluation:
    """A window's report, what its sections publish, and whether its rows may train a model."""

    report: MonitoringReport
    publication: Publication
    usable_for_training: bool


def evaluate_window(
    checks: Sequence[Check],
    fitted: FittedChecks,
    *,
    config: MonitorConfig,
    config_hash: str,
    start: datetime,
    end: datetime,
    load: Callable[[], WindowData],
    labels_complete: bool,
    state: Mapping[str, Any] | None = None,
    extra_sections: Mapping[str, SectionReport] | None = None,
    flow_run_id: str | None = None,
    run: Runner = call_directly,
    log: logging.Logger | logging.LoggerAdapter[logging.Logger] | None = None,
) -> WindowEvaluation:
    """Run every check on the window ``[start, end)``; see the module docstring.

    `state` is what checks carry between windows, by check name; `extra_sections` are figures
    measured elsewhere (the host's latest health sample), added after the checks' sections.
    """
    log = log or _log
    footprint = StepFootprint()
    with footprint.measure("load_window"):
        data: WindowData = run("load_window", load)
    window = Window(config, start, end, data.frame, labels_complete=labels_complete, state=state or {})

    sections: dict[str, SectionReport] = {"window": data.report, "checks": assess_fits(fitted.fitted)}
    errors: dict[str, str] = {}
    publication = NOTHING_TO_PUBLISH
    for check in checks:
        if isinstance(fitted.get(check.name), ReferenceTooSmall):
            errors[check.name] = fitted.get(check.name).message
            continue
        try:
            # Step names are undotted (they name figures); a section may be dotted (drift.multivariate).
            with footprint.measure(check.name.replace(".", "_")):
                result: Publishes | None = run(check.name, check.evaluate, fitted.get(check.name), window)
                # Arrow's allocator keeps what a check freed (string kernels, sorts): ~90 MB after
                # validation at 1M rows, held through every later check unless given back.
                release_arrow_memory()
        except Exception as exc:
            log.exception("check %s failed", check.name)
            errors[check.name] = f"{type(exc).__name__}: {exc}"
            continue
        if result is None:
            continue
        if isinstance(result, SectionReport):
            sections[check.name] = result
        publication = publication.merge(result.publish())
    sections.update(extra_sections or {})
    sections["footprint"] = footprint.report()
    return assemble_window(
        config,
        config_hash,
        start,
        end,
        sections,
        errors,
        publication,
        model_versions(config, data.frame),
        flow_run_id,
    )


def assemble_window(
    config: MonitorConfig,
    config_hash: str,
    start: datetime,
    end: datetime,
    sections: dict[str, SectionReport],
    errors: dict[str, str],
    publication: Publication,
    versions: tuple[str, ...],
    flow_run_id: str | None,
) -> WindowEvaluation:
    """The window's report from its sections (in memory, or merged from partitions)."""
    report = MonitoringReport(
        model=config.model.name,
        window_start=start,
        window_end=end,
        evaluated_at=utcnow(),
        model_versions=versions,
        config_hash=config_hash,
        sections=sections,
        errors=errors,
        flow_run_id=flow_run_id,
        # The rules judge the window (its verdict) and drive its alerts: one judge.
        rules=tuple(config.alerts.effective_rules()),
        timezone=config.window.timezone,
    )
    usable = all(getattr(section, "usable_for_training", True) for section in sections.values())
    return WindowEvaluation(report, publication, usable)


def with_sections(result: WindowEvaluation, extra: Mapping[str, SectionReport]) -> WindowEvaluation:
    """`result` with sections replaced or added (new ones before `footprint`, as `extra_sections` of
    `evaluate_window` are): what a window evaluated ahead of its turn learns in it."""
    if not extra:
        return result
    sections = dict(result.report.sections)
    footprint = sections.pop("footprint", None)
    sections.update(extra)
    if footprint is not None:
        sections["footprint"] = footprint
    usable = all(getattr(section, "usable_for_training", True) for section in sections.values())
    return replace(result, report=replace(result.report, sections=sections), usable_for_training=usable)


def add_data_findings(
    result: WindowEvaluation,
    config: MonitorConfig,
    *,
    as_of: datetime,
    now: datetime,
    labels: LabelsReport | None,
) -> WindowEvaluation:
    """`result` with what a run knows of its data beyond the window's rows (`watchkeeper.bad_data`):
    the rows of the logs stamped after the evaluation time (`window.rows_after_evaluation`, a note
    naming the source and the time range), and the run's `labels` section (an unreadable source,
    labels that match no request; the performance section's `unmatched_labels` with it)."""
    extra: dict[str, SectionReport] = {}
    window = result.report.section("window")
    if isinstance(window, WindowReport):
        after = count_rows_after_evaluation(config, window.start, window.end, as_of=as_of, now=now)
        said = after.describe() if after.rows else None
        notes = (*window.notes, said) if said else window.notes
        extra["window"] = replace(
            window, rows_after_evaluation=after.rows, after_evaluation=said, notes=notes
        )
    if labels is not None:
        extra["labels"] = labels
        perf = result.report.section("perf")
        if isinstance(perf, PerformanceReport) and labels.unmatched is not None:
            extra["perf"] = replace(perf, unmatched_labels=labels.unmatched)
    return with_sections(result, extra)
