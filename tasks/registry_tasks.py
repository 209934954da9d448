"""MLflow Model Registry: register trained models, move aliases, read tags, load versions.

Every function takes the flow's one `MlflowClient`; where MLflow's fluent API is needed (logging a
run, loading a model) it uses the client's tracking URI. Also where the monitor learns which
reference data belongs to the champion it monitors (`resolve_reference_source` /
`config_for_champion`); the rule itself is `watchkeeper.retraining.reference_source`.
"""

from __future__ import annotations

import contextlib
from typing import Any

import mlflow
import pandas as pd
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient
from prefect import task
from prefect.cache_policies import NO_CACHE

from tasks.tracking_tasks import ensure_experiment
from watchkeeper import retraining
from watchkeeper.config import ColumnsConfig, MonitorConfig, TaskType
from watchkeeper.training import model_inputs


@task(name="register-model", cache_policy=NO_CACHE, retries=1, retry_delay_seconds=5)
def register_model(
    model: Any,
    *,
    client: MlflowClient,
    experiment: str,
    registered_name: str,
    training_frame: pd.DataFrame,
    columns: ColumnsConfig,
    task_type: TaskType,
    dataset_name: str,
    params: dict[str, Any],
    metrics: dict[str, float],
    version_tags: dict[str, str],
    aliases: tuple[str, ...] = (),
) -> dict[str, str]:
    """Log `model` with signature, input example and its training data, register a version, set aliases."""
    tracking_uri = client.tracking_uri
    mlflow.set_tracking_uri(tracking_uri)
    experiment_id = ensure_experiment(client, experiment)
    x = model_inputs(training_frame, columns)
    # Integer features are declared as doubles in the signature: a missing value at inference time
    # turns an int column into floats, which an integer schema would reject.
    x = x.astype({c: "float64" for c in x.columns if pd.api.types.is_integer_dtype(x[c])})
    example = x.head(5)
    output = model.predict_proba(example)[:, 1] if task_type is TaskType.BINARY else model.predict(example)
    with mlflow.start_run(
        experiment_id=experiment_id,
        run_name=f"train {registered_name}",
        tags={"watchkeeper.kind": "train", **version_tags},
    ) as run:
        mlflow.log_params(params)
        if metrics:
            mlflow.log_metrics(metrics)
        mlflow.log_input(mlflow.data.from_pandas(training_frame, name=dataset_name), context="training")
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(example, output),
            input_example=example,
            registered_model_name=registered_name,
            # skops (MLflow's safe default format) refuses types it does not know; OneHotEncoder
            # keeps its output dtype as a numpy.dtype, which is safe to load.
            skops_trusted_types=["numpy.dtype"],
        )
    version = str(info.registered_model_version)
    for key, value in version_tags.items():
        client.set_model_version_tag(registered_name, version, key, value)
    for alias in aliases:
        client.set_registered_model_alias(registered_name, alias, version)
    return {"version": version, "run_id": run.info.run_id, "model_uri": info.model_uri}


def alias_version(client: MlflowClient, registered_name: str, alias: str) -> str | None:
    try:
        return str(client.get_model_version_by_alias(registered_name, alias).version)
    except mlflow.exceptions.MlflowException:
        return None


def set_alias(client: MlflowClient, registered_name: str, alias: str, version: str) -> None:
    client.set_registered_model_alias(registered_name, alias, version)


def load_model_version(client: MlflowClient, registered_name: str, version: str) -> Any:
    mlflow.set_tracking_uri(client.tracking_uri)
    return mlflow.sklearn.load_model(f"models:/{registered_name}/{version}")


def delete_alias(client: MlflowClient, registered_name: str, alias: str) -> None:
    """Remove `alias` if it is set (no error when it is not)."""
    with contextlib.suppress(mlflow.exceptions.MlflowException):
        client.delete_registered_model_alias(registered_name, alias)


def version_tags(client: MlflowClient, registered_name: str, version: str) -> dict[str, str]:
    return dict(client.get_model_version(registered_name, version).tags)


def set_version_tags(client: MlflowClient, registered_name: str, version: str, tags: dict[str, str]) -> None:
    for key, value in tags.items():
        client.set_model_version_tag(registered_name, version, key, value)


def pending_challenger(config: MonitorConfig, *, client: MlflowClient) -> str | None:
    """The `challenger` version still waiting for its deployment decision, if any (None as well when
    the registry cannot be read: the next monitor run asks again)."""
    name = config.model.registry_name
    try:
        version = alias_version(client, name, retraining.CHALLENGER_ALIAS)
        if version is None:
            return None
        tags = version_tags(client, name, version)
    except Exception:
        return None
    return version if retraining.is_pending_challenger(tags) else None


def resolve_reference_source(
    config: MonitorConfig, version: str | None = None, *, client: MlflowClient
) -> Any:
    """The reference source of the model's current champion (the reference belongs to the version).

    A version trained by the retrain flow points at its own reference data (a version tag); the
    first version uses `sources.reference`, where ``{champion_version}`` in a path is replaced by the
    champion's version. The registry being unreachable or empty falls back to `sources.reference`.
    """
    configured = config.sources.reference
    name = config.model.registry_name
    try:
        version = version or alias_version(client, name, config.model.alias)
        tags = version_tags(client, name, version) if version is not None else {}
    except Exception:  # registry down: monitoring goes on against the configured reference
        version, tags = None, {}
    return retraining.reference_source(configured, champion_version=version, version_tags=tags)


def config_for_champion(
    config: MonitorConfig, version: str | None = None, *, client: MlflowClient
) -> MonitorConfig:
    """`config` with `sources.reference` pointing at the current champion's reference data, or at
    the reference of model `version` (a past window is judged against the model that scored it)."""
    source = resolve_reference_source(config, version, client=client)
    if source is config.sources.reference:
        return config
    return config.model_copy(update={"sources": config.sources.model_copy(update={"reference": source})})
