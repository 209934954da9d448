"""Model performance: realized and estimated (CBPE) quality, reference bands, concept drift, serving.

The public API the monitor flow calls:

- `fit_performance_baseline(reference, columns=, task=, config=, window_size=)` → `PerformanceBaseline`
- `evaluate_performance(window, baseline, columns=, task=, config=, detector_state=, labels_complete=)`
  → `PerformanceReport` (section ``perf``; persist ``report.detector_state``)
- `compute_serving_metrics(window, columns=, window_start=, window_end=)` → `ServingReport`
  (section ``serving``)

Names are imported lazily: `watchkeeper.config` imports `watchkeeper.performance.config`, and the
engine imports `watchkeeper.config`, so an eager import here would be circular.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Band": "engine",
    "GapResult": "engine",
    "PerformanceBaseline": "engine",
    "PerformanceReport": "engine",
    "VersionPerformance": "engine",
    "evaluate_performance": "engine",
    "fit_performance_baseline": "engine",
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

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'watchkeeper.performance' has no attribute {name!r}")
    return getattr(importlib.import_module(f"watchkeeper.performance.{module}"), name)
