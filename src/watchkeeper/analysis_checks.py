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
from watchkeeper.drift.embeddings import (
    EmbeddingDriftReport,
    EmbeddingsFit,
    evaluate_embeddings,
    fit_embeddings,
)
from watchkeeper.drift.multivariate import (
    MultivariateDriftReport,
    MultivariateFit,
    evaluate_multivariate,
    fit_multivariate,
)
from watchkeeper.performance.baseline import fit_performance_baseline
from watchkeeper.segments import SegmentsFit, SegmentsReport, evaluate_segments, fit_segments
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


@dataclass(frozen=True)
class EmbeddingDriftCheck:
    """Drift of the vector columns named in `drift.embeddings.columns` (Evidently's four methods)."""

    name: str = "drift.embeddings"

    def fit(self, reference: ReferenceData, config: MonitorConfig) -> EmbeddingsFit | None:
        if not (config.drift.enabled and config.drift.embeddings.columns):
            return None
        return fit_embeddings(reference.frame, config.drift.embeddings)

    def evaluate(self, fitted: EmbeddingsFit | None, window: Window) -> EmbeddingDriftReport | None:
        if fitted is None or window.empty:
            return None
        return evaluate_embeddings(fitted, window.frame)


@dataclass(frozen=True)
class SegmentsCheck:
    """Drift, realized and estimated performance per value of each `segments:` column."""

    name: str = "segments"

    def fit(self, reference: ReferenceData, config: MonitorConfig) -> SegmentsFit | None:
        if not config.segments.columns:
            return None
        cols, frame = config.columns, reference.frame
        # The whole reference's estimator (CBPE / DLE), shared by every segment; fitted here again
        # because checks fit independently of one another.
        baseline = None
        if config.performance.enabled and cols.target is not None and cols.target in frame.columns:
            baseline = fit_performance_baseline(
                frame,
                columns=cols,
                task=config.model.task,
                config=config.performance,
                window_size=config.window.size,
            )
        return fit_segments(
            frame,
            config.segments,
            columns=cols,
            task=config.model.task,
            drift=config.drift,
            performance=config.performance,
            baseline=baseline,
            window_size=config.window.size,
        )

    def evaluate(self, fitted: SegmentsFit | None, window: Window) -> SegmentsReport | None:
        if fitted is None or window.empty:
            return None
        return evaluate_segments(fitted, window.frame, labels_complete=window.labels_complete)
