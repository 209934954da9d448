"""MLflow naming, in one place: metric keys, tags, run names (pure; never imports mlflow).

Figures are dotted (``drift.age.score``); MLflow keys use slashes (``drift/age/score``), which the
MLflow UI groups into sections. Characters MLflow rejects in keys are replaced by ``_``.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from watchkeeper.presentation import mlflow_run_name, version_label, versions_label, window_name
from watchkeeper.report import MonitoringReport
from watchkeeper.timeutil import iso_z, parse_utc
from watchkeeper.verdict import Severity

TAG_MODEL = "watchkeeper.model"
TAG_MODEL_VERSION = "watchkeeper.model_version"
TAG_WINDOW_START = "watchkeeper.window_start"
TAG_WINDOW_END = "watchkeeper.window_end"
TAG_WINDOW_KEY = "watchkeeper.window_key"
# The window's name for people (`presentation.window_name`), beside the ISO start and end tags.
TAG_WINDOW = "watchkeeper.window"
TAG_VERDICT = "watchkeeper.verdict"
TAG_EVALUATIONS = "watchkeeper.evaluations"
TAG_CONFIG_HASH = "watchkeeper.config_hash"
TAG_FLOW_RUN_ID = "prefect.flow_run_id"
TAG_KIND = "watchkeeper.kind"
TAG_MODEL_VERSION_URL = "watchkeeper.model_version_url"
# Which labels judged the window: "as_of <time>", "hindsight", or "all" (no arrival time to cut on).
TAG_LABELS = "watchkeeper.labels"
# MLflow's own tags: the run's name and its description (markdown, the run page's "Description").
TAG_RUN_NAME = "mlflow.runName"
TAG_NOTE = "mlflow.note.content"
# The experiment tag the MLflow 3 UI's mode switch writes: without it an experiment opens in GenAI
# mode (traces, judges) instead of the classic runs table and charts.
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
CLASSIC_EXPERIMENT_KIND = "custom_model_development"

REPORT_ARTIFACT = "report.json"

_BAD_KEY_CHARS = re.compile(r"[^A-Za-z0-9_\-. /]")


def metric_key(figure: str) -> str:
    """``drift.age.score`` → ``drift/age/score`` (MLflow's UI groups keys by their first part)."""
    return _BAD_KEY_CHARS.sub("_", figure.replace(".", "/"))


# The alert section's bookkeeping counts (pending, resolved, silenced, notifications, outbox) stay in
# report.json and the verdict card; as metrics they only added charts to every window's run.
CHARTED_ALERT_FIGURES = frozenset({"alerts.firing"})


def metrics_for(report: MonitoringReport) -> dict[str, float]:
    """The MLflow metrics of a window: every finite figure under its MLflow key, of the alert
    section only `alerts/firing`."""
    return {
        metric_key(k): v
        for k, v in report.figures().items()
        if math.isfinite(v) and (not k.startswith("alerts.") or k in CHARTED_ALERT_FIGURES)
    }


def window_key(model: str, start: datetime, end: datetime) -> str:
    """The identity of a (model, window): a re-run of the window finds its run by this tag."""
    return f"{model}@{iso_z(start)}/{iso_z(end)}"


def run_name(report: MonitoringReport) -> str:
    """The name a window's run is created with (before its verdict is known): the window's name."""
    return report.window_name


def evaluation_tag(n: int) -> str:
    """The tag keeping the Prefect flow run id of the window's n-th evaluation (1-based)."""
    return f"{TAG_FLOW_RUN_ID}.{n}"


def evaluation_url_tag(n: int) -> str:
    return f"prefect.flow_run_url.{n}"


def model_version_url(ui_base: str, registered_model: str, version: str) -> str:
    return f"{ui_base.rstrip('/')}/#/models/{registered_model}/versions/{version}{CLASSIC_VIEW_QUERY}"


_KEY_FIGURES = (
    ("drift share", "drift.share", "{:.0%}"),
    ("label coverage", "window.label_coverage", "{:.0%}"),
    ("estimated roc_auc", "perf.estimated.roc_auc", "{:.3f}"),
    ("realized roc_auc", "perf.realized.roc_auc", "{:.3f}"),
    ("p95 latency", "serving.latency_p95_ms", "{:.0f} ms"),
    ("error rate", "serving.error_rate", "{:.1%}"),
    ("critical validation failures", "validation.critical_failures", "{:.0f}"),
)


def presentation_tags(
    report: Mapping[str, Any],
    *,
    evaluation: int,
    previous: Mapping[str, str],
    ui_base: str,
    links: Mapping[str, Any],
) -> dict[str, str]:
    """Tags that make a window's run readable in the MLflow UI, from the report's JSON form.

    The run's name (window and verdict, shown in the run table by default), its description
    (verdict, reasons, key figures, the model version and every evaluation's Prefect flow run), the
    model version's link, and this evaluation's Prefect flow run (``prefect.flow_run_id.<n>``);
    ``prefect.flow_run_id`` stays the first evaluation's. `links` may hold ``registered_model`` and
    ``prefect_flow_run_url``.
    """
    if "window" not in report or "verdict" not in report:
        return {}  # not a window's report (a hand-made payload): nothing to present
    start, end = parse_utc(report["window"]["start"]), parse_utc(report["window"]["end"])
    timezone = report["window"].get("timezone") or "UTC"
    model = report.get("model") or ""
    verdict = Severity.parse(report["verdict"])
    tags: dict[str, str] = {TAG_RUN_NAME: mlflow_run_name(model, start, end, verdict, timezone)}
    flow_run_id = report.get("flow_run_id")
    if flow_run_id:
        tags[evaluation_tag(evaluation)] = flow_run_id
        if previous.get(TAG_FLOW_RUN_ID):
            tags[TAG_FLOW_RUN_ID] = previous[TAG_FLOW_RUN_ID]
    if links.get("prefect_flow_run_url"):
        tags[evaluation_url_tag(evaluation)] = links["prefect_flow_run_url"]
    registered = links.get("registered_model")
    versions = [str(v) for v in report.get("model_versions") or []]
    version_links = [(v, model_version_url(ui_base, registered, v)) for v in versions] if registered else []
    if version_links:
        tags[TAG_MODEL_VERSION_URL] = " ".join(url for _, url in version_links)

    lines = [
        f"**{verdict.label.upper()}** — {window_name(model, start, end, timezone)}",
        "",
    ]
    if report.get("hindsight"):
        lines += ["**Hindsight**: judged with every label on disk, not the labels known at the time.", ""]
    if version_links:
        lines.append(
            "Scored by "
            + ", ".join(f"[{registered} {version_label(v)}]({url})" for v, url in version_links)
            + "."
        )
    elif versions:
        lines.append(f"Scored by {versions_label(versions)}.")
    lines += ["", "**Why**", ""]
    lines += [f"- {r}" for r in report.get("reasons") or []] or ["- no check raised anything"]
    figures = report.get("figures") or {}
    shown = [f"{label} {fmt.format(figures[name])}" for label, name, fmt in _KEY_FIGURES if name in figures]
    if shown:
        lines += ["", "**Key figures**: " + " · ".join(shown)]
    evaluations = {**previous, **tags}
    lines += ["", "**Evaluations** (Prefect flow runs; later ones saw later labels)", ""]
    for n in range(1, evaluation + 1):
        run_id = evaluations.get(evaluation_tag(n)) or (evaluations.get(TAG_FLOW_RUN_ID) if n == 1 else None)
        url = evaluations.get(evaluation_url_tag(n))
        if run_id and url:
            lines.append(f"{n}. [{run_id}]({url})")
        elif run_id:
            lines.append(f"{n}. flow run `{run_id}`")
    tags[TAG_NOTE] = "\n".join(lines)
    return tags


def labels_tag(hindsight: bool, labels_as_of: datetime | None) -> str:
    """The `TAG_LABELS` value: ``hindsight``, ``as_of 2026-03-05T00:00:00Z`` or ``all``."""
    if hindsight:
        return "hindsight"
    return f"as_of {iso_z(labels_as_of)}" if labels_as_of is not None else "all"


def run_tags(report: MonitoringReport) -> dict[str, str]:
    tags = {
        TAG_MODEL: report.model,
        TAG_MODEL_VERSION: ",".join(report.model_versions) or "unknown",
        TAG_WINDOW_START: iso_z(report.window_start),
        TAG_WINDOW_END: iso_z(report.window_end),
        TAG_WINDOW_KEY: window_key(report.model, report.window_start, report.window_end),
        TAG_WINDOW: report.window_name,
        TAG_VERDICT: report.verdict.label,
        TAG_CONFIG_HASH: report.config_hash,
        TAG_KIND: "monitor",
        TAG_LABELS: labels_tag(report.hindsight, report.labels_as_of),
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
        # A link people open, written into MLflow, Prefect and Slack: never with the URI's password.
        parts = urlsplit(tracking_uri)
        netloc = parts.hostname or ""
        if parts.port:
            netloc += f":{parts.port}"
        return urlunsplit((parts.scheme, netloc, parts.path, "", "")).rstrip("/")
    return LOCAL_UI_URL


# MLflow 3.17's UI has a global GenAI / model-training switch that overrides the experiment tag
# (remembered per browser); this query parameter of its routes selects the model-training view.
CLASSIC_VIEW_QUERY = "?workflowType=machine_learning"


def run_url(ui_base: str, experiment_id: str, run_id: str, path: str = "") -> str:
    """The run's page (or `path` below it, e.g. ``/artifacts/x.html``), in the classic view."""
    return f"{ui_base.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}{path}{CLASSIC_VIEW_QUERY}"


def experiment_url(ui_base: str, experiment_id: str) -> str:
    return f"{ui_base.rstrip('/')}/#/experiments/{experiment_id}{CLASSIC_VIEW_QUERY}"


# The model-level summary run: one run per experiment (`TAG_KIND` = `summary`) whose metric history
# has one point per window — step = the window's number (1 = the oldest recorded), timestamp = the
# window's end — holding the newest evaluation of each window. MLflow's charts read it over windows
# (x axis "Step" or "Time (wall)"). Its keys have no "/" so MLflow shows them in its first chart
# section ("Model metrics"), numbered so the verdict comes first; window runs keep their `drift/…`.
KIND_SUMMARY = "summary"
TAG_SUMMARY_WINDOWS = "watchkeeper.summary.windows"
TAG_SUMMARY_LAST_END = "watchkeeper.summary.last_window_end"


def summary_figures(primary_metric: str) -> tuple[tuple[str, str], ...]:
    """(summary metric key, report figure) in chart order: verdict, drift, quality, coverage, serving."""
    return (
        ("1-verdict", "verdict.level"),
        ("2-drift-share", "drift.share"),
        (f"3-{primary_metric}-realized", f"perf.realized.{primary_metric}"),
        (f"4-{primary_metric}-estimated", f"perf.estimated.{primary_metric}"),
        ("5-label-coverage", "window.label_coverage"),
        ("6-latency-p95-ms", "serving.latency_p95_ms"),
        ("7-error-rate", "serving.error_rate"),
        ("8-alerts-firing", "alerts.firing"),
    )


def summary_run_name(model: str) -> str:
    return f"{model} over windows"


@dataclass(frozen=True)
class SummaryPoint:
    """One metric point of the summary run: `step` is the window's number, `timestamp_ms` its end."""

    key: str
    value: float
    timestamp_ms: int
    step: int


def summary_points(windows: Sequence[Mapping[str, Any]], primary_metric: str) -> list[SummaryPoint]:
    """The summary run's points from the recorded windows (the state database's `list_windows`,
    each with its newest evaluation's figures), oldest window first, numbered from 1."""
    ordered = sorted(windows, key=lambda w: w["window_end"])
    points = []
    for step, window in enumerate(ordered, start=1):
        figures = dict((window.get("summary") or {}).get("figures") or {})
        if "verdict.level" not in figures and window.get("verdict"):
            figures["verdict.level"] = float(Severity.parse(window["verdict"]))
        timestamp_ms = int(window["window_end"].timestamp() * 1000)
        for key, figure in summary_figures(primary_metric):
            value = figures.get(figure)
            if value is not None and math.isfinite(float(value)):
                points.append(SummaryPoint(key, float(value), timestamp_ms, step))
    return points


def summary_appendable(
    logged_windows: int,
    logged_last_end: datetime | None,
    window_ends: Sequence[datetime],
    evaluated: Sequence[datetime],
) -> bool:
    """Whether the summary run can take this run's windows by appending: every window it evaluated
    is newer than the last one logged, and the windows up to that one are the ones logged (else the
    history is rewritten: MLflow cannot replace a point, so a re-evaluation rewrites the run)."""
    if logged_last_end is None:
        return logged_windows == 0
    older = sum(1 for end in window_ends if end <= logged_last_end)
    return older == logged_windows and all(end > logged_last_end for end in evaluated)
