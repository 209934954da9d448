"""Configuration of the drift engine (the `drift:` section of a model config).

Method and threshold resolution follow Evidently's DataDriftPreset:

- method: ``per_column_method[column]`` > ``num_method`` / ``cat_method`` (by column kind) >
  ``method`` > Evidently's default choice from the reference size and the number of unique values;
- threshold: ``per_column_threshold[column]`` > ``num_threshold`` / ``cat_threshold`` > ``threshold``
  > the method's default threshold;
- the dataset drifts when the share of drifted feature columns is >= ``drift_share``.

Beyond Evidently: multiple-testing correction across the feature columns tested with p-value
methods (``correction``: none, bh for Benjamini–Hochberg, bonferroni; off by default so that the
numbers stay Evidently's), the reference-profile cache, and the sample cap of the human-facing
Evidently HTML report. Method names are checked at load time; the error lists the registered ones.

``multivariate`` configures the checks of the joint distribution (NannyML's PCA data reconstruction
and domain classifier, `watchkeeper.drift.multivariate`); ``embeddings`` the drift of vector
columns (Evidently's embedding methods, `watchkeeper.drift.embeddings`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from watchkeeper.configbase import StrictModel
from watchkeeper.drift.embeddings import EmbeddingsConfig


def _check_method(name: str | None, kind: str | None = None) -> str | None:
    if name is None:
        return None
    from watchkeeper.drift.registry import get_method

    method = get_method(name)  # raises with the list of registered names
    if kind is not None and kind not in method.kinds:
        raise ValueError(
            f"drift method {name!r} does not apply to {kind} columns "
            f"(it applies to: {', '.join(sorted(method.kinds))})"
        )
    return name


class MultivariateConfig(StrictModel):
    """Multivariate drift: PCA reconstruction error and a domain classifier, as NannyML computes them.

    On by default; it runs only for models with at least two features. The domain classifier trains
    `cv_folds` gradient-boosted models per window, so both sides are capped at `classifier_sample`
    rows (a seeded sample) to keep a window's cost small.
    """

    enabled: bool = True
    reconstruction: bool = True
    # Below 1: the share of variance the PCA keeps (NannyML's 0.65); 1 or more: a number of components.
    n_components: float = Field(0.65, gt=0)
    # Thresholds: mean ± threshold_std · std of the reference's window-sized chunks (NannyML: 3).
    threshold_std: float = Field(3.0, gt=0)
    domain_classifier: bool = True
    classifier_sample: int = Field(1000, ge=50)
    cv_folds: int = Field(5, ge=2)
    # NannyML's constant thresholds: a window's out-of-fold ROC AUC outside [lower, upper] alerts.
    classifier_lower: float = Field(0.45, ge=0.0, le=1.0)
    classifier_upper: float = Field(0.65, ge=0.0, le=1.0)
    severity: Literal["warning", "critical"] = "warning"


class DriftConfig(StrictModel):
    """How the drift engine picks methods and thresholds, and what it adds on top."""

    enabled: bool = True
    method: str | None = None
    num_method: str | None = None
    cat_method: str | None = None
    per_column_method: dict[str, str] = Field(default_factory=dict)
    threshold: float | None = None
    num_threshold: float | None = None
    cat_threshold: float | None = None
    per_column_threshold: dict[str, float] = Field(default_factory=dict)
    drift_share: float = Field(0.5, ge=0.0, le=1.0)
    correction: Literal["none", "bh", "bonferroni"] = "none"
    cache: bool = True
    evidently_report: bool = True
    # Evidently's page costs ~1 s per 1,000 rows per side here; 2,000 keeps it near 2 s and above
    # Evidently's 1,000-row switch to distance methods, as on the full data of a large window.
    evidently_sample_cap: int = Field(2_000, ge=1)
    max_workers: int | None = Field(None, ge=1)
    # Columns whose threshold is learned from the reference (["*"]: every feature), see drift/learned.py.
    learn_thresholds: tuple[str, ...] = ()
    learned_threshold_std: float = Field(3.0, gt=0)
    # Drift impact on the model (drift/reset_impact.py): each feature reset to the reference, the
    # window re-scored on a seeded sample of `reset_sample` rows by the model loaded from MLflow.
    reset_impact: bool = True
    reset_sample: int = Field(2_000, ge=50)
    multivariate: MultivariateConfig = MultivariateConfig()
    embeddings: EmbeddingsConfig = EmbeddingsConfig()

    @field_validator("method")
    @classmethod
    def _known_method(cls, value: str | None) -> str | None:
        return _check_method(value)

    @field_validator("num_method")
    @classmethod
    def _known_num_method(cls, value: str | None) -> str | None:
        return _check_method(value, "numerical")

    @field_validator("cat_method")
    @classmethod
    def _known_cat_method(cls, value: str | None) -> str | None:
        return _check_method(value, "categorical")

    @field_validator("per_column_method")
    @classmethod
    def _known_column_methods(cls, value: dict[str, str]) -> dict[str, str]:
        for column, name in value.items():
            try:
                _check_method(name)
            except ValueError as exc:
                raise ValueError(f"per_column_method[{column!r}]: {exc}") from None
        return value
