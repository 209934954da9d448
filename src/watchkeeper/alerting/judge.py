"""One judge per window: the verdict comes from the same rules as the alerts.

`judge_window` evaluates the model's rules (configured and built-in) on the window's figures and
turns what holds into the window's findings; the verdict is the worst of them. Three sources, one
shape (`Finding`, always naming its rule):

- an alert rule whose condition holds (`data_drift`, `performance_drop`, a user's rule);
- a check's own finding (`prediction_drift`, `performance_threshold`, `host_health`, or whatever a
  new check reports): when a rule of the same name is configured or built in, that rule judges and
  the finding is dropped; otherwise the finding *is* a built-in rule of that name. It is published
  as the figure `finding.<section>.<rule>.<severity>` (1 while it holds, 0 once its check ran
  without it — or, for a section that says which rules it could judge (`verdict.JudgesRules`: a
  realized threshold needs labels), once it judged it without finding it), so the alert engine
  fires and resolves it like any other rule (`finding_rule`);
- a check that could not run (`check_failed`, warning, labelled with the check): a window whose
  drift check crashed is not a window without drift.

Rules that evaluate to *unknown* (a figure is missing) are listed with the figures they lacked.
Silences and inhibition decide who is notified (`engine.py`), never what the verdict is.
Rules over `verdict.level` would judge themselves and are left to the alert engine.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from watchkeeper.alerting.rules import AnnotationsConfig, RuleConfig
from watchkeeper.alerting.templates import render_template
from watchkeeper.verdict import Finding, Severity

FINDING_SECTION = "finding"
CHECK_FAILED = "check_failed"
# A rule on these sections would judge the judgement itself.
_SELF_REFERENTIAL = frozenset({"verdict", "alerts"})

_METRIC_LABELS = {
    "roc_auc": "ROC AUC",
    "pr_auc": "PR AUC",
    "f1": "F1",
    "mae": "MAE",
    "rmse": "RMSE",
    "mape": "MAPE",
    "r2": "R²",
    "log_loss": "log loss",
    "mean_error": "mean error",
}


def metric_label(figure: str) -> str:
    """A figure's name for people: `perf.realized.roc_auc` → `ROC AUC`, `drift.share` → `share`."""
    parts = figure.split(".")
    for part in reversed(parts):
        if part in _METRIC_LABELS:
            return _METRIC_LABELS[part]
    last = parts[-1]
    if last in ("lower", "upper") and len(parts) > 1:
        last = parts[-2]
    return _METRIC_LABELS.get(last, last.replace("_", " "))


def finding_figure(section: str, rule: str, severity: Severity) -> str:
    return f"{FINDING_SECTION}.{section}.{rule}.{severity.label}"


def judged_marker(section: str) -> str:
    """Published when a section says which of its rules it judged (`verdict.JudgesRules`)."""
    return f"{FINDING_SECTION}.{section}.judged"


def parse_finding_figure(name: str) -> tuple[str, str, str] | None:
    """`finding.drift.prediction_drift.warning` → (section, rule, severity); None for other names.

    Read from the right: rule names hold no dots (`Finding.rule_name`), sections may
    (`finding.drift.multivariate.drift_multivariate.warning`).
    """
    parts = name.split(".")
    if len(parts) < 4 or parts[0] != FINDING_SECTION:
        return None
    section, rule, severity = ".".join(parts[1:-2]), parts[-2], parts[-1]
    if severity not in ("warning", "critical"):
        return None
    return section, rule, severity


def evidence_key(rule: str, severity: str) -> str:
    """The key of `Judgement.rule_evidence`: ``validation_failure/critical``."""
    return f"{rule}/{severity}"


def evidence_for(evidence: Mapping[str, Sequence[str]], rule: str, severity: str) -> tuple[str, ...]:
    """The sentences behind an alert of `rule` at `severity`: the sections' own of that severity, else
    those of the rule's other severity (a warning-level drift finding explains the critical line)."""
    own = evidence.get(evidence_key(rule, severity))
    if own:
        return tuple(own)
    other = "warning" if severity == "critical" else "critical"
    return tuple(evidence.get(evidence_key(rule, other)) or ())


def highest_severity_only(findings: Iterable[Finding]) -> list[Finding]:
    """The findings without the lower severities of a rule whose higher one holds: when a rule's
    critical line fires, its warning line says nothing more (the verdict is the same)."""
    findings = list(findings)
    top: dict[str, Severity] = {}
    for f in findings:
        top[f.rule_name] = max(top.get(f.rule_name, f.severity), f.severity)
    return [f for f in findings if f.severity >= top[f.rule_name]]


def finding_rule(section: str, rule: str, severity: str, summary: str | None = None) -> RuleConfig:
    """The built-in rule a check's finding stands for (see the module docstring)."""
    figure = finding_figure(section, rule, Severity.parse(severity))
    return RuleConfig.model_validate(
        {
            "name": rule,
            "condition": f"`{figure}` == 1",
            "severity": severity,
            "labels": {"check": section},
            "annotations": AnnotationsConfig(
                summary=summary,
                resolved_summary=f"{section} no longer reports {rule.replace('_', ' ')}",
            ),
        }
    )


def is_finding_rule(rule: RuleConfig) -> bool:
    return any(name.startswith(f"{FINDING_SECTION}.") for name in rule.parsed.fields)


def judged_rules(rules: Iterable[RuleConfig]) -> list[RuleConfig]:
    """The rules that take part in the verdict (all but those over the verdict or the alerts)."""
    return [r for r in rules if not (r.parsed.sections & _SELF_REFERENTIAL)]


