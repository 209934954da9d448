"""End-to-end fixtures: one Prefect test harness per session, a real MLflow SQLite store per test."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import yaml

from watchkeeper import demo_data


@pytest.fixture(scope="session", autouse=True)
def prefect_harness() -> Iterator[None]:
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=60):
        yield


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "state"
    monkeypatch.setenv("WATCHKEEPER_STATE_DIR", str(root))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    return root


def _scored(frame: pd.DataFrame, *, concept_drift: bool = False) -> pd.DataFrame:
    # A model that knows the pre-drift truth: good scores without training anything.
    score = demo_data.default_probability(frame, concept_drift=False)
    return frame.assign(score=score, prediction=(score >= 0.5).astype("int64"), model_version="1")


class Scenario:
    """Demo-like data written under a temp dir, with a config pointing at it."""

    def __init__(self, root: Path, rows_per_day: int = 600) -> None:
        self.root = root
        self.rows = rows_per_day
        reference = demo_data.make_reference(3, rows=3_000, days=6)
        (root / "reference").mkdir(parents=True)
        _scored(reference).to_parquet(root / "reference" / "ref.parquet")
        # The ground truth's directory exists before any label arrives (a path that does not exist
        # is the critical `label_source_unreadable`, a typo).
        (root / "labels").mkdir()
        self.config_path = root / "model.yaml"
        repo = Path(__file__).resolve().parents[2]
        config = yaml.safe_load((repo / "configs/models/credit-risk.yaml").read_text())
        config["model"]["name"] = "e2e-model"
        config["expectations"]["suite"] = str(repo / "configs/expectations/credit-risk.yaml")
        config["sources"] = {
            "inference_logs": {"type": "parquet", "path": str(root / "inference"), "partitioning": "hive"},
            "ground_truth": {"type": "parquet", "path": str(root / "labels"), "partitioning": "hive"},
            "reference": {"type": "parquet", "path": str(root / "reference" / "ref.parquet")},
        }
        self.config_path.write_text(yaml.safe_dump(config))

    def write_day(self, day: int) -> pd.DataFrame:
        logs, labels = demo_data.make_day(day, 3, rows=self.rows)
        target = self.root / "inference" / f"date={demo_data.day_plan(day).start:%Y-%m-%d}"
        target.mkdir(parents=True)
        _scored(logs).to_parquet(target / "part-0.parquet")
        return labels

    def write_labels(self, day: int, labels: pd.DataFrame, *, arrived: datetime | None = None) -> None:
        """Write `day`'s labels as arrived at `arrived` (their `label_timestamp`; default: the end of
        the day's window, so a run of that window or any later one joins them once written)."""
        target = self.root / "labels" / f"day={day}"
        target.mkdir(parents=True)
        stamp = pd.Timestamp(arrived if arrived is not None else self.window_end(day))
        labels.assign(label_timestamp=stamp).to_parquet(target / "part-0.parquet")

    @staticmethod
    def window_end(day: int) -> datetime:
        return demo_data.day_plan(day).start + timedelta(days=1)


@pytest.fixture
def scenario(tmp_path: Path, state: Path) -> Scenario:
    return Scenario(tmp_path / "data")
