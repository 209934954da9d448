"""Per-segment results: drift, realized and estimated performance for each value of a segment column.

`segments: [region, channel]` in a model config (or ``segments: {columns: [...], min_rows: ...}``)
splits the reference and every window by each column's values. Per segment value the check fits a
drift profile and a performance baseline on the reference's rows of that value (its own bands), and
reuses the whole reference's estimator (CBPE's calibration, DLE's loss models): they are
conditional on the features already, and fitting them per segment would multiply the cost by the
number of segments on fewer rows.

A segment is tested only with at least `min_rows` rows on both sides; smaller ones, and values the
reference never had, are reported with their status and not tested. Multiple testing: every
(segment, feature) test with a p-value method of one segment column forms one family, adjusted with
Benjamini–Hochberg (or Bonferroni, or none) before the per-segment drift decisions, so testing
twenty segments does not make twenty times the false alarms. Distance methods have no p-value and
keep their thresholds.

Figures (section ``segments``): ``<column>.<value>.rows``, ``<column>.<value>.tested``,
``<column>.<value>.drift.share|n_drifted|dataset_drift``, ``<column>.<value>.drift.<feature>.score``,
``<column>.<value>.perf.<perf figure>`` (``perf.estimated.roc_auc``, ``perf.band.mae.upper``, …), and
per column ``<column>.n_segments``, ``<column>.n_drifted_segments``. An alert rule names a segment:
``segments.region.north.perf.estimated.roc_auc < segments.region.north.perf.band.roc_auc.lower``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field, model_validator

from watchkeeper.configbase import StrictModel
from watchkeeper.drift import DriftConfig, DriftReport, ReferenceProfile, evaluate_drift, fit_drift
from watchkeeper.drift.engine import adjust_p_values
from watchkeeper.drift.registry import get_method
from watchkeeper.performance import PerformanceBaseline, PerformanceReport, evaluate_performance
from watchkeeper.performance.baseline import fit_performance_baseline
from watchkeeper.performance.config import PerformanceConfig
from watchkeeper.performance.metrics import format_figure as _fmt
from watchkeeper.quoting import cap_label
from watchkeeper.schema import ColumnsConfig, TaskType
from watchkeeper.verdict import Finding, Publication, Severity


class SegmentsConfig(StrictModel):
    """Which columns split the results, and how small a segment may be before it is not tested."""

    columns: tuple[str, ...] = ()
    min_rows: int = Field(200, ge=2)
    # Segments per column, the most frequent in the reference first; rarer values are not tested.
    max_segments: int = Field(20, ge=1)
    correction: Literal["none", "bh", "bonferroni"] = "bh"

    @model_validator(mode="before")
    @classmethod
    def _from_list(cls, value: Any) -> Any:
        # `segments: [region]` is the short form of `segments: {columns: [region]}`.
        return {"columns": value} if isinstance(value, list | tuple) else value


def segment_label(value: Any) -> str:
    """A segment value as text (figure names, tables): integers stay integers, floats lose ``.0``;
    a long value keeps its start and a hash (`quoting.cap_label`: a figure name stays a name)."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return cap_label(str(value))


@dataclass(frozen=True, eq=False)
class SegmentFit:
    label: str
    n_reference: int
    drift: ReferenceProfile | None
    baseline: PerformanceBaseline | None
    status: str


@dataclass(frozen=True, eq=False)
class SegmentsFit:
    config: SegmentsConfig
    drift_config: DriftConfig
    performance_config: PerformanceConfig
    columns_config: ColumnsConfig
    task: TaskType
    segments: dict[str, dict[str, SegmentFit]]  # segment column → label → fit
    missing: tuple[str, ...]  # segment columns absent from the reference


def _labels(series: pd.Series) -> np.ndarray:
    values = series.astype(object).to_numpy()
    return np.array([segment_label(v) if v is not None and v == v else "" for v in values], dtype=object)


def _segment_performance_config(config: PerformanceConfig) -> PerformanceConfig:
    # Sequential detectors carry state across windows for the whole model only; the estimators come
    # from the whole reference (see the module docstring).
    return config.model_copy(
        update={
            "cbpe": config.cbpe.model_copy(update={"enabled": False}),
            "dle": config.dle.model_copy(update={"enabled": False}),
            "ddm": config.ddm.model_copy(update={"enabled": False}),
            "page_hinkley": config.page_hinkley.model_copy(update={"enabled": False}),
        }
    )


