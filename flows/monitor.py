"""The scheduled monitoring flow: one model, one window, one verdict.

Loads the window's inference logs with the labels that have arrived, and the reference; runs every
check; logs everything to the window's MLflow run; publishes Prefect artifacts; records the window in
the state database; then re-evaluates recent windows whose late labels have arrived since.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from tasks.artifact_tasks import publish_artifacts
from tasks.data_tasks import load_model_config, load_reference_data, load_window_data
from tasks.state_tasks import record_window, windows_with_new_labels
from tasks.tracking_tasks import (
    flush_mlflow_spool,
    log_to_mlflow,
    report_payload,
    resolve_tracking_uri,
    spool_report,
)
from watchkeeper import checks
from watchkeeper.config import MonitorConfig, config_hash
from watchkeeper.report import MonitoringReport
from watchkeeper.runtime import apply_runtime_defaults
from watchkeeper.verdict import SectionReport, Severity
from watchkeeper.windows import count_labels, window_bounds, windows_between


def _logger() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    try:
        return get_run_logger()
    except Exception:  # called outside a run (unit use)
        return logging.getLogger("watchkeeper.monitor")


def evaluate_window(
    config: MonitorConfig,
    *,
    config_file: str,
    start: datetime,
    end: datetime,
    reference: pd.DataFrame,
) -> MonitoringReport:
    """Run every check on one window, log it to MLflow and the Prefect UI, and record it."""
    log = _logger()
    sections: dict[str, SectionReport] = {}
    errors: dict[str, str] = {}

    def attempt(name: str, fn: Any, *args: Any, **kwargs: Any) -> None:
        # A failing check is reported, and every other check still runs and is logged.
        try:
            result = fn(*args, **kwargs)
        except Exception as exc:
            log.exception("check %s failed", name)
            errors[name] = f"{type(exc).__name__}: {exc}"
            return
        if result is not None:
            sections[name] = result

    data = load_window_data(config, start, end)
    sections["window"] = data.report
    frame = data.frame

    report = MonitoringReport(
        model=config.model.name,
        window_start=start,
        window_end=end,
        evaluated_at=datetime.now(UTC),
        model_versions=checks.model_versions(config, frame),
        config_hash=config_hash(config_file),
        sections=sections,
        errors=errors,
        flow_run_id=flow_run.get_id(),
    )
    tracking_uri = resolve_tracking_uri(config.tracking.tracking_uri)
    payload = report_payload(report)
    artifacts: dict[str, str] = {}
    mlflow_url = None
    try:
        logged = log_to_mlflow(
            payload, tracking_uri=tracking_uri, experiment=config.experiment_name, artifacts=artifacts
        )
        report = replace(report, mlflow_run_id=logged["run_id"])
        mlflow_url = logged["url"]
    except Exception as exc:
        path = spool_report(
            payload, tracking_uri=tracking_uri, experiment=config.experiment_name, artifacts=artifacts
        )
        log.error("MLflow unavailable (%s); report kept in %s for the next run", exc, path)
    publish_artifacts(config.model.name, report.to_markdown(), mlflow_url=mlflow_url)
    record_window(report, usable_for_training=True)
    log.info("window %s → %s: %s", start, end, report.verdict.label)
    return report


@flow(name="monitor-model", log_prints=True)
def monitor(config_path: str, window_end: datetime | None = None) -> MonitoringReport:
    """Monitor one model over one window (the last complete one by default).

    Computes drift, performance, data validation and serving health for the window, logs the figures
    to the window's MLflow run (re-runs update it), publishes the verdict here, and re-evaluates recent
    windows whose late labels have arrived. Returns the window's `MonitoringReport`.
    """
    apply_runtime_defaults()
    config = load_model_config(config_path)
    start, end = window_bounds(window_end, config.window.size)
    flush_mlflow_spool()
    reference = load_reference_data(config)
    report = evaluate_window(config, config_file=config_path, start=start, end=end, reference=reference)

    # Late labels: windows within the label lag whose label count grew are evaluated again, so their
    # realized performance (and the MLflow run) reflects the labels known now.
    lag_start = start - config.window.label_lag - config.window.size
    candidates = {
        w_end: count_labels(config, w_start, w_end)
        for w_start, w_end in windows_between(lag_start, start, config.window.size)
    }
    for past_end in windows_with_new_labels(
        config.model.name, candidates, limit=config.window.reevaluate_windows
    ):
        evaluate_window(
            config,
            config_file=config_path,
            start=past_end - config.window.size,
            end=past_end,
            reference=reference,
        )
    if report.verdict >= Severity.WARNING:
        print(
            f"{config.model.name} {end:%Y-%m-%d %H:%M}: {report.verdict.label} — " + "; ".join(report.reasons)
        )
    return report
