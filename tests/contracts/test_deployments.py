"""Every deployment in deployments/prefect.yaml loads, and its parameters fit its flow's signature.

Also: `watchkeeper serve` (flows/serve.py) builds the same deployments, flow runs get the telemetry
opt-outs, and the schedules are the documented ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from prefect.flows import load_flow_from_entrypoint
from prefect.utilities.callables import parameter_schema
from prefect.utilities.schema_tools import validate

from watchkeeper.config import load_config
from watchkeeper.runtime import TELEMETRY_OPT_OUTS

ROOT = Path(__file__).resolve().parents[2]
PREFECT_YAML = ROOT / "deployments" / "prefect.yaml"
DEPLOYMENTS: list[dict[str, Any]] = yaml.safe_load(PREFECT_YAML.read_text())["deployments"]


def _flow(entrypoint: str) -> Any:
    return load_flow_from_entrypoint(str(ROOT / entrypoint))


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=[d["name"] for d in DEPLOYMENTS])
def test_deployment_loads_and_its_parameters_validate(deployment: dict[str, Any]) -> None:
    path, _, func = deployment["entrypoint"].partition(":")
    assert (ROOT / path).is_file(), f"{deployment['name']}: {path} does not exist"
    flow = _flow(deployment["entrypoint"])
    assert flow.fn.__name__ == func == Path(path).stem  # flow file name = flow function name
    params = deployment.get("parameters", {})
    schema = parameter_schema(flow).model_dump_for_openapi()
    assert set(params) <= set(schema["properties"]), f"unknown parameter(s) for {flow.name}"
    # Scheduled runs get nothing but these parameters: they must be complete. Triggered ones get the
    # rest when started (backfill's start/end), so only what is given is checked.
    scheduled = bool(deployment.get("schedules"))
    errors = validate(params, schema, raise_on_error=False, ignore_required=not scheduled)
    assert not errors, [e.message for e in errors]
    # The config each deployment points at exists and is valid.
    assert load_config(ROOT / params["config_path"]).model.name == deployment["name"].rsplit("-", 1)[0]
    assert deployment["work_pool"]["name"] == "watchkeeper-process"
    assert deployment["work_pool"]["job_variables"]["env"] == TELEMETRY_OPT_OUTS


def test_schedules_are_the_documented_ones() -> None:
    by_name = {d["name"]: d for d in DEPLOYMENTS}
    assert by_name["credit-risk-daily"]["schedules"] == [{"cron": "0 2 * * *", "timezone": "UTC"}]
    assert by_name["credit-risk-health"]["schedules"] == [{"interval": 300}]
    models = {load_config(p).model.name for p in (ROOT / "configs" / "models").glob("*.yaml")}
    triggered = {n for n, d in by_name.items() if not d.get("schedules")}
    assert triggered == {
        f"{m}-{kind}" for m in models for kind in ("backfill", "retrain", "deploy", "rollback")
    }


def test_retraining_deployment_names_match_what_the_monitor_calls() -> None:
    from watchkeeper.retraining import deploy_deployment_name, retrain_deployment_name

    config = load_config(ROOT / "configs/models/credit-risk.yaml")
    full = {f"{_flow(d['entrypoint']).name}/{d['name']}" for d in DEPLOYMENTS}
    assert retrain_deployment_name(config) in full
    assert deploy_deployment_name(config) in full


def test_serve_builds_the_same_deployments() -> None:
    from flows.serve import build_deployments, deployment_specs

    credit_risk = [d for d in DEPLOYMENTS if d["name"].startswith("credit-risk-")]
    specs = deployment_specs("configs/models/credit-risk.yaml")
    in_yaml = [{k: v for k, v in d.items() if k != "work_pool"} for d in credit_risk]
    assert specs == in_yaml

    built = build_deployments(["configs/models/credit-risk.yaml"])
    assert [d.name for d in built] == [d["name"] for d in credit_risk]
    daily = built[0]
    assert daily.parameters == {"config_path": "configs/models/credit-risk.yaml"}
    (schedule,) = daily.schedules
    assert schedule.schedule.cron == "0 2 * * *" and schedule.schedule.timezone == "UTC"
    assert built[2].schedules[0].schedule.interval.total_seconds() == 300
    assert all(
        not d.schedules for d in built if d.name.endswith(("backfill", "retrain", "deploy", "rollback"))
    )


def test_rollback_cli_finds_a_model_config_by_name() -> None:
    from watchkeeper.config import find_model_config

    assert find_model_config("credit-risk", ROOT / "configs/models") == str(
        ROOT / "configs/models/credit-risk.yaml"
    )
    with pytest.raises(ValueError, match="no config for model 'nope'"):
        find_model_config("nope", ROOT / "configs/models")
