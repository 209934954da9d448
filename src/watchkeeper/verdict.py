"""Severities, findings and the verdict of a monitoring window.

Every check (drift, performance, validation, health, alerting) reports what it saw as a list of
`Finding`s. A window's verdict is the worst severity among them, and its reasons are the findings
themselves, so the on-call reader sees why, not only what.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
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
    """One reason for a verdict: which check, how bad, and a sentence for a human."""

    check: str
    severity: Severity
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.check, "severity": self.severity.label, "message": self.message}


@runtime_checkable
class SectionReport(Protocol):
    """What every section of a `MonitoringReport` provides.

    `figures()` returns flat numeric figures with dotted names relative to the section
    (e.g. ``share`` or ``age.score`` for drift). The monitoring report prefixes them with the section
    name (``drift.share``); alert rules refer to them by that name and `tracking.py` turns them into
    MLflow keys (``drift/share``).
    """

    def figures(self) -> dict[str, float]: ...

    def findings(self) -> list[Finding]: ...

    def to_dict(self) -> dict[str, Any]: ...


def worst(findings: list[Finding]) -> Severity:
    """The verdict for a list of findings: the most severe one, OK when there are none."""
    return max((f.severity for f in findings), default=Severity.OK)
