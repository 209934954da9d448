"""The model that scored a window, loaded from the MLflow Model Registry for the drift-impact check.

`open_model_source` gives `watchkeeper.drift.reset_impact.ResetImpactCheck` its `ModelSource`: a
version (None: the version the model's alias, `model.alias`, points at) → the loaded model. Each
version is loaded once per flow run; a version that cannot be loaded raises again each time it is
asked for (the check reports why and the window goes on).
"""

from __future__ import annotations

from typing import Any

from mlflow.tracking import MlflowClient

from tasks.outage_tasks import TrackingOutage
from tasks.registry_tasks import alias_version, load_model_version
from watchkeeper.config import MonitorConfig
from watchkeeper.drift.reset_impact import ModelSource


def open_model_source(
    config: MonitorConfig, *, client: MlflowClient, outage: TrackingOutage | None = None
) -> ModelSource:
    """Load the window's scoring model (or the champion) from the registry, once per version.

    Once this run found MLflow unreachable (`outage`), nothing is asked of it any more.
    """
    name = config.model.registry_name
    loaded: dict[str, Any] = {}

    def load(version: str | None) -> Any:
        if outage is not None and outage.down:
            raise ConnectionError(f"MLflow unreachable in this run ({outage.error})")
        if version is None:
            version = alias_version(client, name, config.model.alias)
            if version is None:
                raise LookupError(
                    f"registered model {name!r} has no version under alias {config.model.alias!r}"
                )
        if version not in loaded:
            loaded[version] = load_model_version(client, name, version)
        return loaded[version]

    return load
