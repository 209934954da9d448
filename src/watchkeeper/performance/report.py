"""The ``perf`` section's report: `PerformanceReport` and its per-version part, `VersionPerformance`.

Immutable results that publish themselves: `figures()` (what MLflow and the alert rules see),
`findings()`, `to_dict()` (JSON), `table_rows()` (a Prefect table artifact) and `to_markdown()`
(the Prefect UI). The report also carries the new detector state, for the flow to persist.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from watchkeeper.performance.baseline import Band
from watchkeeper.performance.cbpe import Estimate
from watchkeeper.performance.concept import DetectorResult
from watchkeeper.performance.config import CLASSIFICATION_METRICS, REGRESSION_METRICS
from watchkeeper.performance.gap import GapResult
from watchkeeper.performance.metrics import (
    ConfusionMatrix,
    MetricValue,
    band_flag,
    flagged_figure,
    format_figure,
)
from watchkeeper.performance.streams import PendingDetectors
from watchkeeper.schema import TaskType
from watchkeeper.verdict import Finding, Publication


@dataclass(frozen=True)
class VersionPerformance:
    """One model version's rows in the window (canary, shadow or a promotion mid-window)."""

    n_rows: int
    n_labeled: int
    realized: dict[str, MetricValue]
    estimated: dict[str, Estimate] = field(default_factory=dict)

    @property
    def label_coverage(self) -> float:
        return self.n_labeled / self.n_rows if self.n_rows else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_rows": self.n_rows,
            "n_labeled": self.n_labeled,
            "label_coverage": self.label_coverage,
            "realized": {m: v.to_dict() for m, v in self.realized.items()},
            "estimated": {m: e.to_dict() for m, e in self.estimated.items()},
        }


