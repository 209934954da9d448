"""A demo-like window in memory (drifted day, duplicated request ids across the window), its
reference and labels, fitted once per module, for the partitioned engine's tests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from watchkeeper import demo_data
from watchkeeper.checks import standard_checks
from watchkeeper.config import LoadedConfig, MonitorConfig, load_config_file
from watchkeeper.execution import ExecutionConfig
from watchkeeper.monitoring import FittedChecks, WindowEvaluation, fit_checks
from watchkeeper.partitioned.engine import LocalMapper, evaluate_partitioned, plan_window
from watchkeeper.sources import register_memory_frame, unregister_memory_frame
from watchkeeper.windows import Labels, ReferenceData, read_labels

REPO = Path(__file__).resolve().parents[3]
_OWN = object()  # `Window.partitioned`: the window's own labels
DAY = 8  # covariate drift, a new category ("crypto")


def scored(frame: pd.DataFrame) -> pd.DataFrame:
    score = demo_data.default_probability(frame, concept_drift=False)
    version = pd.Series(["1"] * len(frame)).where(frame.index % 5 != 0, "2").to_numpy()
    return frame.assign(score=score, prediction=(score >= 0.5).astype("int64"), model_version=version)


@dataclass
class Window:
    loaded: LoadedConfig
    logs: pd.DataFrame
    labels: Labels | None
    fitted: FittedChecks
    start: datetime
    end: datetime

    @property
    def config(self) -> MonitorConfig:
        return self.loaded.config

    def partitioned(
        self,
        *,
        n_partitions: int | None = None,
        partition_rows: int | None = None,
        fitted: FittedChecks | None = None,
        labels: Labels | object | None = _OWN,
        labels_complete: bool = True,
        memory_budget: int | None = None,
        workers: int = 2,
        checks: tuple[Any, ...] = (),
    ) -> WindowEvaluation:
        """This window cut into `n_partitions` (or partitions of `partition_rows`) and evaluated on
        the local mapper; `fitted` and `labels` default to the window's own, `memory_budget` to
        the execution config's."""
        rows = partition_rows if n_partitions is None else -(-len(self.logs) // n_partitions)
        execution = ExecutionConfig(partition_rows=rows)
        source = plan_window(self.config, execution, self.start, self.end, frame=self.logs, force=True)
        assert source is not None
        if n_partitions is not None:
            assert len(source.partitions) == n_partitions
        return evaluate_partitioned(
            self.fitted if fitted is None else fitted,
            source,
            LocalMapper(workers),
            config=self.config,
            config_hash=self.loaded.hash,
            start=self.start,
            end=self.end,
            labels=self.labels if labels is _OWN else labels,  # type: ignore[arg-type]
            labels_complete=labels_complete,
            memory_budget=execution.memory_budget if memory_budget is None else memory_budget,
            checks=checks,
        )


def make_window(tmp: Path, *, rows: int, name: str, extra: dict[str, Any] | None = None) -> Window:
    reference = scored(demo_data.make_reference(3, rows=3_000, days=6))
    logs, labels = demo_data.make_day(DAY, 3, rows=rows)
    logs = scored(logs)
    # The same request logged again later in the day: a duplicate across any cut of the window.
    again = logs.iloc[[3, 10, 11]].assign(timestamp=logs["timestamp"].iloc[-1] - pd.Timedelta(seconds=1))
    logs = pd.concat([logs, again], ignore_index=True).sort_values("timestamp", kind="stable")
    logs = logs.reset_index(drop=True)
    config = yaml.safe_load((REPO / "configs/models/credit-risk.yaml").read_text())
    config["model"]["name"] = name
    config["expectations"]["suite"] = str(REPO / "configs/expectations/credit-risk.yaml")
    config["sources"] = {
        "inference_logs": {"type": "memory", "name": f"{name}-logs"},
        "ground_truth": {"type": "memory", "name": f"{name}-labels"},
        "reference": {"type": "memory", "name": f"{name}-reference"},
    }
    config.update(extra or {})
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    register_memory_frame(f"{name}-logs", logs)
    register_memory_frame(f"{name}-labels", labels)
    register_memory_frame(f"{name}-reference", reference)
    loaded = load_config_file(path)
    checks = standard_checks(path, cache_dir=None, with_html=False)
    fitted = fit_checks(checks, ReferenceData(reference), loaded.config)
    start = demo_data.day_plan(DAY).start
    return Window(loaded, logs, read_labels(loaded.config), fitted, start, start + timedelta(days=1))


@pytest.fixture(scope="module")
def window(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Window]:
    w = make_window(tmp_path_factory.mktemp("partitioned"), rows=6_000, name="part-model")
    yield w
    for suffix in ("logs", "labels", "reference"):
        unregister_memory_frame(f"part-model-{suffix}")
