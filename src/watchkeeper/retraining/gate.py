"""The deployment gate: a challenger replaces the champion only if it is measurably better.

`compare_models(challenger, champion, ...)` → `DeployDecision` judges both models' metrics on the
same evaluation data: the challenger must beat the champion by a margin on the primary metric and may
not be worse beyond a tolerance on the guard metrics. `resolve_primary_metric` says which metric is
primary; `summarize_gate` is what a promotion or rejection notification shows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from watchkeeper.performance.config import default_primary_metric
from watchkeeper.performance.metrics import HIGHER_IS_BETTER

if TYPE_CHECKING:  # annotations only: the config imports this package
    from watchkeeper.config import MonitorConfig


def resolve_primary_metric(config: MonitorConfig) -> str:
    """`retraining.primary_metric`, else the performance section's, else the task's default."""
    return (
        config.retraining.primary_metric
        or config.performance.primary_metric
        or default_primary_metric(config.model.task.value)
    )


@dataclass(frozen=True)
class DeployDecision:
    """Promote the challenger or not, with the figures that decided."""

    promote: bool
    reasons: list[str]
    primary_metric: str
    challenger: dict[str, float]
    champion: dict[str, float]

    @property
    def label(self) -> str:
        return "promote" if self.promote else "reject"

    def to_dict(self) -> dict[str, Any]:
        return {
            "promote": self.promote,
            "decision": self.label,
            "reasons": list(self.reasons),
            "primary_metric": self.primary_metric,
            "challenger": dict(self.challenger),
            "champion": dict(self.champion),
        }


def compare_models(
    challenger: Mapping[str, float],
    champion: Mapping[str, float],
    *,
    primary_metric: str,
    min_improvement: float,
    guard_metrics: Sequence[str] = (),
    guard_tolerance: float = 0.0,
) -> DeployDecision:
    """The deployment gate, on the same evaluation data for both models.

    Improvement is signed by the metric's direction (a lower log loss is an improvement). The
    challenger must improve the primary metric by at least `min_improvement` and may not be worse
    than the champion by more than `guard_tolerance` on any guard metric.
    """
    reasons: list[str] = []
    promote = True

    def gain(metric: str) -> float | None:
        a, b = challenger.get(metric), champion.get(metric)
        if a is None or b is None:
            return None
        return (a - b) if HIGHER_IS_BETTER.get(metric, True) else (b - a)

    g = gain(primary_metric)
    if g is None:
        promote = False
        reasons.append(f"{primary_metric} could not be computed for both models")
    elif g >= min_improvement:
        reasons.append(
            f"{primary_metric}: challenger {challenger[primary_metric]:.4f} vs champion "
            f"{champion[primary_metric]:.4f} (gain {g:+.4f} ≥ margin {min_improvement:g})"
        )
    else:
        promote = False
        reasons.append(
            f"{primary_metric}: challenger {challenger[primary_metric]:.4f} vs champion "
            f"{champion[primary_metric]:.4f} (gain {g:+.4f} < margin {min_improvement:g})"
        )
    for metric in guard_metrics:
        gm = gain(metric)
        if gm is None:
            promote = False
            reasons.append(f"guard {metric} could not be computed for both models")
        elif gm < -guard_tolerance:
            promote = False
            reasons.append(
                f"guard {metric}: challenger {challenger[metric]:.4f} worse than champion "
                f"{champion[metric]:.4f} beyond the tolerance {guard_tolerance:g}"
            )
    return DeployDecision(promote, reasons, primary_metric, dict(challenger), dict(champion))


def summarize_gate(decision: DeployDecision, *, min_improvement: float) -> dict[str, Any]:
    """The challenger's primary metric against the bar it had to clear, as a notification shows it:
    ``{"metric", "value", "threshold", "op"}`` (threshold None when the champion's is unknown)."""
    metric = decision.primary_metric
    higher = HIGHER_IS_BETTER.get(metric, True)
    bar = decision.champion.get(metric)
    return {
        "metric": metric,
        "value": decision.challenger.get(metric),
        "threshold": None if bar is None else bar + (min_improvement if higher else -min_improvement),
        "op": ">=" if higher else "<=",
    }
