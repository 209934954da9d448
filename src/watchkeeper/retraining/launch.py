"""Names the monitor flow uses to start the retrain and deploy flows through Prefect.

The deployment names must match `deployments/prefect.yaml` (a contract test checks them), and the
keys make a retried monitor run ask for the same flow run again instead of a second one: a
retraining is keyed by model and window, a deployment decision by model and version.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: the config imports this package
    from watchkeeper.config import MonitorConfig


def retrain_deployment_name(config: MonitorConfig) -> str:
    return config.retraining.retrain_deployment or f"retrain-model/{config.model.name}-retrain"


def deploy_deployment_name(config: MonitorConfig) -> str:
    return config.retraining.deploy_deployment or f"deploy-model/{config.model.name}-deploy"


def retrain_key(model: str, window_end: datetime) -> str:
    """The retraining's lease holder and its flow run's idempotency key: one per model and window."""
    return f"{model}:{window_end.isoformat()}"


def deploy_key(model: str, version: str) -> str:
    """The deploy flow run's idempotency key: one decision per model version."""
    return f"{model}:deploy:{version}"
