"""The check lifecycle: every check fits the reference once and evaluates windows against it.

    fitted = check.fit(reference, config)     # plain data: what the check learned from the reference
    section = check.evaluate(fitted, window)  # an immutable SectionReport (or None: nothing to judge)

In the spirit of NannyML's calculators, with immutable results. `fit` depends on the reference and
the config only, so a run that evaluates several windows against one reference fits once
(`watchkeeper.monitoring.fit_checks`), and the drift check keeps its fitted profiles across runs
under the reference's fingerprint. `evaluate` sees one `Window`; a later issue splits it into
per-partition work and a merge, so each check's `evaluate` is where that seam lies.

The checks here adapt the model config to the domain functions (`watchkeeper.drift`,
`watchkeeper.performance`, `watchkeeper.validation`), so the monitor flow, the benchmarks and
notebooks run them the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import pandas as pd

from watchkeeper.analysis_checks import EmbeddingDriftCheck, MultivariateDriftCheck, SegmentsCheck
from watchkeeper.config import MonitorConfig, TaskType
from watchkeeper.drift import DriftReport, ReferenceProfile, evaluate_drift, fit_drift
from watchkeeper.drift.html import EvidentlyInputs, sample_evidently_inputs, with_drift
from watchkeeper.drift.learned import learn_thresholds, with_learned_thresholds
from watchkeeper.drift.page_process import render_page
from watchkeeper.guards import check_window_labels
from watchkeeper.performance import (
    PerformanceBaseline,
    PerformanceReport,
    ServingReport,
    compute_serving_metrics,
    evaluate_performance,
    fit_performance_baseline,
)
from watchkeeper.performance.baseline import chunk_reference
from watchkeeper.quoting import cap_text
from watchkeeper.validation import ExpectationSuiteSpec, ValidationReport, load_suite, validate_window
from watchkeeper.verdict import NOTHING_TO_PUBLISH, Finding, Publication, Publishes, Severity
from watchkeeper.windows import ReferenceData


@dataclass(frozen=True)
class Window:
    """One window as a check sees it: its rows (labels joined), bounds and what earlier runs left.

    `labels_complete` is true once the label lag has passed (no more labels will come). `state`
    holds what a check carries from window to window, by check name (the performance check's
    sequential detectors).
    """

    config: MonitorConfig
    start: datetime
    end: datetime
    frame: pd.DataFrame
    labels_complete: bool = True
    state: Mapping[str, Any] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return self.frame.empty


@runtime_checkable
class Check(Protocol):
    """A check: `name` is its section in the report (and its step in the footprint)."""

    @property
    def name(self) -> str: ...

    def fit(self, reference: ReferenceData, config: MonitorConfig) -> Any: ...

    def evaluate(self, fitted: Any, window: Window) -> Publishes | None: ...


@runtime_checkable
class ReportsUnfitted(Protocol):
    """Optional for what a check fitted: the parts it could not fit on this reference, and why
    (`PerformanceBaseline`: CBPE on a one-class reference). Those parts judge nothing in any window."""

    def unfitted_parts(self) -> Mapping[str, str]: ...


@dataclass(frozen=True)
class ChecksReport:
    """Section "checks": the parts of checks that could not be fitted on the reference, and why.

    A part that could not fit is not a window without findings: the `check_not_fitted` rule makes
    the verdict say so (the estimates it would give are missing from every window).
    """

    not_fitted: Mapping[str, str] = field(default_factory=dict)  # "<check>.<part>" → why

    def figures(self) -> dict[str, float]:
        return {"not_fitted": float(len(self.not_fitted))}

    def findings(self) -> list[Finding]:
        return [
            Finding(
                "checks",
                Severity.CRITICAL,
                f"{part} could not be fitted on the reference: {why}",
                rule="check_not_fitted",
            )
            for part, why in self.not_fitted.items()
        ]

    def publish(self) -> Publication:
        return NOTHING_TO_PUBLISH

    def to_dict(self) -> dict[str, Any]:
        return {"not_fitted": dict(self.not_fitted)}


def assess_fits(fitted: Mapping[str, Any]) -> ChecksReport:
    """The `checks` section for what each check fitted (by check name)."""
    not_fitted = {
        f"{name}.{part}": cap_text(why)
        for name, fit in fitted.items()
        if isinstance(fit, ReportsUnfitted)
        for part, why in fit.unfitted_parts().items()
    }
    return ChecksReport(not_fitted)


def model_versions(config: MonitorConfig, frame: pd.DataFrame) -> tuple[str, ...]:
    col = config.columns.model_version
    if col is None or col not in frame.columns or frame.empty:
        return ()
    return tuple(sorted(str(v) for v in frame[col].dropna().unique()))


def _prediction_columns(config: MonitorConfig) -> list[str]:
    cols = config.columns
    out = [c for c in (cols.score, cols.prediction) if c is not None]
    if cols.probabilities:
        out.extend(cols.probabilities.values())
    return out


def _has_labels(config: MonitorConfig, frame: pd.DataFrame) -> bool:
    target = config.columns.target
    return target is not None and target in frame.columns and bool(frame[target].notna().any())


@dataclass(frozen=True)
class DriftCheck:
    """Feature drift (and prediction / target drift) of the window against the reference.

    `cache_dir` keeps the fitted reference profiles across runs, keyed by the reference's
    fingerprint (see `watchkeeper.drift.cache`).
    """

    cache_dir: Path | None = None
    name: str = "drift"

    def fit(self, reference: ReferenceData, config: MonitorConfig) -> ReferenceProfile | None:
        if not config.drift.enabled:
            return None
        cols = config.columns
        frame = reference.frame
        profile = fit_drift(
            frame,
            config.drift,
            numerical=list(cols.numerical_features),
            categorical=list(cols.categorical_features),
            prediction=[c for c in _prediction_columns(config) if c in frame.columns],
            target=cols.target,
            cache_dir=self.cache_dir,
            reference_fingerprint=reference.fingerprint,
        )
        if config.drift.learn_thresholds:
            chunks, _ = chunk_reference(
                frame, cols, config.performance.reference_chunk_rows, config.window.size
            )
            profile = with_learned_thresholds(profile, learn_thresholds(profile, frame, chunks))
        return profile

    def evaluate(self, fitted: ReferenceProfile | None, window: Window) -> DriftReport | None:
        if fitted is None or window.empty:
            return None
        frame = window.frame
        return evaluate_drift(
            fitted,
            frame,
            prediction=[c for c in fitted.prediction if c in frame.columns],
            include_target=_has_labels(window.config, frame),
        )


@dataclass(frozen=True)
class HtmlAttachment:
    """A human-facing page attached to the window's MLflow run (not a report section)."""

    path: str
    html: str

    def publish(self) -> Publication:
        return Publication(artifacts={self.path: self.html})


