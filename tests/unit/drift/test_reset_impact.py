"""Drift impact on the model: a feature reset to its reference, the window re-scored by the model
registered in a real MLflow SQLite registry, and the ranking shown in the drift table, the drift
alert and the dashboard."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from tasks.impact_tasks import open_model_source
from tasks.registry_tasks import register_model
from tests.unit.performance.synth import DAY, START
from watchkeeper.alerting.evidence import drift_details as _drift_details
from watchkeeper.checks import DriftCheck, Window
from watchkeeper.config import TaskType, parse_config
from watchkeeper.dashboard.data import DashboardWindow
from watchkeeper.dashboard.page import drifted_columns
from watchkeeper.drift.impact import order_drift_rows, rank_drift_impact
from watchkeeper.drift.reset_impact import ResetImpactCheck, measure_reset_impact
from watchkeeper.monitoring import evaluate_window, fit_checks
from watchkeeper.training import score_frame, train_default
from watchkeeper.windows import ReferenceData, WindowData, WindowReport

CONFIG = parse_config(
    {
        "model": {"name": "impact-m", "task": "binary_classification"},
        "columns": {
            "numerical_features": ["x1", "x2", "x3"],
            "categorical_features": ["region"],
            "target": "y",
            "score": "score",
            "model_version": "model_version",
        },
        "sources": {
            "inference_logs": {"type": "memory", "name": "a"},
            "reference": {"type": "memory", "name": "b"},
        },
        "drift": {"reset_sample": 1_500},
    }
)


def frame(rng: np.random.Generator, n: int, *, shift: float = 0.0) -> pd.DataFrame:
    """y depends on x1 (strongly) and x3; x2 and region are noise. `shift` moves x1 and x2 alike."""
    x1 = rng.normal(shift, 1.0, n)
    x2 = rng.normal(shift, 1.0, n)
    x3 = rng.normal(0.0, 1.0, n)
    p = 1 / (1 + np.exp(-(2.0 * x1 + 0.5 * x3 - 0.2)))
    return pd.DataFrame(
        {
            "x1": x1,
            "x2": x2,
            "x3": x3,
            "region": rng.choice(["n", "s"], n),
            "y": (rng.random(n) < p).astype("int64"),
            "model_version": "1",
        }
    )


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> MlflowClient:
    """A real MLflow SQLite store with version 1 of the model registered under `champion`."""
    root: Path = tmp_path_factory.mktemp("mlflow")
    client = MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    reference = frame(np.random.default_rng(0), 4_000)
    model = train_default(reference, columns=CONFIG.columns, task=TaskType.BINARY, seed=0)
    register_model.fn(
        model,
        client=client,
        experiment="impact/training",
        registered_name=CONFIG.model.registry_name,
        training_frame=reference,
        columns=CONFIG.columns,
        task_type=TaskType.BINARY,
        dataset_name="reference",
        params={},
        metrics={},
        version_tags={},
        aliases=("champion",),
    )
    return client


def scored(model: object, data: pd.DataFrame) -> pd.DataFrame:
    return data.assign(score=score_frame(model, data, columns=CONFIG.columns, task=TaskType.BINARY)["score"])


def test_the_feature_the_model_relies_on_ranks_first_through_the_runner(registry: MlflowClient):
    models = open_model_source(CONFIG, client=registry)
    model = models("1")
    rng = np.random.default_rng(1)
    reference = scored(model, frame(rng, 4_000))
    window = scored(model, frame(rng, 2_000, shift=1.5))
    checks = (DriftCheck(), ResetImpactCheck(models))
    fitted = fit_checks(checks, ReferenceData(reference, None), CONFIG)
    result = evaluate_window(
        checks,
        fitted,
        config=CONFIG,
        config_hash="h",
        start=START,
        end=START + DAY,
        load=lambda: WindowData(window, WindowReport(START, START + DAY, len(window), len(window), 0, 0)),
        labels_complete=True,
    )
    assert result.report.errors == {}
    reset = result.report.section("drift.reset")
    assert reset.metric == "realized roc_auc" and reset.model_version == "1" and reset.n_rows == 1_500
    changes = {f.feature: f.change for f in reset.features}
    # x1 carries the labels: drawn from the reference, the AUC collapses; x2 is noise to the model.
    assert changes["x1"] < -0.2
    assert abs(changes["x2"]) < 0.01 and abs(changes["x2"]) < abs(changes["x3"])

    impact = rank_drift_impact(
        [], result.report.figures(), features=CONFIG.columns.features, metric="roc_auc", reset=reset
    )
    assert [f.feature for f in impact.features][:2] == ["x1", "x3"]
    assert impact.figures()["x1.rank"] == 1.0 and impact.figures()["x1.reset_change"] == changes["x1"]

    # The drift table: drifted features first, by impact (x1 before x2 though both drifted).
    rows = order_drift_rows(result.publication.tables["drift"], impact)
    drifted = [r["column"] for r in rows if r["drifted"] == "yes" and r["role"] == "feature"]
    assert drifted[:2] == ["x1", "x2"] and rows[0]["impact_rank"] == 1
    assert rows[0]["reset_change"] == changes["x1"]


def test_a_rerun_gives_the_same_figures_and_without_labels_the_mean_score_moves(registry: MlflowClient):
    model = open_model_source(CONFIG, client=registry)(None)  # the champion
    rng = np.random.default_rng(2)
    reference = frame(rng, 3_000)
    window = frame(rng, 1_000, shift=1.5).assign(y=np.nan)
    args = {"columns": CONFIG.columns, "task": TaskType.BINARY, "sample": 500}
    first = measure_reset_impact(model, reference, window, **args)
    assert first == measure_reset_impact(model, reference, window, **args)
    assert first.metric == "mean score" and first.n_rows == 500
    changes = {f.feature: f.change for f in first.features}
    # x1 moved up by 1.5: reset, the mean score falls back; x2 does not move the model.
    assert changes["x1"] < -0.15 and abs(changes["x2"]) < 0.01


def test_a_version_missing_from_the_registry_is_reported_not_raised(registry: MlflowClient):
    check = ResetImpactCheck(open_model_source(CONFIG, client=registry))
    rng = np.random.default_rng(3)
    fitted = check.fit(ReferenceData(frame(rng, 500), None), CONFIG)
    window = Window(CONFIG, START, START + DAY, frame(rng, 300).assign(model_version="7"))
    report = check.evaluate(fitted, window)
    assert report is not None and report.status.startswith("not measured: version 7 not loadable")
    assert all(f.change is None for f in report.features)


def test_the_alert_and_the_dashboard_name_the_top_impact_feature_first():
    figures = {
        "drift.x1.drifted": 1.0,
        "drift.x1.score": 0.2,
        "drift.x2.drifted": 1.0,
        "drift.x2.score": 0.9,
        "drift.impact.x1.rank": 1.0,
        "drift.impact.x2.rank": 2.0,
    }
    # x2 has the worse drift score, x1 the larger impact: x1 is named first.
    assert _drift_details(figures) == (
        "Drifted feature columns (2):",
        "x1 (0.2, impact rank 1)",
        "x2 (0.9, impact rank 2)",
    )
    windows = tuple(
        DashboardWindow(START + i * DAY, START + (i + 1) * DAY, "ok", (), ("1",), f)
        for i, f in enumerate([{"drift.a.score": 0.1, "drift.x2.score": 0.1}, figures])
    )
    assert drifted_columns(windows) == ["x1", "x2", "a"]


def test_a_regression_model_gives_the_realized_mae_change_and_without_labels_the_mean_prediction():
    config = parse_config(
        {
            "model": {"name": "prices", "task": "regression"},
            "columns": {
                "numerical_features": ["size", "noise"],
                "target": "price",
                "prediction": "prediction",
            },
            "sources": {
                "inference_logs": {"type": "memory", "name": "a"},
                "reference": {"type": "memory", "name": "b"},
            },
        }
    )
    rng = np.random.default_rng(4)

    def houses(n: int, shift: float) -> pd.DataFrame:
        size = rng.normal(100 + shift, 20, n)
        return pd.DataFrame(
            {"size": size, "noise": rng.normal(0, 1, n), "price": 3 * size + rng.normal(0, 5, n)}
        )

    reference = houses(3_000, 0.0)
    model = train_default(reference, columns=config.columns, task=TaskType.REGRESSION, seed=0)
    window = houses(1_000, 40.0)
    args = {"columns": config.columns, "task": TaskType.REGRESSION, "sample": 800}
    labeled = measure_reset_impact(model, reference, window, **args)
    changes = {f.feature: f.change for f in labeled.features}
    # size drawn from the reference no longer matches the window's prices: the MAE grows by ~3·|Δsize|.
    assert labeled.metric == "realized mae" and changes["size"] > 50 and abs(changes["noise"]) < 1
    unlabeled = measure_reset_impact(model, reference, window.assign(price=np.nan), **args)
    changes = {f.feature: f.change for f in unlabeled.features}
    # Reset, the sizes fall back by 40 on average: the mean prediction by ~120.
    assert unlabeled.metric == "mean prediction" and changes["size"] == pytest.approx(-120, rel=0.1)
