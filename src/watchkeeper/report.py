"""The `MonitoringReport`: one window's verdict, its reasons and every figure computed.

It is what the monitor flow returns, what is logged to MLflow as JSON, and what downstream flows
(alerting, retraining) branch on. Sections are the checks that ran (`window`, `drift`, `perf`,
`serving`, `validation`, `health`, `alerts`, `footprint`); a check that failed is listed in `errors`
with its message, and everything the other checks computed is kept.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from watchkeeper.alerting.judge import Judgement, judge_window
from watchkeeper.alerting.rules import RuleConfig
from watchkeeper.presentation import versions_label, window_name
from watchkeeper.quoting import MAX_TEXT_CHARS, cap_label, cap_text
from watchkeeper.timeutil import iso_z
from watchkeeper.verdict import (
    NOTHING_TO_PUBLISH,
    Finding,
    JudgesRules,
    Publication,
    SectionReport,
    Severity,
)

SCHEMA_VERSION = 1


def _clean(value: Any) -> Any:
    """JSON-safe: NaN/inf become None, numpy scalars become Python numbers; every string and key is
    capped at `MAX_TEXT_CHARS` (values quoted from the data are capped shorter where they are
    quoted: `watchkeeper.quoting`), so no value grows the report past a bound."""
    if isinstance(value, str):
        return cap_text(value, MAX_TEXT_CHARS)
    if isinstance(value, dict):
        return {cap_label(str(k), MAX_TEXT_CHARS): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    return value


@dataclass(frozen=True)
class MonitoringReport:
    model: str
    window_start: datetime
    window_end: datetime
    evaluated_at: datetime
    model_versions: tuple[str, ...]
    config_hash: str
    sections: dict[str, SectionReport] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    # Set once logged; a report is rebuilt with `dataclasses.replace` rather than mutated.
    mlflow_run_id: str | None = None
    flow_run_id: str | None = None
    # The rules that judge the window (the model's alert rules, built-in ones included).
    rules: tuple[RuleConfig, ...] = ()
    # The time the window's labels were joined as of (those that had arrived by then); None when
    # they were not cut: in hindsight, or labels without an arrival time (the window's notes say so).
    labels_as_of: datetime | None = None
    # Judged with every label on disk, those that arrived after `evaluated_at`'s run time included.
    hindsight: bool = False
    # The model's calendar (`window.timezone`), which the window's name is written in.
    timezone: str = "UTC"

    @property
    def window_name(self) -> str:
        """The window's one name in every view: ``credit-risk 2026-03-10 → 03-11``."""
        return window_name(self.model, self.window_start, self.window_end, self.timezone)

    @cached_property
    def judgement(self) -> Judgement:
        """What holds for the window: rules, the checks' own findings as rules, check errors."""
        return judge_window(
            self._section_figures(),
            section_findings={name: s.findings() for name, s in self.sections.items()},
            errors=self.errors,
            rules=self.rules,
            model=self.model,
            window_end=self.window_end,
            judged={n: s.judged_rules() for n, s in self.sections.items() if isinstance(s, JudgesRules)},
        )

    @property
    def findings(self) -> list[Finding]:
        return list(self.judgement.findings)

    @property
    def verdict(self) -> Severity:
        return self.judgement.verdict

    @property
    def reasons(self) -> list[str]:
        ranked = sorted(self.findings, key=lambda f: -f.severity)
        return [
            f"[{f.severity.label}] {f.rule_name}: {f.message}" for f in ranked if f.severity > Severity.OK
        ]

    def figures(self) -> dict[str, float]:
        """Every figure with its section prefix (``drift.share``), finite values only, the checks'
        findings that stand as rules (``finding.…``) and the verdict's level."""
        out = self._section_figures()
        out.update(self.judgement.finding_figures)
        out["verdict.level"] = float(self.verdict)
        return out

    def _section_figures(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for name, section in self.sections.items():
            for key, value in section.figures().items():
                if value is None:
                    continue
                value = float(value)
                if math.isfinite(value):
                    out[f"{name}.{key}"] = value
        return out

    def section(self, name: str) -> Any:
        return self.sections.get(name)

    def to_dict(self) -> dict[str, Any]:
        return _clean(
            {
                "schema_version": SCHEMA_VERSION,
                "model": self.model,
                "window": {
                    "start": self.window_start,
                    "end": self.window_end,
                    "timezone": self.timezone,
                    "name": self.window_name,
                },
                "evaluated_at": self.evaluated_at,
                "model_versions": list(self.model_versions),
                "config_hash": self.config_hash,
                "labels_as_of": self.labels_as_of,
                "hindsight": self.hindsight,
                "verdict": self.verdict.label,
                "reasons": self.reasons,
                "findings": [f.to_dict() for f in self.findings],
                "unknown_rules": [u.to_dict() for u in self.judgement.unknown],
                "figures": self.figures(),
                "sections": {name: s.to_dict() for name, s in self.sections.items()},
                "errors": dict(self.errors),
                "mlflow_run_id": self.mlflow_run_id,
                "flow_run_id": self.flow_run_id,
            }
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False, allow_nan=False)

    def to_markdown(self) -> str:
        """The summary a person reads first in the Prefect UI."""
        icon = {Severity.OK: "OK", Severity.WARNING: "WARNING", Severity.CRITICAL: "CRITICAL"}[self.verdict]
        lines = [
            f"# {self.window_name}: {icon}",
            "",
            f"Scored by {versions_label(self.model_versions)} · "
            f"{iso_z(self.window_start)} → {iso_z(self.window_end)}",
            "",
        ]
        if self.hindsight:
            lines += [
                "**Hindsight**: judged with every label on disk, including labels that arrived after "
                "the window was first judged (not what a run at the time saw).",
                "",
            ]
        elif self.labels_as_of is not None:
            lines += [f"Labels as of {self.labels_as_of:%Y-%m-%d %H:%M} UTC.", ""]
        if self.reasons:
            lines += ["## Why", "", *[f"- {r}" for r in self.reasons], ""]
        else:
            lines += ["No check raised anything.", ""]
        key_figures = [
            "window.rows",
            "window.label_coverage",
            "drift.share",
            "drift.n_drifted",
            "perf.realized.roc_auc",
            "perf.estimated.roc_auc",
            "perf.realized.accuracy",
            "perf.estimated.accuracy",
            "perf.realized.rmse",
            "serving.latency_p95_ms",
            "serving.error_rate",
            "validation.success_percent",
            "validation.critical_failures",
            "alerts.firing",
        ]
        figures = self.figures()
        rows = [(k, figures[k]) for k in key_figures if k in figures]
        if rows:
            lines += ["## Key figures", "", "| figure | value |", "|---|---|"]
            lines += [f"| `{k}` | {_with_band_flag(k, v, figures)} |" for k, v in rows]
            lines.append("")
        outside = _outside_band(figures)
        if outside:
            lines += ["## Outside the reference band", "", *[f"- {text}" for text in outside], ""]
        if self.judgement.unknown:
            lines += ["## Not judged (a figure is missing)", ""]
            lines += [
                f"- {u.rule}/{u.severity}: lacks {', '.join(f'`{m}`' for m in u.missing)}"
                for u in self.judgement.unknown
            ]
            lines.append("")
        if self.mlflow_run_id:
            lines.append(f"MLflow run: `{self.mlflow_run_id}`")
        return "\n".join(lines)


def _outside_band(figures: dict[str, float]) -> list[str]:
    """Every realized or estimated metric outside its reference band, e.g.
    "estimated recall 0.847 ▲ above band 0.35–0.53"."""
    from watchkeeper.performance.metrics import band_flag, format_figure

    out = []
    for key, value in figures.items():
        parts = key.split(".")
        if len(parts) == 3 and parts[0] == "perf" and parts[1] in ("realized", "estimated"):
            band = f"perf.band.{parts[2]}"
            flag = band_flag(value, figures.get(f"{band}.lower"), figures.get(f"{band}.upper"))
            if flag:
                out.append(f"{parts[1]} {parts[2]} {format_figure(value)} {flag}")
    return out


def _with_band_flag(key: str, value: float, figures: dict[str, float]) -> str:
    """A key figure; a realized or estimated metric outside its reference band says so beside it."""
    from watchkeeper.performance.metrics import flagged_figure

    parts = key.split(".")
    if len(parts) == 3 and parts[0] == "perf" and parts[1] in ("realized", "estimated"):
        band = f"perf.band.{parts[2]}"
        return flagged_figure(value, figures.get(f"{band}.lower"), figures.get(f"{band}.upper"))
    return f"{value:.4g}"


@dataclass(frozen=True)
class SnapshotSection:
    """Figures measured elsewhere and carried into a window's report (e.g. the latest host health
    sample from the system-health flow), so alert rules on the window can use them."""

    source: str
    taken_at: datetime
    values: dict[str, float]

    def figures(self) -> dict[str, float]:
        return dict(self.values)

    def findings(self) -> list[Finding]:
        return []

    def publish(self) -> Publication:
        return NOTHING_TO_PUBLISH

    def to_dict(self) -> dict[str, Any]:
        return _clean({"source": self.source, "taken_at": self.taken_at, "figures": self.values})
