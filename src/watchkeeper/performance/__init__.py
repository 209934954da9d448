"""Model performance: realized and estimated (CBPE) quality, reference bands, concept drift, serving.

The public API the monitor flow calls:

- `fit_performance_baseline(reference, columns=, task=, config=, window_size=)` → `PerformanceBaseline`
- `evaluate_performance(window, baseline, columns=, task=, config=, detector_state=, labels_complete=)`
  → `PerformanceReport` (section ``perf``; persist ``report.detector_state``)
- `compute_serving_metrics(window, columns=, window_start=, window_end=)` → `ServingReport`
  (section ``serving``)

Modules: inputs (the window's arrays), baseline (fit, bands), cbpe, gap (the concept-drift gap
test), concept (DDM, Page-Hinkley), streams (feeding them), judgement (findings), report,
evaluate (`evaluate_performance`), grouping (rows per model version), metrics, serving, config.

Names are imported lazily: `watchkeeper.config` imports `watchkeeper.performance.config`, and the
modules that compute import `watchkeeper.config`, so an eager import here would be circular.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the same names, eagerly, for type checkers
    from watchkeeper.performance.baseline import Band, PerformanceBaseline, fit_performance_baseline
    from watchkeeper.performance.cbpe import CBPEEstimator, Estimate, fit_cbpe
    from watchkeeper.performance.concept import DetectorResult, update_ddm, update_page_hinkley
    from watchkeeper.performance.config import PerformanceConfig
    from watchkeeper.performance.evaluate import evaluate_performance
    from watchkeeper.performance.gap import GapResult
    from watchkeeper.performance.metrics import ConfusionMatrix, MetricValue
    from watchkeeper.performance.report import PerformanceReport, VersionPerformance
    from watchkeeper.performance.serving import ServingReport, ServingStats, compute_serving_metrics

_EXPORTS = {
    "Band": "baseline",
    "PerformanceBaseline": "baseline",
    "fit_performance_baseline": "baseline",
    "evaluate_performance": "evaluate",
    "GapResult": "gap",
    "PerformanceReport": "report",
    "VersionPerformance": "report",
    "CBPEEstimator": "cbpe",
    "Estimate": "cbpe",
    "fit_cbpe": "cbpe",
    "DetectorResult": "concept",
    "update_ddm": "concept",
    "update_page_hinkley": "concept",
    "PerformanceConfig": "config",
    "ConfusionMatrix": "metrics",
    "MetricValue": "metrics",
    "ServingReport": "serving",
    "ServingStats": "serving",
    "compute_serving_metrics": "serving",
}

__all__ = [
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
    "fit_cbpe",
    "fit_performance_baseline",
    "update_ddm",
    "update_page_hinkley",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'watchkeeper.performance' has no attribute {name!r}")
    return getattr(importlib.import_module(f"watchkeeper.performance.{module}"), name)
