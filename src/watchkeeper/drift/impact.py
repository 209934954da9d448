"""Drift ranked by its impact: which drifting features move the model's performance.

NannyML's `CorrelationRanker`, over the windows Watchkeeper has already judged: for each feature,
the Pearson correlation between its drift score and the absolute change of the primary metric
(the window's estimated figure, else its realized one, minus the middle of the reference band),
across the past windows and this one. A feature whose drift goes with performance changes ranks
first; one that drifts while performance holds ranks low. With fewer than `min_windows` windows
holding both figures, or a constant series, a feature is reported unranked with the reason.

The section is ``drift.impact``: figures ``<feature>.correlation`` and ``<feature>.rank`` (1 = most
impact), a table for the Prefect UI. The second ranking the issue asks for (the performance change
when the feature alone is reset to its reference distribution, with the model loaded from MLflow)
is not implemented.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from watchkeeper.verdict import Finding, Publication

MIN_WINDOWS = 5


@dataclass(frozen=True)
class FeatureImpact:
    feature: str
    correlation: float | None
    rank: int | None
    n_windows: int
    drifted_now: bool
    status: str


@dataclass(frozen=True)
class ImpactReport:
    metric: str
    features: tuple[FeatureImpact, ...]

    def figures(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for f in self.features:
            if f.correlation is not None and f.rank is not None:
                out[f"{f.feature}.correlation"] = f.correlation
                out[f"{f.feature}.rank"] = float(f.rank)
        return out

    def findings(self) -> list[Finding]:
        return []  # information for the drift table and the alert text, not a reason on its own

    def table_rows(self) -> list[dict[str, Any]]:
        return [
            {
                "rank": f.rank,
                "feature": f.feature,
                "correlation": f.correlation,
                "drifted": f.drifted_now,
                "windows": f.n_windows,
                "status": f.status,
            }
            for f in self.features
        ]

    def publish(self) -> Publication:
        return Publication(tables={"drift-impact": self.table_rows()})

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "features": self.table_rows()}


def _performance(figures: Mapping[str, float], metric: str) -> float | None:
    value = figures.get(f"perf.estimated.{metric}", figures.get(f"perf.realized.{metric}"))
    lower, upper = figures.get(f"perf.band.{metric}.lower"), figures.get(f"perf.band.{metric}.upper")
    if value is None or lower is None or upper is None:
        return None
    return abs(value - (lower + upper) / 2)


def rank_drift_impact(
    history: Sequence[Mapping[str, float]],
    current: Mapping[str, float],
    *,
    features: Sequence[str],
    metric: str,
    min_windows: int = MIN_WINDOWS,
) -> ImpactReport:
    """Rank `features` by the correlation of their drift score with |performance change| (see above).

    `history` holds the figures of past windows (oldest first), `current` this window's.
    """
    windows = [*history, current]
    change = [_performance(w, metric) for w in windows]
    ranked: list[FeatureImpact] = []
    for feature in features:
        pairs = [
            (w[f"drift.{feature}.score"], c)
            for w, c in zip(windows, change, strict=True)
            if c is not None and f"drift.{feature}.score" in w
        ]
        drifted = bool(current.get(f"drift.{feature}.drifted", 0.0))
        if len(pairs) < min_windows:
            status = f"not ranked: {len(pairs)} window(s) with drift and {metric}, {min_windows} needed"
            ranked.append(FeatureImpact(feature, None, None, len(pairs), drifted, status))
            continue
        x, y = np.array(pairs, dtype=np.float64).T
        if np.ptp(x) == 0 or np.ptp(y) == 0:
            ranked.append(
                FeatureImpact(feature, None, None, len(pairs), drifted, "not ranked: a constant series")
            )
            continue
        r = float(np.corrcoef(x, y)[0, 1])
        ranked.append(
            FeatureImpact(feature, r if math.isfinite(r) else None, None, len(pairs), drifted, "ok")
        )
    order = sorted((f for f in ranked if f.correlation is not None), key=lambda f: -(f.correlation or 0.0))
    rank = {f.feature: i + 1 for i, f in enumerate(order)}
    out = [
        FeatureImpact(f.feature, f.correlation, rank.get(f.feature), f.n_windows, f.drifted_now, f.status)
        for f in ranked
    ]
    out.sort(key=lambda f: (f.rank is None, f.rank or 0, f.feature))
    return ImpactReport(metric, tuple(out))
