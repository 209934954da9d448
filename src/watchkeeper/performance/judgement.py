"""From a window's performance figures to findings: reference band, fixed thresholds, concept drift.

The rules, each with its configured severity:

- the primary metric outside its reference band, on the worse side (`band_severity`); a figure
  better than its band is no finding;
- any metric past a fixed threshold (`thresholds.<metric>.severity`);
- a gap test or a sequential detector signalling concept drift (`concept_drift_severity`).

Band and thresholds judge both the realized figure and CBPE's estimate, each only on at least
`min_labeled` rows: on a handful of rows a band or a threshold says nothing.
"""

from __future__ import annotations

from watchkeeper.performance.baseline import Band
from watchkeeper.performance.cbpe import Estimate
from watchkeeper.performance.concept import DetectorResult
from watchkeeper.performance.config import DLE_METRICS, PerformanceConfig
from watchkeeper.performance.gap import GapResult
from watchkeeper.performance.metrics import HIGHER_IS_BETTER, MetricValue, format_figure
from watchkeeper.verdict import Finding, Severity

_DETECTOR_LABELS = {"ddm": "DDM", "page_hinkley": "Page-Hinkley"}
THRESHOLD_RULES = {"Realized": "performance_threshold", "Estimated (CBPE)": "estimated_performance_threshold"}


def judge_performance(
    *,
    realized: dict[str, MetricValue],
    estimated: dict[str, Estimate],
    bands: dict[str, Band],
    gaps: dict[str, GapResult],
    detectors: dict[str, DetectorResult],
    config: PerformanceConfig,
    primary: str,
) -> list[Finding]:
    """The findings above OK, in rule order: band, thresholds, gap tests, detectors."""

    def judged_values(metric: str) -> list[tuple[str, float, str]]:
        out = []
        r = realized.get(metric)
        if r is not None and r.value is not None and r.n >= config.min_labeled:
            out.append(("Realized", r.value, f"on {r.n} labeled rows"))
        e = estimated.get(metric)
        if e is not None and e.value is not None and e.n >= config.min_labeled:
            how = ("DLE", "features and predictions") if metric in DLE_METRICS else ("CBPE", "scores")
            out.append((f"Estimated ({how[0]})", e.value, f"on {e.n} rows, from the {how[1]} alone"))
        return out

    findings: list[Finding] = []
    band_sev = Severity.parse(config.band_severity)
    band = bands.get(primary)
    if band is not None and band.status == "ok":
        for kind, value, where in judged_values(primary):
            if not band.contains(value):
                side = "below" if band.lower is not None and value < band.lower else "above"
                worse = (side == "below") == HIGHER_IS_BETTER[primary]
                findings.append(
                    Finding(
                        "perf",
                        band_sev if worse else Severity.OK,
                        f"{kind} {primary} {value:.4f} is {side} its reference band "
                        f"[{format_figure(band.lower)}, {format_figure(band.upper)}] ({where}).",
                        rule="performance_drop",
                    )
                )
    for metric, limit in config.thresholds.items():
        sev = Severity.parse(limit.severity)
        for kind, value, where in judged_values(metric):
            for side, bound in (("below", limit.lower), ("above", limit.upper)):
                if bound is not None and (value < bound if side == "below" else value > bound):
                    findings.append(
                        Finding(
                            "perf",
                            sev,
                            f"{kind} {metric} {value:.4f} is {side} the threshold {bound:g} ({where}).",
                            # Realized figures need labels, estimates do not: two rules, so a
                            # window without labels judges (and resolves) only the estimate's.
                            rule=THRESHOLD_RULES[kind],
                        )
                    )
    concept_sev = Severity.parse(config.concept_drift_severity)
    for g in gaps.values():
        if g.drift:
            findings.append(
                Finding(
                    "perf.concept",
                    concept_sev,
                    f"Concept drift: realized {g.metric} {g.realized:.4f} is outside "
                    f"{'DLE' if g.metric in DLE_METRICS else 'CBPE'}'s expectation "
                    f"[{g.lower:.4f}, {g.upper:.4f}] on the same rows — P(y|x) has changed since the reference.",
                    rule="concept_drift",
                )
            )
    for d in detectors.values():
        if d.drift:
            findings.append(
                Finding(
                    "perf.concept",
                    concept_sev,
                    f"Concept drift: {_DETECTOR_LABELS[d.name]} detected a rise of the model's error rate in "
                    f"the labeled error stream ({len(d.drift_positions)} alarm(s) in this window's "
                    f"{d.n_consumed} rows).",
                    rule="concept_drift",
                )
            )
    return [f for f in findings if f.severity > Severity.OK]
