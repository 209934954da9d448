"""The validation section of a window's report: per-expectation results and `ValidationReport`.

Results are plain frozen data with JSON-safe output (figures, findings, a Prefect table and GX's own
result document for MLflow); how they are computed lives in `watchkeeper.validation.gx`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from watchkeeper.quoting import MAX_EXAMPLES, cap_text
from watchkeeper.verdict import Finding, Publication, Severity

CHECK = "validation"


def make_json_safe(value: Any) -> Any:
    """`value` with only JSON types: numpy scalars unwrapped, NaN/inf/NaT/NA as None, others as text.

    Strings are capped (`quoting.cap_text`) and lists keep `quoting.MAX_EXAMPLES` items and a count:
    GX quotes the data (unexpected values, observed distinct values), and one 10 MB value grew GX's
    result to 60 MB."""
    if isinstance(value, dict):
        return {cap_text(str(k)): make_json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        items = list(value)
        safe = [make_json_safe(v) for v in items[:MAX_EXAMPLES]]
        if len(items) > MAX_EXAMPLES:
            safe.append(f"… ({len(items) - MAX_EXAMPLES} more)")
        return safe
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return cap_text(value)
    if value is None or isinstance(value, int | bool):
        return value
    if value is pd.NaT or value is pd.NA:
        return None
    return cap_text(str(value))


@dataclass(frozen=True)
class ExpectationResult:
    """The outcome of one expectation on one window.

    `success` is None when the expectation was not evaluated (a window with no rows).
    `unexpected_percent` is over all rows of the window, nulls included, unlike GX's own
    `unexpected_percent` (over non-null values); for an expectation with a row condition (model
    outputs: successful requests only), over the rows the condition selects.
    """

    index: int
    type: str
    severity: Severity
    success: bool | None
    column: str | None = None
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    unexpected_sample: tuple[Any, ...] = ()
    observed: Any = None
    message: str = ""
    # Set when GX raised instead of evaluating (a bug in the suite or in GX, not bad data).
    error: str | None = None

    @property
    def failed(self) -> bool:
        return self.success is False

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "type": self.type,
            "column": self.column,
            "severity": self.severity.label,
            "success": self.success,
            "unexpected_count": self.unexpected_count,
            "unexpected_percent": make_json_safe(self.unexpected_percent),
            "unexpected_sample": make_json_safe(list(self.unexpected_sample)),
            "observed": make_json_safe(self.observed),
            "message": self.message,
            "error": self.error,
        }


@dataclass(frozen=True)
class ValidationReport:
    """The validation section of a window's monitoring report."""

    suite_name: str
    rows: int
    results: tuple[ExpectationResult, ...]
    missing_columns: tuple[str, ...] = ()
    gx_json: str = field(default="{}", repr=False)

    @property
    def evaluated(self) -> int:
        return sum(r.success is not None for r in self.results)

    @property
    def failures(self) -> tuple[ExpectationResult, ...]:
        return tuple(r for r in self.results if r.failed)

    @property
    def critical_failures(self) -> int:
        return sum(r.severity is Severity.CRITICAL for r in self.failures)

    @property
    def warning_failures(self) -> int:
        return sum(r.severity is Severity.WARNING for r in self.failures)

    @property
    def success_percent(self) -> float | None:
        if self.evaluated == 0:
            return None
        return 100.0 * (self.evaluated - len(self.failures)) / self.evaluated

    @property
    def usable_for_training(self) -> bool:
        """False when any critical expectation failed, or when there was nothing to validate."""
        return self.rows > 0 and self.critical_failures == 0

    def figures(self) -> dict[str, float]:
        out: dict[str, float] = {
            "evaluated": float(self.evaluated),
            "failed": float(len(self.failures)),
            "critical_failures": float(self.critical_failures),
            "warning_failures": float(self.warning_failures),
        }
        percent = self.success_percent
        if percent is not None:  # no rows: nothing was evaluated, and 0 % or 100 % would both lie
            out["success_percent"] = percent
        return out

    def findings(self) -> list[Finding]:
        if self.rows == 0:
            return [
                Finding(
                    CHECK,
                    Severity.WARNING,
                    f"The window has no rows: none of the {len(self.results)} expectations of suite "
                    f"{self.suite_name!r} could be evaluated.",
                    rule="no_data",
                )
            ]
        out = []
        for severity in (Severity.CRITICAL, Severity.WARNING):
            failed = [r for r in self.failures if r.severity is severity]
            if not failed:
                continue
            shown = "; ".join(r.message for r in failed[:5])
            more = f"; and {len(failed) - 5} more" if len(failed) > 5 else ""
            what = "not usable for retraining" if severity is Severity.CRITICAL else "review the data"
            out.append(
                Finding(
                    CHECK,
                    severity,
                    f"{len(failed)} {severity.label} expectation(s) of suite {self.suite_name!r} failed "
                    f"on {self.rows} rows ({what}): {shown}{more}.",
                    rule="validation_failure",
                )
            )
        return out

    def gx_result_json(self) -> str:
        """GX's own validation result as JSON (an MLflow artifact)."""
        return self.gx_json

    def ordered_results(self) -> list[ExpectationResult]:
        """Failures first (critical before warning), then the suite's order."""
        order = {Severity.CRITICAL: 0, Severity.WARNING: 1}
        return sorted(self.results, key=lambda r: (not r.failed, order.get(r.severity, 2), r.index))

    def to_table(self) -> list[dict[str, Any]]:
        """One row per expectation, failures first (a Prefect table artifact)."""
        rows = self.ordered_results()
        return [
            {
                "status": "not evaluated" if r.success is None else ("ok" if r.success else "FAILED"),
                "severity": r.severity.label,
                "expectation": r.type,
                "column": r.column or "",
                "unexpected_count": r.unexpected_count,
                "unexpected_percent": None
                if r.unexpected_percent is None
                else round(r.unexpected_percent, 4),
                "sample": ", ".join(repr(v) for v in make_json_safe(list(r.unexpected_sample))),
                "details": r.message,
            }
            for r in rows
        ]

    def publish(self) -> Publication:
        from watchkeeper.validation.html import render_validation_html  # only when published

        return Publication(
            artifacts={
                "validation/gx_result.json": self.gx_result_json(),
                "validation/gx_result.html": render_validation_html(self),
            },
            tables={"validation": self.to_table()},
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "suite": self.suite_name,
            "rows": self.rows,
            "usable_for_training": self.usable_for_training,
            "figures": self.figures(),
            "missing_columns": list(self.missing_columns),
            "results": [r.to_dict() for r in self.results],
            "findings": [f.to_dict() for f in self.findings()],
        }