def fit_segments(
    reference: pd.DataFrame,
    config: SegmentsConfig,
    *,
    columns: ColumnsConfig,
    task: TaskType,
    drift: DriftConfig,
    performance: PerformanceConfig,
    baseline: PerformanceBaseline | None,
    window_size: timedelta | None,
) -> SegmentsFit:
    """A drift profile and a performance baseline per segment value of the reference."""
    drift = drift.model_copy(update={"correction": "none", "cache": False})
    perf_config = _segment_performance_config(performance)
    out: dict[str, dict[str, SegmentFit]] = {}
    missing = tuple(c for c in config.columns if c not in reference.columns)
    with_target = columns.target is not None and columns.target in reference.columns
    for col in config.columns:
        if col in missing:
            continue
        labels = _labels(reference[col])
        counts = pd.Series(labels[labels != ""]).value_counts()
        fits: dict[str, SegmentFit] = {}
        for rank, (label, n) in enumerate(counts.items()):
            label = str(label)
            if rank >= config.max_segments:
                fits[label] = SegmentFit(
                    label, int(n), None, None, f"not tested: beyond the {config.max_segments} largest"
                )
                continue
            if n < config.min_rows:
                fits[label] = SegmentFit(
                    label, int(n), None, None, f"too small: {n} reference rows < {config.min_rows}"
                )
                continue
            part = reference.loc[labels == label]
            profile = fit_drift(
                part,
                drift,
                numerical=[c for c in columns.numerical_features if c != col],
                categorical=[c for c in columns.categorical_features if c != col],
            )
            seg_baseline = None
            if with_target and performance.enabled and baseline is not None:
                seg_baseline = fit_performance_baseline(
                    part, columns=columns, task=task, config=perf_config, window_size=window_size
                )
                seg_baseline = replace(seg_baseline, cbpe=baseline.cbpe, dle=baseline.dle)
            fits[label] = SegmentFit(label, int(n), profile, seg_baseline, "ok")
        out[col] = fits
    return SegmentsFit(config, drift, perf_config, columns, task, out, missing)


@dataclass(frozen=True)
class SegmentResult:
    column: str
    label: str
    n_rows: int
    n_reference: int
    status: str
    drift: DriftReport | None = None
    performance: PerformanceReport | None = None

    @property
    def tested(self) -> bool:
        return self.status == "ok"

    def figures(self) -> dict[str, float]:
        out = {"rows": float(self.n_rows), "tested": float(self.tested)}
        if self.drift is not None:
            for key, value in self.drift.figures().items():
                out[f"drift.{key}"] = value
        if self.performance is not None:
            for key, value in self.performance.figures().items():
                out[f"perf.{key}"] = value
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "segment": self.label,
            "n_rows": self.n_rows,
            "n_reference": self.n_reference,
            "status": self.status,
            "drift": None if self.drift is None else self.drift.to_dict(),
            "perf": None if self.performance is None else self.performance.to_dict(),
        }


