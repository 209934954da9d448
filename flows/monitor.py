"""The scheduled monitoring flow: one model, one window, one verdict.

Loads the window's inference logs with the labels that have arrived, and the reference; runs every
check; logs everything to the window's MLflow run; publishes Prefect artifacts; records the window in
the state database; then re-evaluates recent windows whose late labels have arrived since.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from tasks.alert_tasks import evaluate_alerts
from tasks.artifact_tasks import publish_artifacts
from tasks.check_tasks import (
    build_drift_html,
    compute_serving_metrics,
    detect_drift,
    evaluate_performance,
    fit_performance_baseline,
    load_expectations,
    validate_features,
)
from tasks.data_tasks import load_model_config, load_reference_data, load_window_data
from tasks.observability import run_logging
from tasks.registry_tasks import config_for_champion
from tasks.state_tasks import record_window, windows_with_new_labels
from tasks.tracking_tasks import (
    flush_mlflow_spool,
    log_to_mlflow,
    open_window_run,
    report_payload,
    resolve_tracking_uri,
    spool_report,
)
from tasks.training_tasks import maybe_trigger_retraining
from watchkeeper import checks
from watchkeeper.alerting import AlertContext
from watchkeeper.config import MonitorConfig, config_hash
from watchkeeper.footprint import StepFootprint
from watchkeeper.report import MonitoringReport, SnapshotSection
from watchkeeper.runtime import apply_runtime_defaults
from watchkeeper.state import open_state, state_dir
from watchkeeper.verdict import SectionReport, Severity
from watchkeeper.windows import count_labels, window_bounds, windows_between


def _logger() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    try:
        return get_run_logger()
    except Exception:  # called outside a run (unit use)
        return logging.getLogger("watchkeeper.monitor")


DETECTOR_NAMESPACE = "perf-detectors"


HEALTH_MAX_AGE = timedelta(hours=1)


def latest_health(model: str, store: Any) -> SnapshotSection | None:
    """The serving host's latest health sample (system-health flow), if recent enough to matter."""
    latest = store.get_json("health-latest", model)
    if not latest:
        return None
    taken = datetime.fromtimestamp(latest["at"], UTC)
    if datetime.now(UTC) - taken > HEALTH_MAX_AGE:
        return None
    return SnapshotSection(
        source=f"system-health on {latest['host']}", taken_at=taken, values=latest["figures"]
    )


@dataclass(frozen=True)
class WindowOutputs:
    """What a window's evaluation publishes besides its report: files for MLflow, tables for Prefect."""

    artifacts: dict[str, str]
    tables: dict[str, list[dict[str, Any]]]
    markdown: dict[str, str]
    usable_for_training: bool