@dataclass(frozen=True)
class PerformanceReport:
    """The ``perf`` section of a window's monitoring report."""

    task: TaskType
    primary_metric: str
    n_rows: int
    n_labeled: int
    realized: dict[str, MetricValue]
    confusion_matrix: ConfusionMatrix | None
    estimated: dict[str, Estimate]
    bands: dict[str, Band]
    gaps: dict[str, GapResult]
    detectors: dict[str, DetectorResult]
    detectors_fed: bool
    detector_status: str
    detector_state: dict[str, Any]
    by_version: dict[str, VersionPerformance]
    notes: tuple[str, ...]
    unmatched_labels: int = 0
    _findings: tuple[Finding, ...] = field(default=(), repr=False)
    # The window's error stream until the detectors consume it (`feed_pending_detectors`); None after.
    pending: PendingDetectors | None = field(default=None, repr=False, compare=False)

    @property
    def label_coverage(self) -> float:
        return self.n_labeled / self.n_rows if self.n_rows else 0.0

    @property
    def concept_drift(self) -> bool:
        return any(g.drift for g in self.gaps.values()) or any(d.drift for d in self.detectors.values())

    def figures(self) -> dict[str, float]:
        out: dict[str, float] = {"label_coverage": self.label_coverage, "n_labeled": float(self.n_labeled)}
        for m, v in self.realized.items():
            if v.value is not None:
                out[f"realized.{m}"] = v.value
        for m, e in self.estimated.items():
            if e.value is not None and e.lower is not None and e.upper is not None:
                out[f"estimated.{m}"] = e.value
                out[f"estimated.{m}.lower"] = e.lower
                out[f"estimated.{m}.upper"] = e.upper
        for m, b in self.bands.items():
            if b.lower is not None:
                out[f"band.{m}.lower"] = b.lower
            if b.upper is not None:
                out[f"band.{m}.upper"] = b.upper
        # Concept-drift figures exist only where there was evidence to judge (labels compared with the
        # estimate, or rows fed to the detectors): a window without labels says nothing about concept
        # drift, and an alert rule must see "unknown" there, not "no drift".
        has_gap = any(g.gap is not None for g in self.gaps.values())
        if self.detectors_fed or has_gap:
            out["concept_drift"] = float(self.concept_drift)
        if self.detectors_fed:
            for name, d in self.detectors.items():
                out[f"concept.{name}.drift"] = float(d.drift)
                if name == "ddm":
                    out["concept.ddm.warning"] = float(d.warning)
        for m, g in self.gaps.items():
            if g.gap is not None:
                out[f"concept.gap.{m}"] = g.gap
        for version, vp in self.by_version.items():
            out[f"version.{version}.label_coverage"] = vp.label_coverage
            out[f"version.{version}.n_labeled"] = float(vp.n_labeled)
            for m, v in vp.realized.items():
                if v.value is not None:
                    out[f"version.{version}.realized.{m}"] = v.value
            for m, e in vp.estimated.items():
                if e.value is not None:
                    out[f"version.{version}.estimated.{m}"] = e.value
        return out

    def findings(self) -> list[Finding]:
        return list(self._findings)

    def judged_rules(self) -> frozenset[str]:
        """The rules of its own findings this window could judge: realized thresholds only with
        labels (a window without labels neither raises nor clears them)."""
        judged = {"estimated_performance_threshold"} if self.estimated else set()
        if self.n_labeled:
            judged.add("performance_threshold")
        return frozenset(judged)

    def publish(self) -> Publication:
        return Publication(tables={"performance": self.table_rows()})

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task.value,
            "primary_metric": self.primary_metric,
            "n_rows": self.n_rows,
            "n_labeled": self.n_labeled,
            "label_coverage": self.label_coverage,
            "unmatched_labels": self.unmatched_labels,
            "realized": {m: v.to_dict() for m, v in self.realized.items()},
            "confusion_matrix": None if self.confusion_matrix is None else self.confusion_matrix.to_dict(),
            "estimated": {m: e.to_dict() for m, e in self.estimated.items()},
            "bands": {m: b.to_dict() for m, b in self.bands.items()},
            "gaps": {m: g.to_dict() for m, g in self.gaps.items()},
            "detectors": {n: d.to_dict() for n, d in self.detectors.items()},
            "detectors_fed": self.detectors_fed,
            "detector_status": self.detector_status,
            "concept_drift": self.concept_drift,
            "by_version": {v: p.to_dict() for v, p in self.by_version.items()},
            "notes": list(self.notes),
            "findings": [f.to_dict() for f in self._findings],
        }

    def table_rows(self) -> list[dict[str, Any]]:
        """One row per metric, for a Prefect table artifact (`create_table_artifact(table=...)`).

        `vs_band` flags a realized or estimated figure outside the metric's reference band
        ("estimated 0.847 ▲ above band 0.35–0.53"); empty when both are inside or unknown.
        """
        rows = []
        names = [
            m
            for m in (*CLASSIFICATION_METRICS, *REGRESSION_METRICS)
            if m in self.realized or m in self.estimated
        ]
        for m in names:
            r = self.realized.get(m)
            e = self.estimated.get(m)
            b = self.bands.get(m)
            g = self.gaps.get(m)
            lower, upper = (None, None) if b is None else (b.lower, b.upper)
            flags = [
                f"{what} {format_figure(v)} {flag}"
                for what, v in (
                    ("realized", None if r is None else r.value),
                    ("estimated", None if e is None else e.value),
                )
                if (flag := band_flag(v, lower, upper))
            ]
            rows.append(
                {
                    "metric": m,
                    "realized": None if r is None else r.value,
                    "estimated": None if e is None else e.value,
                    "estimated_lower": None if e is None else e.lower,
                    "estimated_upper": None if e is None else e.upper,
                    "band_lower": None if b is None else b.lower,
                    "band_upper": None if b is None else b.upper,
                    "vs_band": "; ".join(flags),
                    "gap": None if g is None else g.gap,
                    "status": "; ".join(
                        s
                        for s in (
                            None if r is None else r.status,
                            None if e is None else f"estimate {e.status}",
                        )
                        if s
                    ),
                }
            )
        return rows

    def to_markdown(self) -> str:
        """A table for the Prefect UI: realized, estimated (with band), reference band, status."""
        lines = [
            f"**Performance** ({self.task.value}): {self.n_labeled} of {self.n_rows} rows labeled "
            f"({self.label_coverage:.1%}); primary metric `{self.primary_metric}`; "
            f"concept drift: **{'yes' if self.concept_drift else 'no'}**",
            "",
            "| metric | realized | estimated [band] | reference band | status |",
            "|---|---|---|---|---|",
        ]
        for row in self.table_rows():
            lower, upper = row["band_lower"], row["band_upper"]
            est = (
                "–"
                if row["estimated"] is None
                else (
                    f"{flagged_figure(row['estimated'], lower, upper)} "
                    f"[{row['estimated_lower']:.4g}, {row['estimated_upper']:.4g}]"
                )
            )
            band = (
                "–"
                if row["band_lower"] is None and row["band_upper"] is None
                else (f"[{format_figure(row['band_lower'])}, {format_figure(row['band_upper'])}]")
            )
            lines.append(
                f"| {row['metric']} | {flagged_figure(row['realized'], lower, upper)} | {est} | {band} | "
                f"{row['status']} |"
            )
        lines += ["", f"Sequential detectors: {self.detector_status}"]
        for d in self.detectors.values():
            lines.append(
                f"- {d.name}: {'DRIFT' if d.drift else 'warning' if d.warning else 'no drift'} ({d.status})"
            )
        for g in self.gaps.values():
            lines.append(f"- gap {g.metric}: {g.status}")
        lines += [f"- note: {n}" for n in self.notes]
        for f in self._findings:
            lines.append(f"- **{f.severity.label}**: {f.message}")
        return "\n".join(lines)
