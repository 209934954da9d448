"""The demo registers every model it monitors (Prefect harness, a real MLflow SQLite store).

Each window's MLflow run is linked to the registered version that scored it; a model missing from
the registry made every first evaluation warn "could not link run … to its model versions".
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from watchkeeper import tracking

pytestmark = pytest.mark.slow


def test_the_demo_registers_both_models_and_links_each_window_run_to_its_version(state: Path) -> None:
    from flows.demo import demo

    demo(days=1, rows_per_day=300, seed=7, fresh=True, house_prices=True)

    # Every record of the runs, as the JSON log holds them (pytest's caplog does not receive the
    # flow runs' records).
    records = [json.loads(line) for line in (state / "logs" / "watchkeeper.jsonl").read_text().splitlines()]
    assert {r["model"] for r in records} >= {"credit-risk", "house-prices"}
    assert [r["message"] for r in records if "could not link run" in r["message"]] == []
    client = MlflowClient(os.environ["MLFLOW_TRACKING_URI"])
    for model in ("credit-risk", "house-prices"):
        champion = client.get_model_version_by_alias(model, "champion")
        assert str(champion.version) == "1", model
        exp = client.get_experiment_by_name(f"watchkeeper/{model}")
        assert exp is not None, model
        (run,) = client.search_runs(
            [exp.experiment_id], filter_string=f"tags.`{tracking.TAG_KIND}` = 'monitor'"
        )
        # MLflow's SQL registry returns no `model_id`: the logged model is the one in the source.
        assert champion.source.startswith("models:/m-"), champion.source
        inputs = client.get_run(run.info.run_id).inputs.model_inputs  # search_runs leaves them out
        assert [m.model_id for m in inputs] == [champion.source.removeprefix("models:/")], model
