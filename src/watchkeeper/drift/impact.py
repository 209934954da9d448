"""Drift ranked by its impact: which drifting features move the model's performance.

NannyML's `CorrelationRanker`, over the windows Watchkeeper has already judged: for each feature,
the Pearson correlation between its drift score and the absolute change of the primary metric
(the window's estimated figure, else its realized one, minus the middle of the reference band),
across the past windows and this one. A feature whose drift goes with performance changes ranks
first; one that drifts while performance holds ranks low. With fewer than `min_windows` windows
holding both figures, or a constant series, a feature is reported unranked with the reason.

Where the model that scored the window could be loaded from MLflow, the direct measure comes first:
the change of the metric when the feature alone is reset to its reference distribution
(`watchkeeper.drift.reset_impact`). The rank orders features by that |change|, then (features
without it) by the correlation; the drift table and the drift alert's list of features follow this
rank, the dashboard's heatmap its mean over the windows shown.

The section is ``drift.impact``: figures ``<feature>.correlation``, ``<feature>.reset_change`` and
``<feature>.rank`` (1 = most impact), a table for the Prefect UI.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from watchkeeper.drift.reset_impact import ResetImpactReport
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
    reset_change: float | None = None
    reset_status: str = "not measured"


@dataclass(frozen=True)
class ImpactReport:
    metric: str
    features: tuple[FeatureImpact, ...]
    reset_metric: str = ""  # what `reset_change` is a change of ("realized roc_auc", "mean score")
    reset_status: str = "not measured"

    def figures(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for f in self.features:
            if f.correlation is not None:
                out[f"{f.feature}.correlation"] = f.correlation
            if f.reset_change is not None:
                out[f"{f.feature}.reset_change"] = f.reset_change
            if f.rank is not None:
                out[f"{f.feature}.rank"] = float(f.rank)
        return out

    def ranks(self) -> dict[str, int]:
        return {f.feature: f.rank for f in self.features if f.rank is not None}

    def findings(self) -> list[Finding]:
        return []  # information for the drift table and the alert text, not a reason on its own

    def table_rows(self) -> list[dict[str, Any]]:
        return [
            {
                "rank": f.rank,
                "feature": f.feature,
                "drifted": f.drifted_now,
                "reset_change": f.reset_change,
                "reset_metric": self.reset_metric if f.reset_change is not None else "",
                "correlation": f.correlation,
                "windows": f.n_windows,
                "status": f.status if f.reset_change is None else f"{f.reset_status}; correlation {f.status}",
            }
            for f in self.features
        ]

    def publish(self) -> Publication:
        return Publication(tables={"drift-impact": self.table_rows()})

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "reset_metric": self.reset_metric,
            "reset_status": self.reset_status,
            "features": self.table_rows(),
        }


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
    reset: ResetImpactReport | None = None,
) -> ImpactReport:
    """Rank `features` by the reset change where measured, else by the correlation of their drift
    score with |performance change| (see above).

    `history` holds the figures of past windows (oldest first), `current` this window's, `reset`
    the window's reset measurement (None: the model was not loadable or the check is off).
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
    resets = reset.by_feature() if reset is not None else {}
    ranked = [
        replace(f, reset_change=resets[f.feature].change, reset_status=resets[f.feature].status)
        if f.feature in resets
        else f
        for f in ranked
    ]
    order = sorted(
        (f for f in ranked if f.correlation is not None or f.reset_change is not None),
        key=lambda f: (
            f.reset_change is None,
            -abs(f.reset_change or 0.0),
            f.correlation is None,
            -(f.correlation or 0.0),
        ),
    )
    rank = {f.feature: i + 1 for i, f in enumerate(order)}
    out = [replace(f, rank=rank.get(f.feature)) for f in ranked]
    out.sort(key=lambda f: (f.rank is None, f.rank or 0, f.feature))
    if reset is None:
        return ImpactReport(metric, tuple(out))
    return ImpactReport(metric, tuple(out), reset.metric, reset.status)


def order_drift_rows(rows: Sequence[Mapping[str, Any]], impact: ImpactReport) -> list[dict[str, Any]]:
    """The drift table's rows with an impact rank and reset change, drifted features first by rank
    (then the other rows in their order)."""
    by_feature = {f.feature: f for f in impact.features}
    out = []
    for row in rows:
        found = by_feature.get(str(row.get("column")))
        out.append(
            {
                **row,
                "impact_rank": found.rank if found else None,
                "reset_change": found.reset_change if found else None,
            }
        )

    def key(item: tuple[int, dict[str, Any]]) -> tuple[bool, bool, int, int]:
        i, row = item
        rank = row["impact_rank"]
        return (row.get("drifted") != "yes", rank is None, rank or 0, i)

    return [row for _, row in sorted(enumerate(out), key=key)]
