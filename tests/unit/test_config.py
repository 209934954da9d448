"""Model config loading: valid files load, and every mistake names the file, the key and the fix."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from watchkeeper.config import ConfigError, TaskType, load_config, parse_config
from watchkeeper.configbase import parse_duration

REPO = Path(__file__).resolve().parents[2]

MINIMAL = {
    "model": {"name": "m", "task": "binary_classification"},
    "columns": {"numerical_features": ["a"], "categorical_features": ["c"], "score": "score"},
    "sources": {
        "inference_logs": {"type": "parquet", "path": "logs/"},
        "reference": {"type": "csv", "path": "ref.csv"},
    },
}


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "model.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_every_shipped_config_loads() -> None:
    configs = sorted((REPO / "configs" / "models").glob("*.yaml"))
    assert configs, "configs/models/ must hold at least the demo model"
    for path in configs:
        config = load_config(path)
        assert config.model.name


def test_minimal_config_gets_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL))
    assert config.model.task is TaskType.BINARY
    assert config.window.size == timedelta(days=1)
    assert config.window.label_lag == timedelta(days=3)
    assert config.experiment_name == "watchkeeper/m"
    assert config.model.registry_name == "m"


def test_unknown_key_names_file_and_path(tmp_path: Path) -> None:
    data = {**MINIMAL, "window": {"size": "1d", "sise": "2d"}}
    path = write(tmp_path, data)
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert str(path) in str(exc.value)
    assert "window.sise: unknown key" in str(exc.value)


def test_unknown_source_type_lists_valid_ones(tmp_path: Path) -> None:
    data = {**MINIMAL, "sources": {**MINIMAL["sources"], "reference": {"type": "excel", "path": "x"}}}  # type: ignore[dict-item]
    with pytest.raises(ConfigError) as exc:
        load_config(write(tmp_path, data))
    message = str(exc.value)
    assert "sources.reference" in message and "'excel'" in message and "parquet" in message


def test_bad_duration_and_task(tmp_path: Path) -> None:
    data = {**MINIMAL, "model": {"name": "m", "task": "ranking"}, "window": {"size": "1 fortnight"}}
    with pytest.raises(ConfigError) as exc:
        load_config(write(tmp_path, data))
    assert "model.task" in str(exc.value)
    assert "window.size" in str(exc.value)


def test_missing_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_config_is_frozen(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL))
    with pytest.raises(ValueError):
        config.model.name = "other"  # type: ignore[misc]


def test_env_expansion(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOGS_ROOT", "s3://bucket/logs")
    data = {
        **MINIMAL,
        "sources": {**MINIMAL["sources"], "inference_logs": {"type": "parquet", "path": "${LOGS_ROOT}/m"}},
    }  # type: ignore[dict-item]
    config = load_config(write(tmp_path, data))
    assert config.sources.inference_logs.path == "s3://bucket/logs/m"  # type: ignore[union-attr]
    data["sources"]["inference_logs"]["path"] = "${UNSET_VAR_FOR_TEST}/m"  # type: ignore[index]
    with pytest.raises(ConfigError, match="UNSET_VAR_FOR_TEST is not set"):
        load_config(write(tmp_path, data))


def test_task_specific_columns_are_checked() -> None:
    data = {**MINIMAL, "model": {"name": "m", "task": "multiclass_classification"}}
    with pytest.raises(ConfigError, match=r"columns\.score is for binary"):
        parse_config(data)


def test_sql_source_needs_url_or_env() -> None:
    data = {**MINIMAL, "sources": {**MINIMAL["sources"], "inference_logs": {"type": "sql", "table": "t"}}}  # type: ignore[dict-item]
    with pytest.raises(ConfigError, match="exactly one of `url` or `url_env`"):
        parse_config(data)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("15m", timedelta(minutes=15)),  # sub-hour windows
        ("1d", timedelta(days=1)),  # the usual daily window
        ("2w", timedelta(weeks=2)),  # weekly unit
        (3600, timedelta(hours=1)),  # plain seconds
    ],
)
def test_parse_duration(text: str | int, expected: timedelta) -> None:
    assert parse_duration(text) == expected