@dataclass(frozen=True)
class EvidentlyReportCheck:
    """Evidently's own HTML report on a seeded sample, for people (decisions come from the engine)."""

    name: str = "evidently_report"

    def fit(self, reference: ReferenceData, config: MonitorConfig) -> pd.DataFrame | None:
        # Evidently samples both sides per window; the fitted state is the reference itself.
        return reference.frame if uses_evidently_page(config) else None

    def evaluate(self, fitted: pd.DataFrame | None, window: Window) -> HtmlAttachment | None:
        inputs = self.prepare(fitted, window)
        return None if inputs is None else self.render(inputs)  # no drift table: Evidently's own methods

    def prepare(self, fitted: pd.DataFrame | None, window: Window) -> EvidentlyInputs | None:
        """The samples the page is built from (cheap): the monitor flow renders them after publishing."""
        if fitted is None or window.empty:
            return None
        config, frame = window.config, window.frame
        cols = config.columns
        labeled = _has_labels(config, frame)
        prediction: str | list[str] | None = cols.prediction
        if cols.probabilities:
            prediction = list(cols.probabilities.values())
        elif cols.score:
            prediction = cols.score
        return sample_evidently_inputs(
            fitted,
            frame,
            numerical=list(cols.numerical_features),
            categorical=list(cols.categorical_features),
            target=cols.target if labeled else None,
            prediction=prediction,
            task="regression" if config.model.task is TaskType.REGRESSION else "classification",
            sample_cap=config.drift.evidently_sample_cap,
        )

    @staticmethod
    def render(inputs: EvidentlyInputs, drift: DriftReport | None = None) -> HtmlAttachment:
        """Evidently's page from the samples (seconds: Evidently's own pipeline), with `drift`, the
        window's drift table, for the methods Evidently uses and the scores it is compared with."""
        return HtmlAttachment("drift/evidently_report.html", render_page(with_drift(inputs, drift)))


