"""The Evidently HTML report built on a seeded, capped sample."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from watchkeeper.drift import build_evidently_html

pytestmark = pytest.mark.filterwarnings("ignore")


def frames(n: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(0)

    def one(shift: float) -> pd.DataFrame:
        x = rng.normal(shift, 1, n)
        return pd.DataFrame(
            {
                "x": x,
                "color": rng.choice(["red", "blue"], n),
                "label": (x + rng.normal(0, 1, n) > 0).astype(int),
                "pred": (x > 0).astype(int),
            }
        )

    return one(0.0), one(0.5)


# `frames`' columns as a classification model's, at a cap below their 120 rows.
CLASSIFICATION: dict[str, Any] = {
    "numerical": ["x"],
    "categorical": ["color"],
    "target": "label",
    "prediction": "pred",
    "task": "classification",
    "sample_cap": 100,
}


@pytest.mark.slow
def test_html_report_states_the_sample_cap_and_includes_classification() -> None:
    reference, current = frames(120)
    page = build_evidently_html(reference, current, **CLASSIFICATION)
    assert page.lstrip().lower().startswith("<!doctype html") or "<html" in page[:500].lower()
    assert 'id="watchkeeper-sample-note"' in page
    assert "preset was left out" not in page
    assert "at most 100 rows per side" in page
    assert "reference 100 of 120 rows, current 100 of 120 rows" in page
    assert len(page) > 10_000  # Evidently's page embeds its widgets


@pytest.mark.slow
def test_html_report_without_labels_is_drift_only() -> None:
    reference, current = frames(60)
    page = build_evidently_html(reference, current, numerical=["x"], categorical=["color"])
    assert "reference 60 of 60 rows" in page


@pytest.mark.slow
def test_html_report_with_regression_labels() -> None:
    rng = np.random.default_rng(1)

    def one(shift: float) -> pd.DataFrame:
        x = rng.normal(shift, 1, 80)
        return pd.DataFrame({"x": x, "y": 2 * x + rng.normal(0, 0.1, 80), "y_hat": 2 * x})

    page = build_evidently_html(
        one(0.0), one(0.3), numerical=["x"], categorical=[], target="y", prediction="y_hat"
    )
    assert "preset was left out" not in page
    assert "reference 80 of 80 rows" in page


@pytest.mark.slow
def test_html_report_classification_on_joined_float_labels_and_a_score() -> None:
    # The monitor's case: labels joined to the logs are floats (NaN where missing) and the model
    # gives a probability; the classification preset must still be on the page.
    rng = np.random.default_rng(2)

    def one(n: int) -> pd.DataFrame:
        score = rng.random(n)
        label = (rng.random(n) < score).astype("float64")
        label[:5] = np.nan
        return pd.DataFrame({"x": rng.normal(size=n), "score": score, "label": label})

    current = one(300)
    page = build_evidently_html(
        one(300).dropna(),
        current,
        numerical=["x"],
        categorical=[],
        target="label",
        prediction="score",
        labeled_rows=np.flatnonzero(current["label"].notna().to_numpy()),  # the labeled rows
    )
    assert "preset was left out" not in page