def rule_variables(
    rule: RuleConfig,
    figures: Mapping[str, float],
    *,
    model: str,
    window_end: datetime | None,
    window_start: datetime | None = None,
    version: str | None = None,
) -> dict[str, Any]:
    """What a rule's summary and description may use (`templates.VARIABLES`)."""
    metric, value, op, threshold = rule.parsed.primary(figures)
    return {
        "value": value,
        "threshold": threshold,
        "metric": metric,
        "metric_name": metric_label(metric),
        "op": op,
        "model": model,
        "version": version,
        "rule": rule.name,
        "severity": rule.severity,
        "window_start": None if window_start is None else window_start.isoformat(),
        "window_end": None if window_end is None else window_end.isoformat(),
    }


def rule_summary(rule: RuleConfig, figures: Mapping[str, float], variables: Mapping[str, Any]) -> str:
    template = rule.annotations.summary or f"{rule.name}: {rule.condition}"
    return render_template(template, variables, figures)


def resolved_summary(rule: RuleConfig, figures: Mapping[str, float], variables: Mapping[str, Any]) -> str:
    """The sentence of a resolved message: what holds now, not the firing sentence again."""
    if rule.annotations.resolved_summary:
        return render_template(rule.annotations.resolved_summary, variables, figures)
    value, op, threshold = variables["value"], variables["op"], variables["threshold"]
    name = variables["metric_name"]
    if value is None or threshold is None:
        return f"{rule.name} no longer holds"
    return f"{name} {value:.4g} is no longer {op} {threshold:.4g}"


@dataclass(frozen=True)
class UnknownRule:
    """A rule that could not be judged in this window, and the figures it lacked."""

    rule: str
    severity: str
    missing: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "severity": self.severity, "missing": list(self.missing)}


@dataclass(frozen=True)
class Judgement:
    """What holds for a window: its findings (every one naming its rule) and what was unknown."""

    findings: tuple[Finding, ...] = ()
    unknown: tuple[UnknownRule, ...] = ()
    # `finding.<section>.<rule>.<severity>` = 1 for each check finding that stands as its own rule.
    finding_figures: Mapping[str, float] = field(default_factory=dict)
    # The sentence of each of those, by figure: the summary of the alert it becomes.
    finding_messages: Mapping[str, str] = field(default_factory=dict)
    # The sections' own sentences about the rules a configured or built-in rule judges, by
    # `<rule>/<severity>` (`evidence_key`): the numbers behind that rule's alert (which expectations
    # failed, on which column, with what share and examples; realized against the estimate's band).
    rule_evidence: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def verdict(self) -> Severity:
        return max((f.severity for f in self.findings), default=Severity.OK)


def judge_window(
    figures: Mapping[str, float],
    *,
    section_findings: Mapping[str, Sequence[Finding]],
    errors: Mapping[str, str],
    rules: Sequence[RuleConfig],
    model: str,
    window_end: datetime | None = None,
    judged: Mapping[str, frozenset[str]] | None = None,
) -> Judgement:
    """Judge one window (see the module docstring). `figures` are the report's dotted figures,
    `section_findings` each section's own findings by section name, `errors` the failed checks,
    `judged` the rules each section that says so judged (`verdict.JudgesRules`)."""
    judging = judged_rules(rules)
    names = {r.name for r in judging}
    findings: list[Finding] = []
    unknown: list[UnknownRule] = []
    for rule in judging:
        outcome = rule.parsed.evaluate(figures)
        if outcome is None:
            missing = tuple(
                f for f in rule.parsed.fields if figures.get(f) is None or figures[f] != figures[f]
            )
            unknown.append(UnknownRule(rule.name, rule.severity, missing))
        elif outcome:
            variables = rule_variables(rule, figures, model=model, window_end=window_end)
            section = next(iter(sorted(rule.parsed.sections)), "rules")
            findings.append(
                Finding(section, rule.severity_level, rule_summary(rule, figures, variables), rule=rule.name)
            )

    own: dict[str, list[str]] = {}
    kept: dict[str, Finding] = {}
    evidence: dict[str, list[str]] = {}
    for section, items in section_findings.items():
        for f in items:
            if f.severity <= Severity.OK:
                continue
            if f.rule_name in names:
                evidence.setdefault(evidence_key(f.rule_name, f.severity.label), []).append(f.message)
                continue
            key = finding_figure(section, f.rule_name, f.severity)
            own.setdefault(key, []).append(f.message)
            kept.setdefault(key, Finding(section, f.severity, "", rule=f.rule_name))
    for check, message in errors.items():
        key = finding_figure(check, CHECK_FAILED, Severity.WARNING)
        own.setdefault(key, []).append(f"{check} check failed: {message}")
        kept.setdefault(key, Finding(check, Severity.WARNING, "", rule=CHECK_FAILED))
    messages = {key: " ".join(texts) for key, texts in own.items()}
    for key, f in kept.items():
        findings.append(Finding(f.check, f.severity, messages[key], rule=f.rule))
    published = {key: 1.0 for key in own}
    for section, judged_names in (judged or {}).items():
        published[judged_marker(section)] = 1.0
        for rule_name in judged_names - names:
            for severity in (Severity.WARNING, Severity.CRITICAL):
                published.setdefault(finding_figure(section, rule_name, severity), 0.0)
    return Judgement(
        findings=tuple(highest_severity_only(findings)),
        unknown=tuple(unknown),
        finding_figures=published,
        finding_messages=messages,
        rule_evidence={key: tuple(texts) for key, texts in evidence.items()},
    )
