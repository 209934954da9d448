"""A window's Prometheus gauges: names and labels are the contract with the Grafana dashboard and
the alerting rules in deployments/grafana/."""

from __future__ import annotations

from datetime import UTC, datetime

from watchkeeper.exposition import window_samples
from watchkeeper.report import MonitoringReport, SnapshotSection

END = datetime(2026, 3, 6, tzinfo=UTC)


def test_window_samples() -> None:
    perf = {
        "estimated.roc_auc": 0.83,
        "realized.roc_auc": 0.79,
        "band.roc_auc.lower": 0.8,
        "concept_drift": 0.0,
    }
    report = MonitoringReport(
        model="credit-risk",
        window_start=datetime(2026, 3, 5, tzinfo=UTC),
        window_end=END,
        evaluated_at=END,
        model_versions=("1",),
        config_hash="h",
        sections={
            "perf": SnapshotSection("test", END, perf),
            "validation": SnapshotSection("test", END, {"critical_failures": 2.0, "evaluated": 40.0}),
            # the window's own figures: one "window" in the name, as the rules and dashboard query them
            "window": SnapshotSection("test", END, {"rows": 0.0, "no_data": 1.0, "label_coverage": 0.7}),
        },
    )
    model = {"model": "credit-risk"}
    assert sorted(window_samples(report), key=lambda s: (s[0], sorted(s[1].items()))) == [
        ("watchkeeper_window_end_timestamp_seconds", model, END.timestamp()),
        # the window's name and version label ride on an info metric, not on every gauge
        (
            "watchkeeper_window_info",
            {**model, "window": "credit-risk 2026-03-05 → 03-06", "model_version": "v1"},
            1.0,
        ),
        ("watchkeeper_window_label_coverage", model, 0.7),
        ("watchkeeper_window_no_data", model, 1.0),
        ("watchkeeper_window_perf_band_lower", {**model, "metric": "roc_auc"}, 0.8),
        ("watchkeeper_window_perf_concept_drift", model, 0.0),
        ("watchkeeper_window_perf_estimated", {**model, "metric": "roc_auc"}, 0.83),
        ("watchkeeper_window_perf_realized", {**model, "metric": "roc_auc"}, 0.79),
        ("watchkeeper_window_rows", model, 0.0),
        ("watchkeeper_window_validation_critical_failures", model, 2.0),
        ("watchkeeper_window_verdict_level", model, 0.0),  # snapshot sections raise no finding
    ]
