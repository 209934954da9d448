"""Model performance: realized and estimated (CBPE) quality, reference bands, concept drift, serving.

The public API the monitor flow calls:

- `fit_performance_baseline(reference, columns=, task=, config=, window_size=)` → `PerformanceBaseline`
- `evaluate_performance(window, baseline, columns=, task=, config=, detector_state=, labels_complete=)`
  → `PerformanceReport` (section ``perf``; persist ``report.detector_state``);
  with ``detector_state=DEFER_DETECTORS`` the detectors are fed later, in window order, by
  `feed_pending_detectors(report, state)` (a parallel backfill)
- `compute_serving_metrics(window, columns=, window_start=, window_end=)` → `ServingReport`
  (section ``serving``)

Modules: inputs (the window's arrays), baseline (fit, bands), cbpe, gap (the concept-drift gap
test), concept (DDM, Page-Hinkley), streams (feeding them), judgement (findings), report,
evaluate (`evaluate_performance`), grouping (rows per model version), metrics, serving, config.
"""

from watchkeeper.performance.baseline import Band, PerformanceBaseline, fit_performance_baseline
from watchkeeper.performance.cbpe import CBPEEstimator, Estimate, fit_cbpe
from watchkeeper.performance.concept import DetectorResult, update_ddm, update_page_hinkley
from watchkeeper.performance.config import PerformanceConfig
from watchkeeper.performance.evaluate import DEFER_DETECTORS, evaluate_performance, feed_pending_detectors
from watchkeeper.performance.gap import GapResult
from watchkeeper.performance.metrics import ConfusionMatrix, MetricValue
from watchkeeper.performance.report import PerformanceReport, VersionPerformance
from watchkeeper.performance.serving import ServingReport, ServingStats, compute_serving_metrics

__all__ = [
    "DEFER_DETECTORS",
    "Band",
    "CBPEEstimator",
    "ConfusionMatrix",
    "DetectorResult",
    "Estimate",
    "GapResult",
    "MetricValue",
    "PerformanceBaseline",
    "PerformanceConfig",
    "PerformanceReport",
    "ServingReport",
    "ServingStats",
    "VersionPerformance",
    "compute_serving_metrics",
    "evaluate_performance",
    "feed_pending_detectors",
    "fit_cbpe",
    "fit_performance_baseline",
    "update_ddm",
    "update_page_hinkley",
]
