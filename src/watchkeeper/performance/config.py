"""Configuration of performance monitoring (the `performance:` section of a model config).

Covers the realized/estimated quality figures (which metric is primary, fixed thresholds, the band
width around the reference), label-free estimation (CBPE), the concept-drift gap rule and the two
sequential detectors (DDM, Page-Hinkley). Metric names are checked at load time against the metrics
this package computes, so a typo in YAML fails with the list of valid names.
"""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from watchkeeper.configbase import StrictModel

CLASSIFICATION_METRICS: tuple[str, ...] = (
    "accuracy",
    "precision",
    "recall",
    "f1",
    "precision_weighted",
    "recall_weighted",
    "f1_weighted",
    "roc_auc",
    "pr_auc",
    "log_loss",
)
REGRESSION_METRICS: tuple[str, ...] = ("mae", "rmse", "mape", "r2", "mean_error")
ALL_METRICS: tuple[str, ...] = CLASSIFICATION_METRICS + REGRESSION_METRICS

_DEFAULT_PRIMARY = {
    "binary_classification": "roc_auc",
    "multiclass_classification": "f1",
    "regression": "mae",
}


def default_primary_metric(task: str) -> str:
    """The primary metric when none is configured: roc_auc (binary), f1 (multiclass), mae (regression).

    `task` is a `TaskType` (a string enum) or its value.
    """
    return _DEFAULT_PRIMARY.get(str(task), "mae")


# CBPE estimates these (for multiclass: macro averages, one-vs-rest).
ESTIMATED_METRICS: tuple[str, ...] = ("accuracy", "precision", "recall", "f1", "roc_auc")

SeverityName = Literal["warning", "critical"]

# Direct loss estimation (DLE) estimates these for regression (see dle.py).
DLE_METRICS: tuple[str, ...] = ("mae", "rmse", "mape")


def _check_metric(name: str) -> str:
    if name not in ALL_METRICS:
        raise ValueError(f"unknown metric {name!r}; expected one of: {', '.join(ALL_METRICS)}")
    return name


class MetricThreshold(StrictModel):
    """A fixed limit on one metric: below `lower` or above `upper` raises a finding."""

    lower: float | None = None
    upper: float | None = None
    severity: SeverityName = "critical"

    @model_validator(mode="after")
    def _some_limit(self) -> MetricThreshold:
        if self.lower is None and self.upper is None:
            raise ValueError("give `lower`, `upper` or both")
        if self.lower is not None and self.upper is not None and self.lower > self.upper:
            raise ValueError("`lower` is above `upper`")
        return self


class CBPEConfig(StrictModel):
    enabled: bool = True
    # auto: calibrate with isotonic regression only if cross-validation shows it lowers the ECE.
    calibration: Literal["auto", "always", "never"] = "auto"
    cv_folds: int = Field(default=5, ge=2)
    # Width of the estimate's sampling-error band, in standard errors.
    standard_errors: float = Field(default=3.0, gt=0)


