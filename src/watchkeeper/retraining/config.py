"""The `retraining:` section of a model config: when to retrain, on what, and when to promote.

It lives with the code that reads it, and imports nothing of `watchkeeper.config`: that module
imports this one to build `MonitorConfig`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from watchkeeper.configbase import StrictModel, parse_duration
from watchkeeper.performance.config import ALL_METRICS

# The trainer used when a config names none; its module path is part of the public surface (configs
# and MLflow runs record it), which is why the default trainer stays in `watchkeeper.training`.
DEFAULT_TRAINER = "watchkeeper.training:train_default"


class RetrainingConfig(StrictModel):
    """The `retraining:` section of a model config: when to retrain, on what, and when to promote."""

    enabled: bool = False
    # Triggers. Dataset drift must persist for this many consecutive windows (0: never a trigger).
    drift_consecutive_windows: int = Field(default=2, ge=0)
    on_performance_below_band: bool = True
    on_concept_drift: bool = True
    # Metrics whose band is watched; empty: every metric the performance section gives a band for.
    performance_metrics: tuple[str, ...] = ()
    # Realized performance and concept drift need labels, which arrive late: besides the window being
    # monitored, look at this many earlier windows (their latest evaluation, after late labels).
    label_lookback_windows: int = Field(default=3, ge=0)

    # Guards.
    cooldown: timedelta = timedelta(days=7)  # at most one retraining per cooldown, in window time
    lease_ttl: timedelta = timedelta(hours=6)  # a crashed retraining frees its model after this

    # Training.
    trainer: str = DEFAULT_TRAINER  # "package.module:function" returning a fitted model
    trainer_kwargs: dict[str, Any] = Field(default_factory=dict)
    seed: int = 0
    include_reference: bool = True  # train on the champion's reference as well as recent windows
    training_windows: int = Field(default=7, ge=0)  # recent labeled windows that passed validation
    min_training_rows: int = Field(default=200, ge=1)
    holdout_fraction: float = Field(default=0.3, gt=0, lt=1)
    # Where each version's reference data is written (`v<version>.parquet`); fsspec URLs work.
    # None: `<state dir>/references/<model>/`.
    reference_dir: str | None = None

    # Deployment gate.
    auto_deploy: bool = True  # run the deploy flow right after a retraining
    primary_metric: str | None = None  # None: the performance section's, else its task default
    min_improvement: float = Field(default=0.005, ge=0)  # challenger must beat champion by this
    guard_metrics: tuple[str, ...] = ()
    guard_tolerance: float = Field(default=0.02, ge=0)  # how much worse a guard metric may get
    # Labeled windows newer than the training data on which challenger and champion compete: the
    # retrain flow keeps this many of the newest out of training. With 0, training uses every labeled
    # window and the deploy decision waits (deferred) until newer labeled windows arrive.
    evaluation_windows: int = Field(default=2, ge=0)
    min_evaluation_rows: int = Field(default=200, ge=1)
    # "windows": compete on the newer labeled windows above. "holdout": compete at once on the rows
    # the retrain flow held out of training (the challenger's reference data), which neither model
    # trained on: no waiting for newer labels, at the price of judging on the training period.
    evaluate_on: Literal["windows", "holdout"] = "windows"

    # How the monitor flow starts retraining: "auto" calls the retrain deployment when the Prefect
    # server has it (`run_deployment`, so it can run on other infrastructure), else a subflow.
    trigger: str = Field(default="auto", pattern="^(auto|subflow|deployment)$")
    retrain_deployment: str | None = None  # default: "retrain-model/<model>-retrain"
    deploy_deployment: str | None = None  # default: "deploy-model/<model>-deploy"

    @field_validator("cooldown", "lease_ttl", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> timedelta:
        return parse_duration(value)

    @field_validator("performance_metrics", "guard_metrics")
    @classmethod
    def _metrics_known(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [m for m in value if m not in ALL_METRICS]
        if unknown:
            raise ValueError(f"unknown metric(s) {unknown}; expected some of: {', '.join(ALL_METRICS)}")
        return value

    @field_validator("primary_metric")
    @classmethod
    def _primary_known(cls, value: str | None) -> str | None:
        if value is not None and value not in ALL_METRICS:
            raise ValueError(f"unknown metric {value!r}; expected one of: {', '.join(ALL_METRICS)}")
        return value

    @field_validator("trainer")
    @classmethod
    def _entrypoint(cls, value: str) -> str:
        module, sep, func = value.partition(":")
        if not sep or not module or not func:
            raise ValueError(f"trainer {value!r} must look like 'package.module:function'")
        return value

    @model_validator(mode="after")
    def _guards_differ(self) -> RetrainingConfig:
        if self.primary_metric is not None and self.primary_metric in self.guard_metrics:
            raise ValueError("the primary metric cannot also be a guard metric")
        return self