@dataclass(frozen=True)
class PerformanceCheck:
    """Realized (labeled rows) and estimated (CBPE) quality, bands, and concept drift."""

    name: str = "perf"

    def fit(self, reference: ReferenceData, config: MonitorConfig) -> PerformanceBaseline | None:
        if not config.performance.enabled or config.columns.target is None:
            return None
        return fit_performance_baseline(
            reference.frame,
            columns=config.columns,
            task=config.model.task,
            config=config.performance,
            window_size=config.window.size,
        )

    def evaluate(self, fitted: PerformanceBaseline | None, window: Window) -> PerformanceReport | None:
        if fitted is None or window.empty:
            return None
        config = window.config
        check_window_labels(config, window.frame)  # labels of other classes than predicted: an error
        return evaluate_performance(
            window.frame,
            fitted,
            columns=config.columns,
            task=config.model.task,
            config=config.performance,
            detector_state=window.state.get(self.name),
            labels_complete=window.labels_complete,
        )


@dataclass(frozen=True)
class ServingCheck:
    """Request count, throughput, latency percentiles and error rates (no reference needed)."""

    name: str = "serving"

    def fit(self, reference: ReferenceData, config: MonitorConfig) -> None:
        return None

    def evaluate(self, fitted: None, window: Window) -> ServingReport | None:
        if window.empty:
            return None
        return compute_serving_metrics(
            window.frame, columns=window.config.columns, window_start=window.start, window_end=window.end
        )


def suite_path(config: MonitorConfig, config_file: str | Path) -> Path | None:
    """The expectation suite, relative paths taken from the model config file's directory."""
    if not config.expectations.enabled or not config.expectations.suite:
        return None
    path = Path(config.expectations.suite)
    return path if path.is_absolute() else (Path(config_file).resolve().parent / path).resolve()


@dataclass(frozen=True)
class ValidationCheck:
    """Great Expectations on the window's rows (an empty window is reported, not skipped).

    The suite is generated from the reference ahead of time and reviewed in git; fitting loads it.
    `config_file` locates a relative `expectations.suite`.
    """

    config_file: Path
    name: str = "validation"

    def fit(self, reference: ReferenceData, config: MonitorConfig) -> ExpectationSuiteSpec | None:
        path = suite_path(config, self.config_file)
        return None if path is None else load_suite(path)

    def evaluate(self, fitted: ExpectationSuiteSpec | None, window: Window) -> ValidationReport | None:
        return None if fitted is None else validate_window(window.frame, fitted)


def slow_imports(config: MonitorConfig) -> tuple[str, ...]:
    """The libraries this config's checks import on first use that take seconds to import: Great
    Expectations for a suite (the CLI imports it while Prefect's server starts). Evidently, for the
    page, is imported by the page process instead (`uses_evidently_page`)."""
    return ("great_expectations",) if config.expectations.enabled and config.expectations.suite else ()


def uses_evidently_page(config: MonitorConfig) -> bool:
    """Whether this config's windows get Evidently's page (the CLI starts the page process for it)."""
    return config.drift.enabled and config.drift.evidently_report


def standard_checks(
    config_file: str | Path, *, cache_dir: Path | None, with_html: bool = True
) -> tuple[Check, ...]:
    """The monitor's checks, in the order they run (and appear in the report)."""
    checks: list[Check] = [
        DriftCheck(cache_dir),
        MultivariateDriftCheck(),
        EmbeddingDriftCheck(),
        PerformanceCheck(),
        ServingCheck(),
        ValidationCheck(Path(config_file)),
        SegmentsCheck(),
    ]
    if with_html:
        checks.append(EvidentlyReportCheck())
    return tuple(checks)
