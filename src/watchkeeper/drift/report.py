"""`DriftReport`: the drift section of a monitoring window's report.

One `ColumnDrift` row per tested column, with its role (feature, prediction or target): feature
columns decide dataset drift; prediction and target drift are reported apart. Every row says what
happened to it in `status` ("ok", or "not testable: <reason>"), so bad input never hides.

`figures()` follows the project's names (`share`, `n_drifted`, `n_columns`, `dataset_drift`,
`<column>.score|drifted|effect_size`, `prediction.<column>.score|drifted`, `target.score|drifted`);
`findings()` raises a warning for dataset drift, prediction drift and target drift (a single
drifted feature is information, visible in the table, not an alert).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, Literal

import pandas as pd

from watchkeeper.verdict import Finding, Publication, Severity

Role = Literal["feature", "prediction", "target"]
_ROLE_ORDER = {"feature": 0, "prediction": 1, "target": 2}


def _clean(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


@dataclass(frozen=True)
class ColumnDrift:
    """The drift result of one column."""

    column: str
    role: Role
    kind: str | None  # "numerical" | "categorical"; None when the column could not be typed
    method: str | None
    score: float | None
    threshold: float | None
    drifted: bool
    p_value: float | None  # the raw p-value, for p-value methods
    p_value_adjusted: float | None  # after the configured correction (equal to raw when none)
    effect_size: float | None  # normed Wasserstein (numerical) or Jensen–Shannon (categorical)
    effect_size_method: str | None
    n_reference: int  # values tested (NaN and ±inf dropped)
    n_current: int
    missing_share: float | None  # NaN/±inf share of the current window
    status: str  # "ok" or "not testable: <reason>"

    @property
    def testable(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = _clean(value) if isinstance(value, float) else value
        return out


@dataclass(frozen=True)
class DriftReport:
    """Per-column drift and the dataset-level decision (frozen; implements `SectionReport`)."""

    columns: tuple[ColumnDrift, ...]
    drift_share: float  # the configured share of drifted features that makes dataset drift
    correction: str
    n_columns: int  # feature columns tested
    n_drifted: int
    share: float
    dataset_drift: bool
    cache_hits: int = 0  # reference columns whose profile came from the cache

    @property
    def features(self) -> tuple[ColumnDrift, ...]:
        return tuple(c for c in self.columns if c.role == "feature")

    @property
    def prediction(self) -> tuple[ColumnDrift, ...]:
        return tuple(c for c in self.columns if c.role == "prediction")

    @property
    def target(self) -> ColumnDrift | None:
        return next((c for c in self.columns if c.role == "target"), None)

    def column(self, name: str) -> ColumnDrift:
        for c in self.columns:
            if c.column == name:
                return c
        raise KeyError(name)

    def figures(self) -> dict[str, float]:
        out: dict[str, float] = {
            "share": float(self.share),
            "n_drifted": float(self.n_drifted),
            "n_columns": float(self.n_columns),
            "dataset_drift": float(self.dataset_drift),
        }
        for c in self.columns:
            if not c.testable:
                continue
            if c.role == "feature":
                prefix = c.column
            elif c.role == "prediction":
                prefix = f"prediction.{c.column}"
            else:
                prefix = "target"
            score = _clean(c.score)
            if score is not None:
                out[f"{prefix}.score"] = score
            out[f"{prefix}.drifted"] = float(c.drifted)
            effect = _clean(c.effect_size)
            if c.role == "feature" and effect is not None:
                out[f"{prefix}.effect_size"] = effect
        return out

    def findings(self) -> list[Finding]:
        found: list[Finding] = []
        if self.dataset_drift:
            drifted = [c for c in self.features if c.drifted]
            drifted.sort(key=lambda c: -(c.effect_size or 0.0))
            named = ", ".join(f"{c.column} ({c.method} {_fmt(c.score)})" for c in drifted[:5])
            more = f" and {len(drifted) - 5} more" if len(drifted) > 5 else ""
            found.append(
                Finding(
                    check="drift",
                    severity=Severity.WARNING,
                    message=(
                        f"Data drift: {self.n_drifted} of {self.n_columns} feature columns drifted "
                        f"({self.share:.0%} >= {self.drift_share:.0%}): {named}{more}."
                    ),
                    rule="data_drift",
                )
            )
        for c in self.prediction:
            if c.drifted:
                found.append(
                    Finding(
                        check="drift",
                        severity=Severity.WARNING,
                        message=(
                            f"Prediction drift in {c.column}: {c.method} {_fmt(c.score)} "
                            f"(threshold {_fmt(c.threshold)})."
                        ),
                        rule="prediction_drift",
                    )
                )
        target = self.target
        if target is not None and target.drifted:
            found.append(
                Finding(
                    check="drift",
                    severity=Severity.WARNING,
                    message=(
                        f"Target drift in {target.column}: {target.method} {_fmt(target.score)} "
                        f"(threshold {_fmt(target.threshold)})."
                    ),
                    rule="target_drift",
                )
            )
        return found

    def publish(self) -> Publication:
        return Publication(
            artifacts={"drift/columns.csv": self.to_frame().to_csv(index=False)},
            tables={"drift": self.table_rows()},
        )

    def table_rows(self) -> list[dict[str, Any]]:
        """One row per column, drifted first, for a Prefect table artifact (the UI scrolls a table
        sideways, where a wide markdown table is cut off)."""
        return [
            {
                "column": c.column,
                "drifted": "yes" if c.drifted else "no",
                "method": c.method or "",
                "score": _clean(c.score),
                "threshold": _clean(c.threshold),
                "p_adjusted": _clean(c.p_value_adjusted),
                "effect_size": _clean(c.effect_size),
                "missing": _clean(c.missing_share),
                "role": c.role,
                "kind": c.kind or "",
                "n_reference": c.n_reference,
                "n_current": c.n_current,
                "status": c.status,
            }
            for c in self.ordered()
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_columns": self.n_columns,
            "n_drifted": self.n_drifted,
            "share": float(self.share),
            "dataset_drift": self.dataset_drift,
            "drift_share": float(self.drift_share),
            "correction": self.correction,
            "columns": [c.to_dict() for c in self.columns],
        }

    def to_frame(self) -> pd.DataFrame:
        """One row per column; dataset-level figures repeated on every row and in `attrs`."""
        names = [f.name for f in fields(ColumnDrift)]
        frame = pd.DataFrame([c.to_dict() for c in self.columns], columns=names)
        for col in ("score", "threshold", "p_value", "p_value_adjusted", "effect_size", "missing_share"):
            frame[col] = frame[col].astype("float64")
        frame["n_drifted"] = self.n_drifted
        frame["share"] = float(self.share)
        frame["dataset_drift"] = self.dataset_drift
        frame.attrs.update(
            n_columns=self.n_columns,
            n_drifted=self.n_drifted,
            share=float(self.share),
            dataset_drift=self.dataset_drift,
        )
        return frame

    def ordered(self) -> list[ColumnDrift]:
        """Drifted columns first, then by role (features, prediction, target), then by name."""
        return sorted(
            self.columns,
            key=lambda c: (not c.drifted, _ROLE_ORDER[c.role], not c.testable, c.column),
        )

    def to_markdown(self) -> str:
        """A per-column table (drifted columns first) for a Prefect markdown artifact."""
        verdict = "**Dataset drift**" if self.dataset_drift else "No dataset drift"
        lines = [
            f"{verdict}: {self.n_drifted} of {self.n_columns} feature columns drifted "
            f"(share {self.share:.2f}, threshold {self.drift_share:.2f}"
            + (f", {self.correction} correction" if self.correction != "none" else "")
            + ").",
            "",
            "| column | role | kind | method | score | threshold | drifted | p adj. | effect size "
            "| n ref | n cur | missing | status |",
            "|---|---|---|---|---:|---:|---|---:|---:|---:|---:|---:|---|",
        ]
        for c in self.ordered():
            lines.append(
                "| "
                + " | ".join(
                    [
                        _md(c.column),
                        c.role,
                        c.kind or "",
                        c.method or "",
                        _fmt(c.score),
                        _fmt(c.threshold),
                        "**yes**" if c.drifted else "no",
                        _fmt(c.p_value_adjusted),
                        _fmt(c.effect_size),
                        str(c.n_reference),
                        str(c.n_current),
                        "" if c.missing_share is None else f"{c.missing_share:.1%}",
                        _md(c.status),
                    ]
                )
                + " |"
            )
        return "\n".join(lines) + "\n"


def _fmt(value: float | None) -> str:
    value = _clean(value)
    if value is None:
        return ""
    if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
        return f"{value:.3g}"
    return f"{value:.4f}"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
