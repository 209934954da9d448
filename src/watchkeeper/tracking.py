"""MLflow naming, in one place: metric keys, tags, run names (pure; never imports mlflow).

Figures are dotted (``drift.age.score``); MLflow keys use slashes (``drift/age/score``), which the
MLflow UI groups into sections. Characters MLflow rejects in keys are replaced by ``_``.
"""

from __future__ import annotations

import math
import os
import re
from datetime import datetime
from pathlib import Path

from watchkeeper.report import MonitoringReport
from watchkeeper.timeutil import iso_z

TAG_MODEL = "watchkeeper.model"
TAG_MODEL_VERSION = "watchkeeper.model_version"
TAG_WINDOW_START = "watchkeeper.window_start"
TAG_WINDOW_END = "watchkeeper.window_end"
TAG_WINDOW_KEY = "watchkeeper.window_key"
TAG_VERDICT = "watchkeeper.verdict"
TAG_EVALUATIONS = "watchkeeper.evaluations"
TAG_CONFIG_HASH = "watchkeeper.config_hash"
TAG_FLOW_RUN_ID = "prefect.flow_run_id"
TAG_KIND = "watchkeeper.kind"

REPORT_ARTIFACT = "report.json"

_BAD_KEY_CHARS = re.compile(r"[^A-Za-z0-9_\-. /]")


def metric_key(figure: str) -> str:
    """``drift.age.score`` → ``drift/age/score`` (MLflow's UI groups keys by their first part)."""
    return _BAD_KEY_CHARS.sub("_", figure.replace(".", "/"))


def metrics_for(report: MonitoringReport) -> dict[str, float]:
    """The MLflow metrics of a window: every finite figure under its MLflow key."""
    return {metric_key(k): v for k, v in report.figures().items() if math.isfinite(v)}


def window_key(model: str, start: datetime, end: datetime) -> str:
    """The identity of a (model, window): a re-run of the window finds its run by this tag."""
    return f"{model}@{iso_z(start)}/{iso_z(end)}"


def run_name(model: str, start: datetime, end: datetime) -> str:
    return f"{model} {end:%Y-%m-%d %H:%M}"


def run_tags(report: MonitoringReport) -> dict[str, str]:
    tags = {
        TAG_MODEL: report.model,
        TAG_MODEL_VERSION: ",".join(report.model_versions) or "unknown",
        TAG_WINDOW_START: iso_z(report.window_start),
        TAG_WINDOW_END: iso_z(report.window_end),
        TAG_WINDOW_KEY: window_key(report.model, report.window_start, report.window_end),
        TAG_VERDICT: report.verdict.label,
        TAG_CONFIG_HASH: report.config_hash,
        TAG_KIND: "monitor",
    }
    if report.flow_run_id:
        tags[TAG_FLOW_RUN_ID] = report.flow_run_id
    return tags


def metric_timestamp_ms(report: MonitoringReport) -> int:
    """Metrics carry the window end as their time, so runs line up as a time series."""
    return int(report.window_end.timestamp() * 1000)


def experiment_name(model: str) -> str:
    return f"watchkeeper/{model}"


def default_tracking_uri(state_dir: Path) -> str:
    """`$MLFLOW_TRACKING_URI`, else a SQLite store in the state directory."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{state_dir / 'mlflow.db'}"


UI_URL_ENV = "WATCHKEEPER_MLFLOW_UI_URL"
LOCAL_UI_URL = "http://127.0.0.1:5000"


def ui_base_url(configured: str | None, tracking_uri: str) -> str:
    """The MLflow UI address for links: `tracking.ui_url`, else `$WATCHKEEPER_MLFLOW_UI_URL`, else a
    tracking server's own address, else the local `mlflow ui` default."""
    if configured:
        return configured.rstrip("/")
    if os.environ.get(UI_URL_ENV):
        return os.environ[UI_URL_ENV].rstrip("/")
    if tracking_uri.startswith(("http://", "https://")):
        return tracking_uri.rstrip("/")
    return LOCAL_UI_URL


def run_url(ui_base: str, experiment_id: str, run_id: str) -> str:
    return f"{ui_base.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"
