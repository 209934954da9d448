"""The numbers behind an alert, read from the window's figures: what the on-call reader asks next.

A rule's summary says *that* it holds ("Estimated ROC AUC 0.61 fell below its band"); its evidence
says *how far* and *what moved*, in short sentences the channels render under it:

- the figure against its whole band (`perf.band.<metric>.lower/upper`), not only the bound crossed;
- for concept drift, realized against estimated on the same rows (`realized ROC AUC 0.399 against
  estimated 0.838`): labels say one thing, the model's confidence another;
- for target drift, the target's own score (the feature columns are a different rule's story);
- the features with the most impact on the model (`drift.impact.<feature>.rank`, 1 = most) for the
  rules on drift and performance, when the report ranked them;
- for data drift, the drifted feature columns by impact with their score and effect size
  (`drift_details`, the event's details).

The sections' own sentences about a rule (`Judgement.rule_evidence`: the failed expectations with
column, share and examples) come first; these follow. Pure functions of the figures.
"""

from __future__ import annotations

from collections.abc import Mapping

from watchkeeper.alerting.judge import metric_label
from watchkeeper.alerting.rules import RuleConfig

# How many drifted columns an alert lists (the drift table has them all), and how many features
# with the most impact it names.
MAX_DETAILS = 200
TOP_IMPACT = 3

_FEATURE_DRIFT_FIGURES = frozenset({"drift.share", "drift.n_drifted", "drift.dataset_drift"})


def _get(figures: Mapping[str, float], name: str) -> float | None:
    value = figures.get(name)
    return None if value is None or value != value else float(value)


def _fmt(value: float) -> str:
    return f"{value:.3g}"


def is_feature_drift_rule(rule: RuleConfig) -> bool:
    """A rule on the feature columns' drift (`drift.share`, a feature's own score), whose details
    are the drifted feature columns; not a rule on the target's or the prediction's drift."""
    fields = rule.parsed.fields
    if _FEATURE_DRIFT_FIGURES.intersection(fields):
        return True
    return any(
        f.startswith("drift.")
        and not f.startswith(("drift.target.", "drift.prediction.", "drift.impact.", "drift.multivariate."))
        and f.endswith((".score", ".drifted"))
        for f in fields
    )


def drift_details(figures: Mapping[str, float]) -> tuple[str, ...]:
    """The drifted feature columns, most impact first (`drift.impact.<column>.rank`), then the
    unranked ones worst score first, each with its score, effect size and impact rank.

    Feature columns only, as `drift.share` and `drift.n_drifted` count them (prediction and target
    drift are rules of their own), so the count in the heading is the count of the list.
    """
    drifted = [
        name[len("drift.") : -len(".drifted")]
        for name, value in figures.items()
        if name.startswith("drift.")
        and name.endswith(".drifted")
        and value == 1
        and not name.startswith(("drift.prediction.", "drift.target."))
    ]

    def score(col: str) -> float:
        value = _get(figures, f"drift.{col}.score")
        return float("-inf") if value is None else -abs(value)

    def rank(col: str) -> float:
        value = _get(figures, f"drift.impact.{col}.rank")
        return float("inf") if value is None else value

    def shown_as(col: str) -> str:
        facts = []
        if (value := _get(figures, f"drift.{col}.score")) is not None:
            facts.append(_fmt(value))
        if (effect := _get(figures, f"drift.{col}.effect_size")) is not None:
            facts.append(f"effect {_fmt(effect)}")
        if f"drift.impact.{col}.rank" in figures:
            facts.append(f"impact rank {rank(col):.0f}")
        return f"{col} ({', '.join(facts)})" if facts else col

    drifted.sort(key=lambda c: (rank(c), score(c), c))
    shown = [shown_as(c) for c in drifted[:MAX_DETAILS]]
    if len(drifted) > MAX_DETAILS:
        shown.append(f"… and {len(drifted) - MAX_DETAILS} more")
    return (f"Drifted feature columns ({len(drifted)}):", *shown) if drifted else ()


