"""The README's "Monitoring your own model", step 1: a user's HistGradientBoosting classifier
registered in MLflow with the call the README gives, then loaded and scored the way the monitor
does (`tasks.impact_tasks.open_model_source`, `watchkeeper.training.score_frame`).

MLflow 3 saves scikit-learn models with skops, which refuses types it does not know: a
HistGradientBoosting model does not register without `skops_trusted_types`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from tasks.impact_tasks import open_model_source
from watchkeeper.config import TaskType, parse_config
from watchkeeper.training import model_inputs, score_frame

pytestmark = pytest.mark.slow  # MLflow logs the model twice (about 20 s of CPU)

CONFIG = parse_config(
    {
        "model": {"name": "churn", "task": "binary_classification"},
        "columns": {
            "numerical_features": ["tenure", "monthly_charges"],
            "categorical_features": ["contract"],
            "target": "churned",
            "score": "score",
        },
        "sources": {
            "inference_logs": {"type": "memory", "name": "logs"},
            "reference": {"type": "memory", "name": "reference"},
        },
    }
)
# What the README lists: the trees' predictor, and with categorical features the check HGB's own
# preprocessing keeps as a partial.
TRUSTED = [
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "functools.partial",
    "sklearn.utils.validation.check_array",
]


def _churn(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "tenure": rng.integers(0, 72, n).astype("float64"),
            "monthly_charges": rng.normal(70, 20, n),
            "contract": rng.choice(["month", "year", "two_year"], n),
        }
    )
    p = 1 / (
        1 + np.exp(0.05 * frame["tenure"] - 0.02 * frame["monthly_charges"] + (frame["contract"] != "month"))
    )
    return frame.assign(churned=(rng.random(n) < p).astype("int64"))


def _user_model(train: pd.DataFrame) -> Any:
    """A HistGradientBoosting classifier on the config's features, categories encoded in the pipeline."""
    from sklearn.compose import make_column_transformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OrdinalEncoder

    columns = CONFIG.columns
    encode = make_column_transformer(
        (
            OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan),
            list(columns.categorical_features),
        ),
        remainder="passthrough",
    )
    trees = HistGradientBoostingClassifier(categorical_features=[0], random_state=0)
    return make_pipeline(encode, trees).fit(model_inputs(train, columns), train[columns.target])


def test_a_hist_gradient_boosting_model_registers_with_trusted_types_and_scores_as_the_monitor_does(
    tmp_path: Path,
) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    train, window = _churn(2_000, 0), _churn(300, 1)
    model = _user_model(train)
    x = model_inputs(train, CONFIG.columns)

    mlflow.set_tracking_uri(uri)
    with mlflow.start_run(), pytest.raises(mlflow.exceptions.MlflowException, match="untrusted types"):
        mlflow.sklearn.log_model(model, name="model", registered_model_name="churn", input_example=x.head(5))
    # The README's call.
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            registered_model_name="churn",
            input_example=x.head(5),
            skops_trusted_types=TRUSTED,
        )
    mlflow.MlflowClient().set_registered_model_alias("churn", "champion", info.registered_model_version)

    # The monitor loads the champion from the registry (a window's own version the same way) and
    # scores the configured feature columns with it.
    loaded = open_model_source(CONFIG, client=MlflowClient(uri))(None)
    scored = score_frame(loaded, window, columns=CONFIG.columns, task=TaskType.BINARY)
    expected = score_frame(model, window, columns=CONFIG.columns, task=TaskType.BINARY)
    pd.testing.assert_frame_equal(scored, expected)
    assert scored["score"].between(0, 1).all() and scored["prediction"].isin([0, 1]).all()
