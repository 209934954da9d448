"""The monitor flow on the Dask engine (a LocalCluster, 2 worker processes) in the Prefect harness:
the same verdict, decisions and figures as the local engine, and, against the window evaluated in
memory, the same decisions and exact figures with approximate ones within their bound."""

from __future__ import annotations

import os
from datetime import timedelta

import pandas as pd
import pytest
import yaml

from flows.monitor import monitor
from watchkeeper import demo_data
from watchkeeper.checks import Window
from watchkeeper.config import load_config_file
from watchkeeper.drift.reset_impact import ResetImpactCheck
from watchkeeper.execution import ExecutionConfig
from watchkeeper.monitoring import fit_checks
from watchkeeper.partitioned.agreement import compare_figures, decisions
from watchkeeper.partitioned.engine import DaskMapper, evaluate_partitioned, open_mapper, plan_window
from watchkeeper.training import train_default
from watchkeeper.windows import load_window, read_labels, read_reference

pytestmark = pytest.mark.slow

DAY = 8  # drifted: decisions to agree on


def _write_day(scenario, day: int) -> None:
    labels = scenario.write_day(day)
    # Small row groups: the window becomes several partitions, read by the workers themselves.
    path = next(
        (scenario.root / "inference").glob(f"date={demo_data.day_plan(day).start:%Y-%m-%d}/*.parquet")
    )
    pd.read_parquet(path).to_parquet(path, row_group_size=150)
    scenario.write_labels(day, labels.iloc[: len(labels) // 2])
    config = yaml.safe_load(scenario.config_path.read_text())
    config["execution"] = {"partition_rows": 150}
    scenario.config_path.write_text(yaml.safe_dump(config))


def test_dask_engine_matches_local_engine_and_memory(scenario, monkeypatch: pytest.MonkeyPatch) -> None:
    _write_day(scenario, DAY)
    end = scenario.window_end(DAY)
    in_memory = monitor(str(scenario.config_path), window_end=end)
    assert in_memory.section("partitioned") is None

    monkeypatch.setenv("WATCHKEEPER_MEMORY_BUDGET", "0")  # every window beyond the budget
    monkeypatch.setenv("WATCHKEEPER_ENGINE", "local")
    local = monitor(str(scenario.config_path), window_end=end)
    monkeypatch.setenv("WATCHKEEPER_ENGINE", "dask")
    on_dask = monitor(str(scenario.config_path), window_end=end)

    assert on_dask.section("partitioned").engine == "dask"
    assert on_dask.section("partitioned").partitions == local.section("partitioned").partitions == 4
    assert not on_dask.errors and not local.errors
    assert decisions(on_dask) == decisions(local) == decisions(in_memory)
    # Alert state carries over from run to run (the first run fired them): not the engine's doing.
    stateful = ("alerts.",)
    assert compare_figures(local, on_dask, rel=1e-12, ignore=stateful) == []
    assert compare_figures(in_memory, on_dask, ignore=stateful) == []
    assert on_dask.section("window").labeled == in_memory.section("window").labeled > 0
    # CBPE, the gap test and multivariate drift run on the workers too (no longer left to memory).
    figures, exact = on_dask.figures(), in_memory.figures()
    for key in (
        "perf.estimated.accuracy",
        "drift.multivariate.reconstruction_error",
        "perf.concept.gap.accuracy",
    ):
        assert figures[key] == pytest.approx(exact[key], rel=1e-9), key
    assert (
        figures["drift.multivariate.domain_classifier.auc"]
        == exact["drift.multivariate.domain_classifier.auc"]
    )
    # What the partitioned path cannot evaluate is named, with its reason, and the same on both engines.
    assert on_dask.section("partitioned").not_evaluated == local.section("partitioned").not_evaluated
    for name in on_dask.section("partitioned").not_evaluated:
        assert name not in on_dask.sections


def test_reset_impact_on_dask_is_gathered_and_measured_on_the_driver(scenario) -> None:
    # The workers read the sampled rows; the check (its model loader) stays on the driver.
    _write_day(scenario, DAY)
    config = load_config_file(scenario.config_path).config
    end = scenario.window_end(DAY)
    start = end - timedelta(days=1)
    reference, labels = read_reference(config), read_labels(config)
    model = train_default(reference.frame, columns=config.columns, task=config.model.task)
    calls: list[tuple[str | None, int]] = []

    def models(version: str | None) -> object:
        calls.append((version, os.getpid()))
        return model

    check = ResetImpactCheck(models)
    fitted = fit_checks((check,), reference, config)
    frame = load_window(config, start, end, labels=labels).frame
    exact = check.evaluate(fitted.get(check.name), Window(config, start, end, frame))
    calls.clear()
    execution = ExecutionConfig(engine="dask", memory_budget=0, partition_rows=150)
    source = plan_window(config, execution, start, end, force=True)
    assert source is not None and len(source.partitions) == 4
    with open_mapper(execution) as mapper:
        assert isinstance(mapper, DaskMapper)
        result = evaluate_partitioned(
            fitted,
            source,
            mapper,
            config=config,
            config_hash="h",
            start=start,
            end=end,
            labels=labels,
            labels_complete=True,
            memory_budget=0,
            checks=(check,),
        )
    assert result.report.errors == {}
    got = result.report.section(check.name)
    assert exact is not None and got == exact and got.metric == "realized roc_auc"
    assert calls == [("1", os.getpid())]
