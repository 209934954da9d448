"""A monitoring window's figures for Prometheus: gauges ``watchkeeper_window_…`` per model.

The monitor flow pushes its current window to the Pushgateway configured under
`health.pushgateway` (job ``watchkeeper_window``, grouped by model), so Grafana
(`deployments/grafana/watchkeeper.json`) draws the fleet and Prometheus can alert with
`deployments/grafana/alert-rules.yml`, the built-in rules written in PromQL. Metric names are part of
that contract: `tests/e2e/test_prometheus.py` pushes real windows to a real Pushgateway, reads back the
names it holds, fires every rule on them with `promtool test rules` and checks every dashboard query.

A figure ``section.name`` becomes ``watchkeeper_window_section_name``; the window's own figures
(``window.no_data``) are ``watchkeeper_window_no_data``, not ``…_window_window_no_data``
(`metric_name`).

Every gauge is labelled by `model` only: the gateway holds one window per model (each push replaces
the group), so a window label would only churn series. The window's name and version label
(`presentation.window_name`, `versions_label`) ride on one info metric,
``watchkeeper_window_info{model="credit-risk", window="credit-risk 2026-03-10 → 03-11",
model_version="v1"} 1`` — one series per model and window, joined in PromQL with
``* on(model) group_left(window, model_version) watchkeeper_window_info`` where an alert or a panel
should name the window.
"""

from __future__ import annotations

import re

from watchkeeper.presentation import versions_label
from watchkeeper.report import MonitoringReport

WINDOW_PREFIX = "watchkeeper_window_"
WINDOW_JOB = "watchkeeper_window"
WINDOW_INFO = WINDOW_PREFIX + "info"

# Figures pushed as they are, under their name with dots as underscores.
_PLAIN = (
    "window.rows",
    "window.no_data",
    "window.label_coverage",
    "window.rows_after_evaluation",
    "window.type_changed_columns",
    "labels.unmatched_share",
    "labels.unreadable",
    "checks.not_fitted",
    "drift.share",
    "drift.n_drifted",
    "drift.n_columns",
    "drift.target.drifted",
    "perf.concept_drift",
    "validation.critical_failures",
    "validation.warning_failures",
    "serving.request_count",
    "serving.latency_p50_ms",
    "serving.latency_p95_ms",
    "serving.latency_p99_ms",
    "serving.error_rate",
    "alerts.firing",
)
_PERF = re.compile(r"^perf\.(estimated|realized)\.([a-z0-9_]+)$")
_BAND = re.compile(r"^perf\.band\.([a-z0-9_]+)\.(lower|upper)$")


def metric_name(figure: str) -> str:
    """The gauge of a plain figure: ``drift.share`` → ``watchkeeper_window_drift_share``,
    ``window.label_coverage`` → ``watchkeeper_window_label_coverage`` (the prefix already says window)."""
    return WINDOW_PREFIX + figure.removeprefix("window.").replace(".", "_")


def window_samples(report: MonitoringReport) -> list[tuple[str, dict[str, str], float]]:
    """(metric name, labels, value) for the window: the plain figures, performance per metric
    (``watchkeeper_window_perf_estimated{metric="roc_auc"}``, `_realized`, `_band_lower`,
    `_band_upper`), the verdict level, the window's end time and its name (`WINDOW_INFO`). Every
    sample has the `model` label."""
    figures = report.figures()
    model = {"model": report.model}
    out = [(metric_name(name), model, figures[name]) for name in _PLAIN if name in figures]
    for name, value in figures.items():
        if match := _PERF.match(name):
            out.append((f"{WINDOW_PREFIX}perf_{match[1]}", {**model, "metric": match[2]}, value))
        elif match := _BAND.match(name):
            out.append((f"{WINDOW_PREFIX}perf_band_{match[2]}", {**model, "metric": match[1]}, value))
    out.append((WINDOW_PREFIX + "verdict_level", model, float(report.verdict)))
    out.append((WINDOW_PREFIX + "end_timestamp_seconds", model, report.window_end.timestamp()))
    names = {"window": report.window_name, "model_version": versions_label(report.model_versions)}
    out.append((WINDOW_INFO, {**model, **names}, 1.0))
    return out
