"""One function per check, from a model config and a window to a section report.

They adapt the configuration to each domain function's arguments, so the monitor flow, the
benchmarks and notebooks run the checks the same way. Each returns None when its check is disabled
or has nothing to look at.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from watchkeeper.config import MonitorConfig, TaskType
from watchkeeper.drift import DriftReport, build_evidently_html, detect_drift
from watchkeeper.performance import (
    PerformanceBaseline,
    PerformanceReport,
    ServingReport,
    compute_serving_metrics,
    evaluate_performance,
    fit_performance_baseline,
)
from watchkeeper.validation import ExpectationSuiteSpec, ValidationReport, load_suite, validate_window


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


def check_drift(
    config: MonitorConfig, window: pd.DataFrame, reference: pd.DataFrame, *, cache_dir: Path | None
) -> DriftReport | None:
    """Feature drift (and prediction / target drift) of the window against the reference."""
    if not config.drift.enabled or window.empty:
        return None
    cols = config.columns
    target = cols.target if cols.target in window.columns and window[cols.target].notna().any() else None
    return detect_drift(
        reference,
        window,
        config.drift,
        numerical=list(cols.numerical_features),
        categorical=list(cols.categorical_features),
        prediction=[c for c in _prediction_columns(config) if c in window.columns and c in reference.columns],
        target=target,
        cache_dir=cache_dir,
        reference_fingerprint=reference.attrs.get("fingerprint"),
    )


def build_drift_html(config: MonitorConfig, window: pd.DataFrame, reference: pd.DataFrame) -> str | None:
    """Evidently's own HTML report on a seeded sample, for the MLflow run (decisions come from the engine)."""
    if not (config.drift.enabled and config.drift.evidently_report) or window.empty:
        return None
    cols = config.columns
    labeled = window
    target = None
    if cols.target and cols.target in window.columns and window[cols.target].notna().any():
        labeled = window.loc[window[cols.target].notna()]
        target = cols.target
    prediction: str | list[str] | None = cols.prediction
    if cols.probabilities:
        prediction = list(cols.probabilities.values())
    elif cols.score:
        prediction = cols.score
    task = "regression" if config.model.task is TaskType.REGRESSION else "classification"
    return build_evidently_html(
        reference,
        labeled if target else window,
        numerical=list(cols.numerical_features),
        categorical=list(cols.categorical_features),
        target=target,
        prediction=prediction,
        task=task,
        sample_cap=config.drift.evidently_sample_cap,
    )


def fit_baseline(config: MonitorConfig, reference: pd.DataFrame) -> PerformanceBaseline | None:
    if not config.performance.enabled or config.columns.target is None:
        return None
    return fit_performance_baseline(
        reference,
        columns=config.columns,
        task=config.model.task,
        config=config.performance,
        window_size=config.window.size,
    )


def check_performance(
    config: MonitorConfig,
    window: pd.DataFrame,
    baseline: PerformanceBaseline | None,
    *,
    detector_state: dict[str, Any] | None,
    labels_complete: bool,
) -> PerformanceReport | None:
    """Realized (labeled rows) and estimated (CBPE) quality, bands, and concept drift."""
    if baseline is None or window.empty:
        return None
    return evaluate_performance(
        window,
        baseline,
        columns=config.columns,
        task=config.model.task,
        config=config.performance,
        detector_state=detector_state,
        labels_complete=labels_complete,
    )


def check_serving(
    config: MonitorConfig, window: pd.DataFrame, start: datetime, end: datetime
) -> ServingReport | None:
    """Request count, throughput, latency percentiles and error rates from the inference logs."""
    if window.empty:
        return None
    return compute_serving_metrics(window, columns=config.columns, window_start=start, window_end=end)


def suite_path(config: MonitorConfig, config_file: str | Path) -> Path | None:
    """The expectation suite, relative paths taken from the model config file's directory."""
    if not config.expectations.enabled or not config.expectations.suite:
        return None
    path = Path(config.expectations.suite)
    return path if path.is_absolute() else (Path(config_file).resolve().parent / path).resolve()


def load_expectations(config: MonitorConfig, config_file: str | Path) -> ExpectationSuiteSpec | None:
    path = suite_path(config, config_file)
    return None if path is None else load_suite(path)


def check_validation(window: pd.DataFrame, suite: ExpectationSuiteSpec | None) -> ValidationReport | None:
    """Great Expectations on the window's rows (an empty window is reported, not skipped)."""
    if suite is None:
        return None
    return validate_window(window, suite)
