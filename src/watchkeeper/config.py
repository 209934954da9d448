"""Model configuration: one YAML file per monitored model in `configs/models/`.

`load_config(path)` reads the file into frozen pydantic models that reject unknown keys. Every error
names the file, the key path and what was expected, so a typo fails the run at load time with a
message that says where to look. Secrets never live here: channels and sources name the environment
variable or Prefect Secret block that holds them.

Strings in source locations may use `${VAR}` / `${VAR:-default}`; relative paths are resolved from the
working directory (flows run from the repository root).
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator, model_validator

from watchkeeper.alerting.config import AlertsConfig
from watchkeeper.configbase import StrictModel, parse_duration, read_yaml_file
from watchkeeper.drift.config import DriftConfig
from watchkeeper.health import HealthConfig
from watchkeeper.performance.config import PerformanceConfig
from watchkeeper.retraining.config import RetrainingConfig
from watchkeeper.schema import ColumnsConfig, TaskType
from watchkeeper.segments import SegmentsConfig
from watchkeeper.sources.config import (
    SourceConfig,
)


class ConfigError(ValueError):
    """A configuration file is missing, unreadable or invalid; the message says where and why."""


class ModelConfig(StrictModel):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    task: TaskType
    registered_model: str | None = None  # MLflow registered model name; defaults to `name`
    alias: str = "champion"

    @property
    def registry_name(self) -> str:
        return self.registered_model or self.name


class SourcesConfig(StrictModel):
    inference_logs: SourceConfig
    reference: SourceConfig
    ground_truth: SourceConfig | None = None


class WindowConfig(StrictModel):
    size: timedelta = timedelta(days=1)
    label_lag: timedelta = timedelta(days=3)  # how long labels may take to arrive
    # How many past windows a monitor run re-evaluates when their labels have grown since.
    reevaluate_windows: int = Field(default=7, ge=0)

    @field_validator("size", "label_lag", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> timedelta:
        return parse_duration(value)

    @field_validator("size")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("window size must be positive")
        return value


class TrackingConfig(StrictModel):
    # None: $MLFLOW_TRACKING_URI, else SQLite under the state directory.
    tracking_uri: str | None = None
    experiment: str | None = None  # default: "watchkeeper/<model name>"


class ExpectationsConfig(StrictModel):
    enabled: bool = True
    suite: str | None = None  # path to a configs/expectations/<model>.yaml suite


class MonitorConfig(StrictModel):
    """The whole configuration of one monitored model."""

    model: ModelConfig
    columns: ColumnsConfig
    sources: SourcesConfig
    window: WindowConfig = WindowConfig()
    tracking: TrackingConfig = TrackingConfig()
    drift: DriftConfig = DriftConfig()
    performance: PerformanceConfig = PerformanceConfig()
    expectations: ExpectationsConfig = ExpectationsConfig()
    alerts: AlertsConfig = AlertsConfig()
    retraining: RetrainingConfig = RetrainingConfig()
    health: HealthConfig = HealthConfig()
    # Per-segment drift and performance: `segments: [column, ...]` (see watchkeeper.segments).
    segments: SegmentsConfig = SegmentsConfig()

    @model_validator(mode="after")
    def _columns_fit_task(self) -> MonitorConfig:
        cols = self.columns
        if self.model.task is TaskType.MULTICLASS and cols.score is not None:
            raise ValueError("columns.score is for binary classification; use columns.probabilities")
        if self.model.task is TaskType.BINARY and cols.probabilities is not None:
            raise ValueError("columns.probabilities is for multiclass; use columns.score")
        overlap = set(cols.numerical_features) & set(cols.categorical_features)
        if overlap:
            raise ValueError(f"columns both numerical and categorical: {sorted(overlap)}")
        return self

    @property
    def experiment_name(self) -> str:
        return self.tracking.experiment or f"watchkeeper/{self.model.name}"


_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand_env(text: str) -> str:
    """Expand ``${VAR}`` and ``${VAR:-default}``; an unset variable without default is an error."""

    def repl(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        value = os.environ.get(name)
        if value is None:
            if default is None:
                raise ConfigError(f"environment variable {name} is not set (used as ${{{name}}})")
            return default
        return value

    return _ENV.sub(repl, text)


def _expand_tree(node: Any) -> Any:
    if isinstance(node, str):
        return expand_env(node)
    if isinstance(node, dict):
        return {k: _expand_tree(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_expand_tree(v) for v in node]
    return node


def _format_errors(path: Path, exc: ValidationError) -> str:
    lines = [f"{path}: invalid configuration ({exc.error_count()} error(s))"]
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "<root>"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check for a typo)"
        elif err["type"] == "union_tag_invalid":
            ctx = err.get("ctx", {})
            msg = f"unknown type {ctx.get('tag')!r}; expected one of {ctx.get('expected_tags')}"
        got = err.get("input")
        shown = "" if isinstance(got, dict | list) or got is None else f" (got {got!r})"
        lines.append(f"  - {loc}: {msg}{shown}")
    return "\n".join(lines)


def parse_config(data: Any, *, source: str | Path = "<config>") -> MonitorConfig:
    """Validate an already-parsed mapping; `source` is used in error messages."""
    path = Path(source)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        return MonitorConfig.model_validate(_expand_tree(data))
    except ValidationError as exc:
        raise ConfigError(_format_errors(path, exc)) from None


def load_config(path: str | Path) -> MonitorConfig:
    """Load and validate a model config file; `ConfigError` says what is wrong and where."""
    path = Path(path)
    return parse_config(read_yaml_file(path, what="config", error=ConfigError), source=path)


def config_hash(path: str | Path) -> str:
    """A short hash of the config file's bytes, recorded with every decision in the audit trail."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


@dataclass(frozen=True)
class LoadedConfig:
    """A model config as one run uses it: the file it came from, the hash of its bytes (audited with
    every decision) and the validated model. A flow loads it once and passes it down."""

    path: Path
    hash: str
    config: MonitorConfig


def load_config_file(path: str | Path) -> LoadedConfig:
    """Load, validate and hash a model config file (`ConfigError` says what is wrong and where)."""
    path = Path(path)
    return LoadedConfig(path=path, hash=config_hash(path), config=load_config(path))


def find_model_config(model: str, directory: str | Path = "configs/models") -> str:
    """The config file under `directory` whose `model.name` is `model` (for the CLI's --model)."""
    found = [
        str(path) for path in sorted(Path(directory).glob("*.y*ml")) if load_config(path).model.name == model
    ]
    if len(found) != 1:
        what = "no config" if not found else f"{len(found)} configs ({', '.join(found)})"
        raise ValueError(f"{what} for model {model!r} in {directory}")
    return found[0]