class DDMConfig(StrictModel):
    """Drift Detection Method (Gama et al., 2004) over the per-row error indicator.

    The textbook levels (warning 2, drift 3, 30 warm-up rows) raised a false alarm on 5–25% of
    stationary 40,000-row streams here (error rates 0.1–0.3, measured): an early lucky stretch sets
    a low minimum that the stream later "drifts" away from. Warning 3 / drift 4 after 1,000 rows
    measured ≤ 1%, and still caught a +0.1 error-rate step within about 1,000–5,000 rows.
    """

    enabled: bool = True
    warning_level: float = Field(default=3.0, gt=0)
    drift_level: float = Field(default=4.0, gt=0)
    min_samples: int = Field(default=1000, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> DDMConfig:
        if self.warning_level >= self.drift_level:
            raise ValueError("warning_level must be below drift_level")
        return self


class PageHinkleyConfig(StrictModel):
    """Page-Hinkley test for an increase of the (standardized) per-row error.

    `delta` and `lambda` are in units of the reference error's standard deviation, so one setting
    works for error indicators and absolute errors of any scale. `alpha` < 1 fades old deviations;
    1 (the default) keeps the classic cumulative test, whose false-alarm rate is easiest to reason about.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    enabled: bool = True
    delta: float = Field(default=0.05, ge=0)
    lambda_: float = Field(default=100.0, gt=0, alias="lambda")
    alpha: float = Field(default=1.0, gt=0, le=1)
    min_samples: int = Field(default=30, ge=1)


class GapConfig(StrictModel):
    """Concept drift from the gap between CBPE's estimate and the realized figure on the same rows."""

    enabled: bool = True
    metrics: tuple[str, ...] = ("accuracy", "roc_auc")
    # Absolute slack added to the estimate's band: the reference calibration is itself estimated, and
    # a few points of calibration error must not read as concept drift on large windows.
    tolerance: float = Field(default=0.02, ge=0)
    # Fewer labeled rows than this: the gap is reported but not judged.
    min_labeled: int = Field(default=200, ge=1)
    # Regression: realized vs DLE's estimate; the band is widened by this share of the estimate (the
    # loss model is itself an estimate, and its error scales with the loss).
    regression_metrics: tuple[str, ...] = ("mae",)
    regression_tolerance: float = Field(default=0.15, ge=0)

    @field_validator("regression_metrics")
    @classmethod
    def _known_regression(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if name not in DLE_METRICS:
                raise ValueError(f"unknown gap metric {name!r}; expected one of: {', '.join(DLE_METRICS)}")
        return value

    @field_validator("metrics")
    @classmethod
    def _known(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if name not in ESTIMATED_METRICS:
                raise ValueError(
                    f"unknown gap metric {name!r}; expected one of: {', '.join(ESTIMATED_METRICS)}"
                )
        return value


class DLEConfig(StrictModel):
    """Direct loss estimation: a regression model's MAE, RMSE and MAPE without labels."""

    enabled: bool = True
    # Labeled reference rows the loss models learn from (a seeded sample above this).
    max_rows: int = Field(default=50_000, ge=100)
    min_rows: int = Field(default=200, ge=20)
    standard_errors: float = Field(default=3.0, gt=0)


class PerformanceConfig(StrictModel):
    enabled: bool = True
    # None: roc_auc (binary), f1 (macro, multiclass), mae (regression).
    primary_metric: str | None = None
    thresholds: dict[str, MetricThreshold] = Field(default_factory=dict)
    band_k: float = Field(default=3.0, gt=0)
    band_severity: SeverityName = "warning"
    # Reference chunking when the reference has no timestamp column: rows per chunk (the expected
    # window size in rows). None: a tenth of the reference.
    reference_chunk_rows: int | None = Field(default=None, ge=2)
    # Realized figures on fewer labeled rows (and estimates on fewer rows) are reported but raise no
    # finding: on a handful of rows a band or threshold says nothing.
    min_labeled: int = Field(default=100, ge=1)
    # Binary classification: the positive label (as text, e.g. "1", "fraud"). None: "1", "True", or the
    # last label in sorted order.
    positive_class: str | None = None
    # Binary classification without a prediction column: predicted positive when score >= this.
    decision_threshold: float = Field(default=0.5, ge=0, le=1)
    cbpe: CBPEConfig = CBPEConfig()
    dle: DLEConfig = DLEConfig()
    gap: GapConfig = GapConfig()
    ddm: DDMConfig = DDMConfig()
    page_hinkley: PageHinkleyConfig = PageHinkleyConfig()
    # The sequential detectors consume a window only once this share of its rows is labeled (unless
    # the caller says whether the labels are complete); see `evaluate_performance`.
    detector_min_label_coverage: float = Field(default=0.9, ge=0, le=1)
    concept_drift_severity: SeverityName = "critical"

    @field_validator("primary_metric")
    @classmethod
    def _primary_known(cls, value: str | None) -> str | None:
        return None if value is None else _check_metric(value)

    @field_validator("thresholds")
    @classmethod
    def _thresholds_known(cls, value: dict[str, MetricThreshold]) -> dict[str, MetricThreshold]:
        for name in value:
            _check_metric(name)
        return value
