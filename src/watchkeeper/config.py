"""Model configuration: one YAML file per monitored model in `configs/models/`.

`load_config(path)` reads the file into frozen pydantic models that reject unknown keys. Every error
names the file, the key path and what was expected, so a typo fails the run at load time with a
message that says where to look. Secrets never live here: channels and sources name the environment
variable or Prefect Secret block that holds them.

Strings may use `${VAR}` / `${VAR:-default}` (source locations, the tracking URI), except under
`alerts:`: alert texts go to Slack, logs, the state database and reports, so a `${VAR}` there is
never expanded (it would put a webhook URL or a token into every notification) and is refused at
load. Relative paths are resolved from the working directory (flows run from the repository root).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, PlainSerializer, PlainValidator, ValidationError, field_validator, model_validator

from watchkeeper.alerting.config import AlertsConfig
from watchkeeper.configbase import (
    StrictModel,
    YamlDocument,
    format_key_path,
    load_yaml_file,
    looks_like_name,
    parse_duration,
)
from watchkeeper.drift.config import DriftConfig
from watchkeeper.execution import ExecutionConfig
from watchkeeper.guards import DEFAULT_MIN_REFERENCE_ROWS, check_rule_columns
from watchkeeper.health import HealthConfig
from watchkeeper.performance.config import PerformanceConfig
from watchkeeper.retraining.config import RetrainingConfig
from watchkeeper.schema import ColumnsConfig, TaskType
from watchkeeper.segments import SegmentsConfig
from watchkeeper.sources.config import (
    SourceConfig,
)
from watchkeeper.timegrid import EPOCH, WindowCalendar, WindowSize, parse_origin, parse_timezone


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


def _origin_text(value: datetime) -> str:
    return value.isoformat(timespec="minutes") if value.time() != datetime.min.time() else f"{value:%Y-%m-%d}"


WindowSizeField = Annotated[
    WindowSize, PlainValidator(WindowSize.parse), PlainSerializer(lambda s: s.spec, return_type=str)
]
OriginField = Annotated[
    datetime, PlainValidator(parse_origin), PlainSerializer(_origin_text, return_type=str)
]


class WindowConfig(StrictModel):
    """The window calendar (`watchkeeper.timegrid`): size in elapsed (`15m`, `1h`) or calendar
    (`1d`, `1w`, `1mo`) units, counted from `origin` in `timezone`; weeks start on `week_start`."""

    size: WindowSizeField = WindowSize("1d")
    origin: OriginField = EPOCH
    timezone: str = "UTC"
    week_start: Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"] = (
        "monday"
    )
    label_lag: timedelta = timedelta(days=3)  # how long labels may take to arrive
    # How many past windows a monitor run re-evaluates when their labels have grown since.
    reevaluate_windows: int = Field(default=7, ge=0)

    @field_validator("label_lag", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> timedelta:
        return parse_duration(value)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        parse_timezone(value)
        return value

    @model_validator(mode="after")
    def _calendar(self) -> WindowConfig:
        WindowCalendar(self.size, self.origin, self.timezone, self.week_start)  # origin day, week start
        return self

    @property
    def calendar(self) -> WindowCalendar:
        return WindowCalendar(self.size, self.origin, self.timezone, self.week_start)


class TrackingConfig(StrictModel):
    # None: $MLFLOW_TRACKING_URI, else SQLite under the state directory.
    tracking_uri: str | None = None
    experiment: str | None = None  # default: "watchkeeper/<model name>"
    # MLflow's HTTP client (`watchkeeper.outage`): seconds per try, retries per call, backoff factor.
    # A run stops calling MLflow after its first unreachable call, so a window gives up within one
    # call's worst case: (retries + 1) × timeout + backoff ≈ 65 s with these defaults.
    # (MLflow reads all three as whole numbers.)
    http_timeout_s: int = Field(default=20, gt=0, le=600)
    http_max_retries: int = Field(default=2, ge=0, le=10)
    http_backoff_factor: int = Field(default=1, ge=0, le=60)
    # Where people open MLflow, for links from Prefect artifacts and alerts. None: $WATCHKEEPER_MLFLOW_UI_URL,
    # else the tracking URI when it is a server (http/https), else http://127.0.0.1:5000 (`mlflow ui`).
    ui_url: str | None = None


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
    execution: ExecutionConfig = ExecutionConfig()
    # Rows a reference needs per check (`watchkeeper.guards`); below it that check is an error.
    min_reference_rows: dict[str, int] = Field(default_factory=lambda: dict(DEFAULT_MIN_REFERENCE_ROWS))

    @field_validator("min_reference_rows", mode="after")
    @classmethod
    def _min_rows(cls, value: dict[str, int]) -> dict[str, int]:
        known = ("drift", "evidently_report", "perf", "serving", "validation")
        unknown = sorted(set(value) - set(known))
        if unknown:
            raise ValueError(f"unknown check(s) {unknown}; expected some of {list(known)}")
        if any(v < 0 for v in value.values()):
            raise ValueError("row minimums cannot be negative")
        return {**DEFAULT_MIN_REFERENCE_ROWS, **value}

    @model_validator(mode="after")
    def _rules_name_configured_columns(self) -> MonitorConfig:
        check_rule_columns(self)
        return self

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
# Errors listed for one file; the rest are counted.
MAX_LISTED_ERRORS = 20


def expand_env(text: str, *, expanded: set[str] | None = None) -> str:
    """Expand ``${VAR}`` and ``${VAR:-default}``; an unset variable without default is an error.

    Values taken from the environment are added to `expanded` (they may be secrets: an error
    message about the config must not show them)."""

    def repl(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        value = os.environ.get(name)
        if value is None:
            if default is None:
                raise ConfigError(f"environment variable {name} is not set (used as ${{{name}}})")
            return default
        if expanded is not None and value:
            expanded.add(value)
        return value

    return _ENV.sub(repl, text)


class _UnsetVariable(ConfigError):
    def __init__(self, message: str, loc: tuple[str | int, ...]) -> None:
        super().__init__(message)
        self.loc = loc


def _expand_tree(node: Any, expanded: set[str], memo: dict[int, Any], loc: tuple[str | int, ...] = ()) -> Any:
    # A node shared through a YAML alias is expanded once and stays shared: the copy is never
    # bigger than what the loader's node budget already admitted.
    if isinstance(node, str):
        try:
            return expand_env(node, expanded=expanded)
        except ConfigError as exc:
            raise _UnsetVariable(str(exc), loc) from None
    if not isinstance(node, dict | list):
        return node
    if id(node) in memo:
        return memo[id(node)]
    if isinstance(node, dict):
        out: Any = {k: _expand_tree(v, expanded, memo, (*loc, k)) for k, v in node.items()}
    else:
        out = [_expand_tree(v, expanded, memo, (*loc, i)) for i, v in enumerate(node)]
    memo[id(node)] = out
    return out


def _scrub(text: str, values: Iterable[str]) -> str:
    """`text` without any of `values` (quoted or bare): an input or an expanded env value."""
    for value in sorted(values, key=len, reverse=True):
        text = text.replace(repr(value), "<value>")
        if len(value) >= 4:  # shorter ones are words of the message itself as often as not
            text = text.replace(value, "<value>")
    return text


def _rule_named(data: Any, loc: tuple[int | str, ...]) -> str:
    """` (rule 'name')` for an error under `alerts.rules.N`, when that rule's name is a name."""
    if len(loc) < 3 or loc[:2] != ("alerts", "rules") or not isinstance(loc[2], int):
        return ""
    try:
        name = data["alerts"]["rules"][loc[2]]["name"]
    except (KeyError, IndexError, TypeError):
        return ""
    return f" (rule {name!r})" if isinstance(name, str) and looks_like_name(name) else ""