def compute_window(
    config: MonitorConfig,
    *,
    config_file: str,
    start: datetime,
    end: datetime,
    reference: pd.DataFrame,
    baseline: Any,
    suite: Any,
    as_of: datetime,
    with_html: bool = True,
) -> tuple[MonitoringReport, WindowOutputs]:
    """Run every check on one window; a failing check is reported and the others still run."""
    log = _logger()
    store = open_state()
    footprint = StepFootprint()
    sections: dict[str, SectionReport] = {}
    errors: dict[str, str] = {}

    def attempt(name: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        # A failing check is reported, and every other check still runs and is logged.
        try:
            with footprint.measure(name):
                result = fn(*args, **kwargs)
        except Exception as exc:
            log.exception("check %s failed", name)
            errors[name] = f"{type(exc).__name__}: {exc}"
            return None
        if isinstance(result, SectionReport):
            sections[name] = result
        return result

    with footprint.measure("load_window"):
        data = load_window_data(config, start, end)
    sections["window"] = data.report
    frame = data.frame

    drift = attempt("drift", detect_drift, config, frame, reference, cache_dir=state_dir() / "drift-cache")
    # Labels are complete once the label lag has passed; only then do the sequential detectors consume
    # the window's error stream (each labeled row exactly once, in time order).
    labels_complete = end + config.window.label_lag <= as_of
    detector_state = store.get_json(DETECTOR_NAMESPACE, config.model.name)
    perf = attempt(
        "perf",
        evaluate_performance,
        config,
        frame,
        baseline,
        detector_state=detector_state,
        labels_complete=labels_complete,
    )
    if perf is not None and perf.detectors_fed:
        store.put_json(DETECTOR_NAMESPACE, config.model.name, perf.detector_state)
    attempt("serving", compute_serving_metrics, config, frame, start, end)
    validation = attempt("validation", validate_features, frame, suite)
    html = attempt("evidently_report", build_drift_html, config, frame, reference) if with_html else None
    health = latest_health(config.model.name, store)
    if health is not None:
        sections["health"] = health
    sections["footprint"] = footprint.report()

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
    artifacts: dict[str, str] = {}
    tables: dict[str, list[dict[str, Any]]] = {}
    extra_markdown: dict[str, str] = {}
    if drift is not None:
        artifacts["drift/columns.csv"] = drift.to_frame().to_csv(index=False)
        extra_markdown["drift"] = drift.to_markdown()
    if html:
        artifacts["drift/evidently_report.html"] = html
    if perf is not None:
        tables["performance"] = perf.table_rows()
    if validation is not None:
        artifacts["validation/gx_result.json"] = validation.gx_result_json()
        tables["validation"] = validation.to_table()

    usable = validation.usable_for_training if validation is not None else True
    return report, WindowOutputs(artifacts, tables, extra_markdown, usable)


def publish_window(
    config: MonitorConfig, report: MonitoringReport, outputs: WindowOutputs
) -> MonitoringReport:
    """Log the window to its MLflow run (kept for the next run if MLflow is down), publish the Prefect
    artifacts and record the evaluation in the state database."""
    log = _logger()
    tracking_uri = resolve_tracking_uri(config.tracking.tracking_uri)
    if report.section("alerts") is not None:
        outputs.markdown["alerts"] = report.sections["alerts"].to_markdown()  # type: ignore[attr-defined]
    payload = report_payload(report)
    mlflow_url = None
    try:
        logged = log_to_mlflow(
            payload, tracking_uri=tracking_uri, experiment=config.experiment_name, artifacts=outputs.artifacts
        )
        report = replace(report, mlflow_run_id=logged["run_id"])
        mlflow_url = logged["url"]
    except Exception as exc:
        path = spool_report(
            payload, tracking_uri=tracking_uri, experiment=config.experiment_name, artifacts=outputs.artifacts
        )
        log.error("MLflow unavailable (%s); report kept in %s for the next run", exc, path)
    publish_artifacts(
        config.model.name,
        report.to_markdown(),
        mlflow_url=mlflow_url,
        tables=outputs.tables,
        extra_markdown=outputs.markdown,
    )
    record_window(report, usable_for_training=outputs.usable_for_training)
    log.info("window %s → %s: %s", report.window_start, report.window_end, report.verdict.label)
    return report


def _flow_run_url() -> str | None:
    # Without a UI (Prefect's temporary local server) Prefect builds "None/flow-runs/…": no link then.
    url = flow_run.get_flow_run_ui_url()
    return url if url and url.startswith("http") else None


def attach_alerts(config: MonitorConfig, report: MonitoringReport) -> MonitoringReport:
    """Evaluate the alert rules on the window and add the `alerts` section (state lives in the DB).

    Notifications link to the window's MLflow run, opened first for that; an alerting failure is
    reported in the window's errors and never loses the rest of the report.
    """
    run = open_window_run(
        report,
        tracking_uri=resolve_tracking_uri(config.tracking.tracking_uri),
        experiment=config.experiment_name,
    )
    try:
        alerts = evaluate_alerts(
            report.figures(),
            model=config.model.name,
            window_end=report.window_end,
            config=config.alerts,
            store=open_state(),
            context=AlertContext(
                model_version=",".join(report.model_versions) or None,
                window_start=report.window_start,
                mlflow_run_url=run["url"] if run else None,
                prefect_flow_run_url=_flow_run_url(),
            ),
        )
    except Exception as exc:
        _logger().exception("alert evaluation failed")
        return replace(report, errors={**report.errors, "alerts": f"{type(exc).__name__}: {exc}"})
    return replace(report, sections={**report.sections, "alerts": alerts})


@flow(name="monitor-model")
def monitor(config_path: str, window_end: datetime | None = None) -> MonitoringReport:
    """Monitor one model over one window (the last complete one by default).

    Computes drift, performance, data validation and serving health for the window, logs the figures
    to the window's MLflow run (re-runs update it), publishes the verdict here, and re-evaluates recent
    windows whose late labels have arrived. Returns the window's `MonitoringReport`.
    """
    apply_runtime_defaults()
    config = load_model_config(config_path)
    start, end = window_bounds(window_end, config.window.size)
    with run_logging(config.model.name, (start, end), config_path=config_path):
        return _monitor(config, config_path, start, end)


def _monitor(config: MonitorConfig, config_path: str, start: datetime, end: datetime) -> MonitoringReport:
    flush_mlflow_spool()
    suite = load_expectations(config, config_path)
    # "Now" for this run is the window's end: scheduled runs start just after it, and backfills and
    # the demo replay the past as it was then.
    as_of = end
    # The reference belongs to the model version: windows are compared with the data of the model
    # that scored them — the current champion's for new windows.
    by_version: dict[str | None, dict[str, Any]] = {}
    by_reference: dict[str, dict[str, Any]] = {}

    def baseline_for(version: str | None) -> dict[str, Any]:
        if version not in by_version:
            versioned = config_for_champion(config, version)
            # The champion and a past window scored by the champion share one reference: read and
            # fit it once.
            key = versioned.sources.reference.model_dump_json()
            if key not in by_reference:
                reference = load_reference_data(versioned)
                baseline = fit_performance_baseline(versioned, reference)
                by_reference[key] = {
                    "reference": reference,
                    "baseline": baseline,
                    "suite": suite,
                    "as_of": as_of,
                }
            by_version[version] = by_reference[key]
        return by_version[version]

    report, outputs = compute_window(
        config, config_file=config_path, start=start, end=end, **baseline_for(None)
    )

    # Late labels: windows within the label lag whose label count grew are evaluated again, so their
    # realized performance (and the MLflow run) reflects the labels known now.
    lag_start = start - config.window.label_lag - config.window.size
    candidates = count_labels(config, windows_between(lag_start, start, config.window.size))
    reevaluated = []
    scored_by = {
        w["window_end"]: w["summary"].get("model_versions") or []
        for w in open_state().list_windows(config.model.name)
    }
    for past_end in windows_with_new_labels(
        config.model.name, candidates, limit=config.window.reevaluate_windows
    ):
        versions = scored_by.get(past_end, [])
        past, past_outputs = compute_window(
            config,
            config_file=config_path,
            start=past_end - config.window.size,
            end=past_end,
            with_html=False,  # the human report was built when the window was first monitored
            **baseline_for(versions[0] if len(versions) == 1 else None),
        )
        reevaluated.append(publish_window(config, attach_alerts(config, past), past_outputs))

    # Windows whose labels landed first (oldest first: realized quality and concept drift become
    # known for them now), then the current window.
    report = attach_alerts(config, report)
    report = publish_window(config, report, outputs)

    # Close the loop: the policy decides (and audits) whether this evidence warrants a retraining,
    # which runs as a subflow here or through its deployment when a Prefect server is configured.
    maybe_trigger_retraining(config, config_path, report)
    if report.verdict >= Severity.WARNING:
        _logger().info(
            "%s %s: %s — %s",
            config.model.name,
            f"{end:%Y-%m-%d %H:%M}",
            report.verdict.label,
            "; ".join(report.reasons),
        )
    return report
