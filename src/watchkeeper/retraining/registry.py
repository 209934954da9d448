"""What the retraining loop writes on the MLflow Model Registry, and how it reads it back.

Alias and tag names live here, with the rules built on them: the reference belongs to the model
version (`reference_source`: monitoring compares a window with the data of the version that is
champion now), where a version's reference file goes (`reference_location`), the tags a new
challenger carries (`challenger_tags`) and whether one still waits for its deploy decision
(`is_pending_challenger`). Plain functions over tag dictionaries; the MLflow calls are in
`tasks/registry_tasks.py`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from watchkeeper.sources.config import ParquetSourceConfig
from watchkeeper.timeutil import iso_z, parse_utc

if TYPE_CHECKING:  # annotations only: the config imports this package
    from watchkeeper.config import MonitorConfig

CHALLENGER_ALIAS = "challenger"
PREVIOUS_CHAMPION_ALIAS = "previous-champion"

# Model-version tags written by the retrain and deploy flows.
TAG_TRIGGER = "watchkeeper.trigger"
TAG_TRIGGER_WINDOW_END = "watchkeeper.trigger_window_end"
TAG_TRAINING_WINDOWS = "watchkeeper.training_windows"
TAG_DATA_START = "watchkeeper.data_start"
TAG_DATA_END = "watchkeeper.data_end"
TAG_MONITOR_RUN = "watchkeeper.monitor_flow_run_id"
TAG_RETRAIN_RUN = "watchkeeper.retrain_flow_run_id"
TAG_REFERENCE_URI = "watchkeeper.reference_uri"
TAG_HOLDOUT_URI = "watchkeeper.holdout_uri"
TAG_DEPLOY_STATUS = "watchkeeper.deploy_status"  # pending | promoted | rejected | rolled-back

VERSION_PLACEHOLDER = "{champion_version}"


def reference_source(
    configured: Any, *, champion_version: str | None, version_tags: Mapping[str, str]
) -> Any:
    """The reference source for the current champion.

    A version trained by the retrain flow carries its reference's location in the
    `watchkeeper.reference_uri` tag: that wins. Otherwise the configured `sources.reference` is used,
    with ``{champion_version}`` in its path (file sources) replaced by the champion's version.
    """
    uri = version_tags.get(TAG_REFERENCE_URI)
    if uri:
        return ParquetSourceConfig(type="parquet", path=uri)
    path = getattr(configured, "path", None)
    if isinstance(path, str) and VERSION_PLACEHOLDER in path:
        if champion_version is None:
            raise ValueError(
                f"sources.reference.path uses {VERSION_PLACEHOLDER} but the model has no champion version"
            )
        return configured.model_copy(update={"path": path.replace(VERSION_PLACEHOLDER, champion_version)})
    return configured


def reference_file_name(version: str, suffix: str = "") -> str:
    return f"v{version}{suffix}.parquet"


def reference_location(config: MonitorConfig, version: str, *, state_dir: Path, suffix: str = "") -> str:
    """Where version `version`'s reference data (or, with a suffix, a companion file such as its
    held-out rows) is written: under `retraining.reference_dir` (a directory or an fsspec URL), by
    default `<state dir>/references/<model>/`. Local paths come back absolute."""
    base = config.retraining.reference_dir
    name = reference_file_name(version, suffix)
    if base is None or "://" not in base:
        root = Path(base) if base else state_dir / "references" / config.model.name
        return str(root.resolve() / name)
    return f"{base.rstrip('/')}/{name}"


def challenger_tags(
    *,
    reason: str,
    window_end: datetime,
    training_windows: Iterable[datetime],
    data_start: datetime | None,
    data_end: datetime | None,
    monitor_flow_run_id: str | None,
    retrain_flow_run_id: str,
) -> dict[str, str]:
    """The tags of a freshly trained version: why, on what data, which runs; deploy status pending."""
    return {
        TAG_TRIGGER: reason[:5000],  # MLflow's limit on a tag value
        TAG_TRIGGER_WINDOW_END: iso_z(window_end),
        TAG_TRAINING_WINDOWS: ",".join(iso_z(e) for e in training_windows),
        TAG_DATA_START: iso_z(data_start),
        TAG_DATA_END: iso_z(data_end),
        TAG_MONITOR_RUN: monitor_flow_run_id or "",
        TAG_RETRAIN_RUN: retrain_flow_run_id,
        TAG_DEPLOY_STATUS: "pending",
    }


def is_pending_challenger(version_tags: Mapping[str, str]) -> bool:
    """A challenger still waiting for its deployment decision (not enough evaluation data before)."""
    return version_tags.get(TAG_DEPLOY_STATUS) == "pending"


def read_time_tag(version_tags: Mapping[str, str], key: str) -> datetime | None:
    """The time in tag `key`, None when the tag is missing or empty."""
    text = version_tags.get(key)
    return parse_utc(text) if text else None


def read_time_list_tag(version_tags: Mapping[str, str], key: str) -> list[datetime]:
    """The comma-separated times in tag `key` (`watchkeeper.training_windows`), in tag order."""
    return [parse_utc(t) for t in version_tags.get(key, "").split(",") if t]