@dataclass(frozen=True)
class SegmentsReport:
    """The ``segments`` section: one `SegmentResult` per (segment column, value) seen on either side."""

    results: tuple[SegmentResult, ...]
    correction: str
    notes: tuple[str, ...] = field(default=())

    def figures(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for r in self.results:
            for key, value in r.figures().items():
                out[f"{r.column}.{r.label}.{key}"] = value
        for col in dict.fromkeys(r.column for r in self.results):
            tested = [r for r in self.results if r.column == col and r.tested]
            out[f"{col}.n_segments"] = float(len(tested))
            out[f"{col}.n_drifted_segments"] = float(
                sum(bool(r.drift is not None and r.drift.dataset_drift) for r in tested)
            )
        return out

    def findings(self) -> list[Finding]:
        out: list[Finding] = []
        for col in dict.fromkeys(r.column for r in self.results):
            drifted = [
                r for r in self.results if r.column == col and r.drift is not None and r.drift.dataset_drift
            ]
            if drifted:
                named = ", ".join(f"{r.label} ({r.drift.share:.0%})" for r in drifted if r.drift is not None)
                out.append(
                    Finding(
                        "segments",
                        Severity.WARNING,
                        f"Data drift in {len(drifted)} segment(s) of {col}: {named} ({self.correction} correction "
                        "across segments).",
                    )
                )
        for r in self.results:
            if r.performance is None:
                continue
            for f in r.performance.findings():
                out.append(Finding("segments", f.severity, f"Segment {r.column}={r.label}: {f.message}"))
        return out

    def table_rows(self) -> list[dict[str, Any]]:
        rows = []
        for r in self.results:
            perf = r.performance
            primary = perf.primary_metric if perf is not None else None
            realized = perf.realized.get(primary) if perf is not None and primary else None
            estimated = perf.estimated.get(primary) if perf is not None and primary else None
            rows.append(
                {
                    "column": r.column,
                    "segment": r.label,
                    "rows": r.n_rows,
                    "reference_rows": r.n_reference,
                    "drift_share": None if r.drift is None else r.drift.share,
                    "dataset_drift": None if r.drift is None else r.drift.dataset_drift,
                    "metric": primary,
                    "realized": None if realized is None else realized.value,
                    "estimated": None if estimated is None else estimated.value,
                    "status": r.status,
                }
            )
        return rows

    def publish(self) -> Publication:
        return Publication(tables={"segments": self.table_rows()}, markdown={"segments": self.to_markdown()})

    def to_dict(self) -> dict[str, Any]:
        return {
            "correction": self.correction,
            "segments": [r.to_dict() for r in self.results],
            "notes": list(self.notes),
        }

    def to_markdown(self) -> str:
        lines = [
            f"**Segments** ({self.correction} correction of drift p-values across segments)",
            "",
            "| column | segment | rows | drift share | metric | realized | estimated | status |",
            "|---|---|---:|---:|---|---:|---:|---|",
        ]
        for row in self.table_rows():
            lines.append(
                f"| {row['column']} | {row['segment']} | {row['rows']} | {_fmt(row['drift_share'])} | "
                f"{row['metric'] or ''} | {_fmt(row['realized'])} | {_fmt(row['estimated'])} | {row['status']} |"
            )
        lines += [f"- note: {n}" for n in self.notes]
        return "\n".join(lines) + "\n"


def evaluate_segments(fitted: SegmentsFit, window: pd.DataFrame, *, labels_complete: bool) -> SegmentsReport:
    """Every segment of the window; a segment that fails is marked, the others still run."""
    notes = [f"segment column {c!r} is missing from the reference" for c in fitted.missing]
    results: list[SegmentResult] = []
    for col, fits in fitted.segments.items():
        if col not in window.columns:
            notes.append(f"segment column {col!r} is missing from the window")
            continue
        labels = _labels(window[col])
        counts = pd.Series(labels[labels != ""]).value_counts()
        column_results: list[SegmentResult] = []
        for label in sorted(set(counts.index) | set(fits)):
            n = int(counts.get(label, 0))
            fit = fits.get(label)
            if fit is None:
                column_results.append(SegmentResult(col, label, n, 0, "not tested: not in the reference"))
                continue
            if fit.status != "ok" or fit.drift is None:
                column_results.append(SegmentResult(col, label, n, fit.n_reference, fit.status))
                continue
            if n < fitted.config.min_rows:
                column_results.append(
                    SegmentResult(
                        col,
                        label,
                        n,
                        fit.n_reference,
                        f"too small: {n} rows in the window < {fitted.config.min_rows}",
                    )
                )
                continue
            part = window.loc[labels == label]
            try:
                drift = evaluate_drift(fit.drift, part)
                perf = None
                if fit.baseline is not None:
                    perf = evaluate_performance(
                        part,
                        fit.baseline,
                        columns=fitted.columns_config,
                        task=fitted.task,
                        config=fitted.performance_config,
                        labels_complete=labels_complete,
                    )
            except Exception as exc:  # one odd segment must not sink the others
                column_results.append(
                    SegmentResult(col, label, n, fit.n_reference, f"failed: {type(exc).__name__}: {exc}")
                )
                continue
            column_results.append(SegmentResult(col, label, n, fit.n_reference, "ok", drift, perf))
        results.extend(
            _correct_across_segments(column_results, fitted.config.correction, fitted.drift_config)
        )
    return SegmentsReport(tuple(results), fitted.config.correction, tuple(notes))


def _correct_across_segments(
    results: list[SegmentResult], correction: str, config: DriftConfig
) -> list[SegmentResult]:
    """One multiple-testing family per segment column: its segments' feature p-values together."""
    family = [
        (i, j)
        for i, r in enumerate(results)
        if r.drift is not None
        for j, c in enumerate(r.drift.columns)
        if c.role == "feature" and c.testable and c.p_value is not None and c.method is not None
    ]
    if correction == "none" or not family:
        return results
    adjusted = adjust_p_values([results[i].drift.columns[j].p_value for i, j in family], correction)  # type: ignore[union-attr,misc]
    out = list(results)
    by_segment: dict[int, dict[int, float]] = {}
    for (i, j), p in zip(family, adjusted.tolist(), strict=True):
        by_segment.setdefault(i, {})[j] = p
    for i, new_p in by_segment.items():
        drift = out[i].drift
        assert drift is not None
        cols = list(drift.columns)
        for j, p in new_p.items():
            c = cols[j]
            cols[j] = replace(c, p_value_adjusted=p, drifted=get_method(c.method).is_drift(p, c.threshold))  # type: ignore[arg-type]
        features = [c for c in cols if c.role == "feature" and c.testable]
        n_drifted = sum(c.drifted for c in features)
        share = n_drifted / len(features) if features else 0.0
        drift = replace(
            drift,
            columns=tuple(cols),
            correction=f"{correction} across segments",
            n_drifted=n_drifted,
            share=share,
            dataset_drift=bool(features) and share >= config.drift_share,
        )
        out[i] = replace(out[i], drift=drift)
    return out
