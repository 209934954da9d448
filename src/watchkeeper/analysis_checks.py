"""Checks beyond the anchors: multivariate drift, embedding drift and per-segment results.

Each is a check with the lifecycle of `watchkeeper.checks` (`fit(reference, config)` once per
reference, `evaluate(fitted, window)` per window) and adapts the model config to its domain module
(`watchkeeper.drift.multivariate`, `watchkeeper.drift.embeddings`, `watchkeeper.segments`).
`standard_checks` adds them to the monitor's checks; their section names (``drift.multivariate``,
``drift.embeddings``, ``segments``) prefix their figures, so alert rules read
``drift.multivariate.reconstruction_error > drift.multivariate.upper``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from watchkeeper.config import MonitorConfig
from watchkeeper.drift.multivariate import (
    MultivariateDriftReport,
    MultivariateFit,
    evaluate_multivariate,
    fit_multivariate,
)
from watchkeeper.windows import ReferenceData

if TYPE_CHECKING:
    from watchkeeper.checks import Window


@dataclass(frozen=True)
class MultivariateDriftCheck:
    """PCA reconstruction error and a domain classifier over all features (on for ≥ 2 features)."""

    name: str = "drift.multivariate"

    def fit(self, reference: ReferenceData, config: MonitorConfig) -> MultivariateFit | None:
        mv = config.drift.multivariate
        if not (config.drift.enabled and mv.enabled) or len(config.columns.features) < 2:
            return None
        return fit_multivariate(
            reference.frame,
            mv,
            columns=config.columns,
            chunk_rows=config.performance.reference_chunk_rows,
            window_size=config.window.size,
        )

    def evaluate(self, fitted: MultivariateFit | None, window: Window) -> MultivariateDriftReport | None:
        if fitted is None or window.empty:
            return None
        return evaluate_multivariate(fitted, window.frame)
