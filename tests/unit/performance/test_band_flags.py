"""Figures outside their reference band are flagged where people read them, not only listed."""

from __future__ import annotations

from datetime import UTC, datetime

from watchkeeper.performance.baseline import Band
from watchkeeper.performance.cbpe import Estimate
from watchkeeper.performance.metrics import MetricValue, band_flag, flagged_figure
from watchkeeper.performance.report import PerformanceReport
from watchkeeper.report import MonitoringReport, SnapshotSection
from watchkeeper.schema import TaskType


def test_band_flag_says_which_side() -> None:
    assert band_flag(0.847, 0.35, 0.53) == "▲ above band 0.35–0.53"
    assert band_flag(0.2, 0.35, 0.53) == "▼ below band 0.35–0.53"
    assert band_flag(0.4, 0.35, 0.53) == ""  # inside: nothing to flag
    assert band_flag(0.53, 0.35, 0.53) == ""  # the bounds belong to the band
    assert band_flag(0.9, None, 0.53) == "▲ above band ≤ 0.53"  # a one-sided band
    assert band_flag(None, 0.35, 0.53) == band_flag(0.9, None, None) == ""  # nothing to compare
    assert flagged_figure(0.8471, 0.35, 0.53) == "0.8471 ▲ above band 0.35–0.53"


def perf_report() -> PerformanceReport:
    # The window: recall estimated at 0.847 against a band of 0.35–0.53; realized ROC AUC
    # 0.399 below its band; accuracy inside.
    return PerformanceReport(
        task=TaskType.BINARY,
        primary_metric="roc_auc",
        n_rows=2000,
        n_labeled=1400,
        realized={"roc_auc": MetricValue(0.399, n=1400), "accuracy": MetricValue(0.8, n=1400)},
        confusion_matrix=None,
        estimated={"recall": Estimate(0.847, 0.01, 0.82, 0.87), "accuracy": Estimate(0.79, 0.01, 0.77, 0.81)},
        bands={
            "recall": Band(0.35, 0.53),
            "roc_auc": Band(0.71, 0.80),
            "accuracy": Band(0.75, 0.85),
        },
        gaps={},
        detectors={},
        detectors_fed=False,
        detector_status="not fed",
        detector_state={},
        by_version={},
        notes=(),
    )


def test_performance_table_flags_figures_outside_their_band() -> None:
    rows = {r["metric"]: r for r in perf_report().table_rows()}
    assert rows["recall"]["vs_band"] == "estimated 0.847 ▲ above band 0.35–0.53"
    assert rows["roc_auc"]["vs_band"] == "realized 0.399 ▼ below band 0.71–0.8"
    assert rows["accuracy"]["vs_band"] == ""
    md = perf_report().to_markdown()
    assert "| recall | – | 0.847 ▲ above band 0.35–0.53 [0.82, 0.87] | [0.35, 0.53] |" in md
    assert "| roc_auc | 0.399 ▼ below band 0.71–0.8 |" in md


def test_verdict_card_lists_figures_outside_their_band() -> None:
    t = datetime(2026, 3, 10, tzinfo=UTC)
    report = MonitoringReport(
        model="credit-risk",
        window_start=t,
        window_end=t,
        evaluated_at=t,
        model_versions=("1",),
        config_hash="h",
        sections={
            "perf": perf_report(),
            "other": SnapshotSection("test", t, {}),
        },
    )
    card = report.to_markdown()
    assert "| `perf.realized.roc_auc` | 0.399 ▼ below band 0.71–0.8 |" in card
    assert "## Outside the reference band" in card
    assert "- estimated recall 0.847 ▲ above band 0.35–0.53" in card
    assert "- realized roc_auc 0.399 ▼ below band 0.71–0.8" in card
    assert "accuracy 0.8 " not in card  # inside its band: not flagged