def _metric_of(figure: str) -> str | None:
    """`perf.realized.roc_auc` → `roc_auc`; None for a figure that is not a performance metric."""
    parts = figure.split(".")
    if len(parts) == 3 and parts[0] == "perf" and parts[1] in ("realized", "estimated", "band"):
        return parts[2]
    if len(parts) == 4 and parts[:2] == ["perf", "band"]:
        return parts[2]
    return None


def _band(figures: Mapping[str, float], metric: str) -> str | None:
    lower, upper = _get(figures, f"perf.band.{metric}.lower"), _get(figures, f"perf.band.{metric}.upper")
    if lower is None and upper is None:
        return None
    low = "-∞" if lower is None else _fmt(lower)
    high = "∞" if upper is None else _fmt(upper)
    return f"[{low}, {high}]"


def _realized_vs_estimated(figures: Mapping[str, float], metric: str) -> str | None:
    realized, estimated = _get(figures, f"perf.realized.{metric}"), _get(figures, f"perf.estimated.{metric}")
    if realized is None or estimated is None:
        return None
    name = metric_label(metric)
    low, high = (
        _get(figures, f"perf.estimated.{metric}.lower"),
        _get(figures, f"perf.estimated.{metric}.upper"),
    )
    expected = (
        f" (expected {_fmt(low)}–{_fmt(high)} on the same rows)"
        if low is not None and high is not None
        else ""
    )
    return f"realized {name} {realized:.3f} against estimated {estimated:.3f}{expected}"


def top_impact(figures: Mapping[str, float], n: int = TOP_IMPACT) -> str | None:
    """``Most impact on the model: income (1), age (2), region (3)`` when the report ranked them."""
    ranked = []
    for name, value in figures.items():
        if name.startswith("drift.impact.") and name.endswith(".rank") and value == value:
            ranked.append((float(value), name[len("drift.impact.") : -len(".rank")]))
    if not ranked:
        return None
    ranked.sort()
    return "Most impact on the model: " + ", ".join(f"{col} ({rank:.0f})" for rank, col in ranked[:n])


def rule_evidence(
    rule: RuleConfig, figures: Mapping[str, float], *, section_said: bool = False
) -> tuple[str, ...]:
    """The figure-based sentences behind `rule`'s alert in this window (see the module docstring).

    `section_said`: a section's own sentence about the rule comes first; it names the band already
    (`performance_drop`), so the band is not repeated."""
    fields = rule.parsed.fields
    out: list[str] = []
    metric, value, _, _ = rule.parsed.primary(figures)
    perf_metric = _metric_of(metric)
    if perf_metric is not None and value is not None and not section_said:
        band = _band(figures, perf_metric)
        if band is not None:
            kind = metric.split(".")[1]
            out.append(f"{kind} {metric_label(perf_metric)} {value:.3f} against its reference band {band}")
    if "perf.concept_drift" in fields or any(f.startswith("perf.concept.") for f in fields):
        metrics = sorted(
            {n.split(".")[2] for n in figures if n.startswith("perf.realized.") and n.count(".") == 2}
        )
        out.extend(s for m in metrics if (s := _realized_vs_estimated(figures, m)) is not None)
    elif perf_metric is not None:
        line = _realized_vs_estimated(figures, perf_metric)
        if line is not None:
            out.append(line)
    if any(f.startswith("drift.target.") for f in fields):
        score = _get(figures, "drift.target.score")
        if score is not None:
            out.append(f"target drift score {_fmt(score)} against the reference (labeled rows)")
    on_model = perf_metric is not None or any(f.startswith("perf.concept") for f in fields)
    on_features = any(f.startswith("drift.") and not f.startswith("drift.target.") for f in fields)
    # A feature-drift alert's details are ordered by impact already.
    if (on_model or on_features) and not is_feature_drift_rule(rule):
        impact = top_impact(figures)
        if impact is not None:
            out.append(impact)
    return tuple(out)
