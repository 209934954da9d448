"""Alert rules as configured: a rule's condition, severity, labels and annotations.

Kept apart from `watchkeeper.alerting.config` so the built-in rules (`watchkeeper.alerting.defaults`)
and the `alerts:` section (which adds them to the configured ones) both build on it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from pydantic import ConfigDict, Field, ValidationInfo, field_validator

from watchkeeper.alerting.expr import Condition, ConditionError, parse_condition
from watchkeeper.alerting.templates import check_template
from watchkeeper.configbase import StrictModel, parse_duration
from watchkeeper.verdict import Severity

SeverityName = Literal["warning", "critical"]
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
LABEL_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
# Labels the engine sets itself; a rule may not override them.
RESERVED_LABELS = frozenset({"alertname", "severity", "model"})


class AnnotationsConfig(StrictModel):
    """Text for the on-call reader. `summary` and `description` may use placeholders."""

    summary: str | None = None
    description: str | None = None
    runbook_url: str | None = None
    # The sentence of the resolved message (default: the figure against its threshold, as it is now).
    resolved_summary: str | None = None

    @field_validator("summary", "description", "resolved_summary")
    @classmethod
    def _placeholders(cls, value: str | None) -> str | None:
        if value is not None:
            check_template(value)
        return value


class RuleConfig(StrictModel):
    """One alert rule. `for` is written `for:` in YAML (`for_` in Python)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str = Field(pattern=NAME_PATTERN)
    condition: str
    severity: SeverityName = "warning"
    for_: int = Field(default=1, ge=1, alias="for")
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: AnnotationsConfig = AnnotationsConfig()
    # None: the `alerts.repeat_interval` default.
    repeat_interval: timedelta | None = None
    send_resolved: bool = True
    # None: the `alerts:` defaults (`resolve_after`, `escalate_by`).
    resolve_after: int | None = Field(default=None, ge=1)
    escalate_by: float | None = Field(default=None, gt=1)

    @field_validator("condition")
    @classmethod
    def _parse(cls, value: str, info: ValidationInfo) -> str:
        name = info.data.get("name", "?")
        try:
            parse_condition(value)
        except ConditionError as exc:
            raise ValueError(f"rule {name!r}: condition {value!r}: {exc}") from None
        return value

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        import re

        name = info.data.get("name", "?")
        for key in value:
            if key in RESERVED_LABELS:
                raise ValueError(f"rule {name!r}: label {key!r} is set by the engine")
            if not re.match(LABEL_NAME_PATTERN, key):
                raise ValueError(f"rule {name!r}: invalid label name {key!r}")
        return value

    @field_validator("repeat_interval", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return None if value is None else parse_duration(value)

    @property
    def parsed(self) -> Condition:
        return parse_condition(self.condition)

    @property
    def severity_level(self) -> Severity:
        return Severity.parse(self.severity)
