"""Severities, findings and the verdict of a monitoring window.

A window's verdict is the worst severity among the *rules that hold* for it, plus check errors
(`watchkeeper.alerting.judge`): every reason is a `Finding` naming its rule, so the verdict, the
alerts and every place that shows them agree. Checks may report findings of their own; each names
the rule it stands for (`rule`), and becomes a built-in rule of that name unless a configured or
built-in alert rule of the same name judges it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


class Severity(enum.IntEnum):
    """Ordered severities: comparisons (`max`, `>=`) follow the order below."""

    OK = 0
    WARNING = 1
    CRITICAL = 2

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, value: str | Severity) -> Severity:
        if isinstance(value, Severity):
            return value
        try:
            return cls[value.upper()]
        except KeyError:
            valid = ", ".join(s.label for s in cls)
            raise ValueError(f"unknown severity {value!r}; expected one of: {valid}") from None


@dataclass(frozen=True)
class Finding:
    """One reason for a verdict: which check, how bad, a sentence for a human, and the rule it is.

    `rule` is the alert rule the finding stands for (None: the check's name, see `rule_name`).
    """

    check: str
    severity: Severity
    message: str
    rule: str | None = None

    @property
    def rule_name(self) -> str:
        # Rule names hold no dots (a dotted section, `drift.multivariate`, names `drift_multivariate`):
        # the finding's figure `finding.<section>.<rule>.<severity>` is read back from its right end.
        return (self.rule or self.check).replace(".", "_")

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "rule": self.rule_name,
            "severity": self.severity.label,
            "message": self.message,
        }


@dataclass(frozen=True)
class Publication:
    """What a section shows besides its figures: files for the window's MLflow run (`artifacts`, by
    artifact path), and tables and markdown for the Prefect UI (by name)."""

    artifacts: Mapping[str, str] = field(default_factory=dict)
    tables: Mapping[str, list[dict[str, Any]]] = field(default_factory=dict)
    markdown: Mapping[str, str] = field(default_factory=dict)

    def merge(self, other: Publication) -> Publication:
        return Publication(
            artifacts={**self.artifacts, **other.artifacts},
            tables={**self.tables, **other.tables},
            markdown={**self.markdown, **other.markdown},
        )


NOTHING_TO_PUBLISH = Publication()


@runtime_checkable
class Publishes(Protocol):
    """Anything a check returns: it says what it publishes, so no caller branches per check."""

    def publish(self) -> Publication: ...


@runtime_checkable
class SectionReport(Protocol):
    """What every section of a `MonitoringReport` provides.

    `figures()` returns flat numeric figures with dotted names relative to the section
    (e.g. ``share`` or ``age.score`` for drift). The monitoring report prefixes them with the section
    name (``drift.share``); alert rules refer to them by that name and `tracking.py` turns them into
    MLflow keys (``drift/share``). `publish()` says what else the section shows (`Publication`).
    """

    def figures(self) -> dict[str, float]: ...

    def findings(self) -> list[Finding]: ...

    def to_dict(self) -> dict[str, Any]: ...

    def publish(self) -> Publication: ...


@runtime_checkable
class JudgesRules(Protocol):
    """Optional for a section: the names of its own findings' rules it could judge in this window.

    A rule it judged without finding anything is cleared (its alert resolves); one it could not
    judge (a realized figure without labels) stays as it was. Without this, a section that ran
    judged all of its rules.
    """

    def judged_rules(self) -> frozenset[str]: ...


def worst(findings: list[Finding]) -> Severity:
    """The verdict for a list of findings: the most severe one, OK when there are none."""
    return max((f.severity for f in findings), default=Severity.OK)
