"""`watchkeeper serve`: every model's deployments in one process with `prefect.serve` (no work pool).

The deployments are the ones `deployments/prefect.yaml` declares for a work pool — same names,
entrypoints, parameters and schedules (a contract test keeps the two in step) — built here for each
model config given, so one host can run the whole loop: daily monitoring, host health every five
minutes, and backfill, retrain, deploy and rollback on demand.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from watchkeeper.config import load_config
from watchkeeper.runtime import apply_runtime_defaults

REPO_ROOT = Path(__file__).resolve().parents[1]

# (deployment suffix, entrypoint, schedule, description); a schedule is {"cron": ..., "timezone": ...},
# {"interval": seconds} or None for deployments that are triggered.
DEPLOYMENTS: tuple[tuple[str, str, dict[str, Any] | None, str], ...] = (
    (
        "daily",
        "flows/monitor.py:monitor",
        {"cron": "0 2 * * *", "timezone": "UTC"},
        "Monitor {model} over the last complete day (drift, performance, validation, alerts).",
    ),
    (
        "backfill",
        "flows/backfill.py:backfill",
        None,
        "Monitor {model} over every window between `start` and `end` (run by hand).",
    ),
    (
        "health",
        "flows/system_health.py:system_health",
        {"interval": 300},
        "Sample the serving host's health every 5 minutes.",
    ),
    (
        "retrain",
        "flows/retrain.py:retrain",
        None,
        "Retrain {model} (started by the monitor flow's retraining policy, or by hand).",
    ),
    (
        "deploy",
        "flows/deploy.py:deploy",
        None,
        "Challenger against champion for {model}; promote only if it is better.",
    ),
    (
        "rollback",
        "flows/rollback.py:rollback",
        None,
        "Put {model}'s previous champion back (run by hand).",
    ),
)


def deployment_specs(config_path: str) -> list[dict[str, Any]]:
    """The deployments of one model, in `prefect.yaml`'s shape (without the work pool)."""
    model = load_config(config_path).model.name
    specs = []
    for suffix, entrypoint, schedule, description in DEPLOYMENTS:
        spec: dict[str, Any] = {
            "name": f"{model}-{suffix}",
            "description": description.format(model=model),
            "entrypoint": entrypoint,
            "parameters": {"config_path": config_path},
            "tags": ["watchkeeper", model, "monitor" if suffix == "daily" else suffix],
        }
        if schedule is not None:
            spec["schedules"] = [schedule]
        specs.append(spec)
    return specs


def build_deployments(config_paths: list[str], *, only: tuple[str, ...] = ()) -> list[Any]:
    """`RunnerDeployment`s for `prefect.serve`, from `deployment_specs` of each config.

    `only` keeps the deployments with these suffixes (``("daily", "retrain")``); empty: all.
    """
    from prefect.flows import load_flow_from_entrypoint
    from prefect.schedules import Cron, Interval

    out = []
    for config_path in config_paths:
        for spec in deployment_specs(config_path):
            if only and not spec["name"].endswith(tuple(f"-{o}" for o in only)):
                continue
            flow = load_flow_from_entrypoint(str(REPO_ROOT / spec["entrypoint"]))
            schedules = []
            for s in spec.get("schedules", []):
                if "cron" in s:
                    schedules.append(Cron(s["cron"], timezone=s.get("timezone", "UTC")))
                else:
                    schedules.append(Interval(s["interval"]))
            out.append(
                flow.to_deployment(
                    name=spec["name"],
                    description=spec["description"],
                    parameters=spec["parameters"],
                    tags=spec["tags"],
                    schedules=schedules or None,
                )
            )
    return out


def serve_all(config_paths: list[str], *, only: tuple[str, ...] = (), limit: int | None = None) -> None:
    """Serve every deployment of every model config until interrupted (Ctrl-C).

    `only` limits it to some kinds (``("daily", "health")``); `limit` caps concurrent flow runs.

    Needs a Prefect server (`PREFECT_API_URL`); config paths are used as given, so run it from the
    directory they are relative to (the repository root for `configs/models/...`).
    """
    apply_runtime_defaults()
    from prefect import serve

    serve(*build_deployments(config_paths, only=only), limit=limit)


if __name__ == "__main__":
    import sys

    serve_all(sys.argv[1:] or ["configs/models/credit-risk.yaml"])