def _format_errors(
    path: Path, exc: ValidationError, *, data: Any, document: YamlDocument | None, secrets: set[str]
) -> str:
    """One line per error: where (file:line:column when the file is known, and the key path) and
    the rule broken. Never the value: it may be a secret from `${VAR}` or, when a config path
    points at some other file, a line of that file."""
    lines = [f"{path}: invalid configuration ({exc.error_count()} error(s))"]
    for err in exc.errors()[:MAX_LISTED_ERRORS]:
        loc = format_key_path(err["loc"])
        msg = err["msg"].removeprefix("Value error, ")  # pydantic's wrapper says nothing to a person
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check for a typo)"
        elif err["type"] == "union_tag_invalid":
            ctx = err.get("ctx", {})
            tag = ctx.get("tag")
            named = f" {tag!r}" if isinstance(tag, str) and looks_like_name(tag) else ""
            msg = f"unknown type{named}; expected one of {ctx.get('expected_tags')}"
        got = err.get("input")
        msg = _scrub(msg, secrets | ({got} if isinstance(got, str) else set()))
        pos = document.position(err["loc"]) if document is not None else None
        at = f" (line {pos[0]}, column {pos[1]})" if pos is not None else ""
        lines.append(f"  - {loc}{_rule_named(data, err['loc'])}: {msg}{at}")
    if exc.error_count() > MAX_LISTED_ERRORS:
        lines.append(f"  … and {exc.error_count() - MAX_LISTED_ERRORS} more")
    return "\n".join(lines)


def parse_config(
    data: Any, *, source: str | Path = "<config>", document: YamlDocument | None = None
) -> MonitorConfig:
    """Validate an already-parsed mapping; `source` is used in error messages (and `document`, the
    parsed file, for the line and column of each error)."""
    path = Path(source)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    secrets: set[str] = set()
    try:
        # Alert texts are never expanded: a secret named there would be sent with every notification.
        memo: dict[int, Any] = {}
        expanded = {k: v if k == "alerts" else _expand_tree(v, secrets, memo, (k,)) for k, v in data.items()}
    except _UnsetVariable as exc:
        pos = document.position(exc.loc) if document is not None else None
        at = f" (line {pos[0]}, column {pos[1]})" if pos is not None else ""
        raise ConfigError(f"{path}: {format_key_path(exc.loc)}: {exc}{at}") from None
    try:
        return MonitorConfig.model_validate(expanded, context={"env": os.environ})
    except ValidationError as exc:
        raise ConfigError(_format_errors(path, exc, data=data, document=document, secrets=secrets)) from None


def load_config(path: str | Path) -> MonitorConfig:
    """Load and validate a model config file; `ConfigError` says what is wrong and where."""
    path = Path(path)
    document = load_yaml_file(path, what="config", error=ConfigError)
    return parse_config(document.data, source=path, document=document)


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
    config = load_config(path)  # first: it refuses a file too big to read whole for the hash
    return LoadedConfig(path=path, hash=config_hash(path), config=config)


def find_model_config(model: str, directory: str | Path = "configs/models") -> str:
    """The config file under `directory` whose `model.name` is `model` (for the CLI's --model)."""
    found = [
        str(path) for path in sorted(Path(directory).glob("*.y*ml")) if load_config(path).model.name == model
    ]
    if len(found) != 1:
        what = "no config" if not found else f"{len(found)} configs ({', '.join(found)})"
        raise ValueError(f"{what} for model {model!r} in {directory}")
    return found[0]
