"""Evidently's page of a window: drift of features and predictions, target drift and the quality
preset once labels exist, and its drift scores beside Watchkeeper's with the reason they differ.

Real Evidently and Watchkeeper's real drift engine on tiny seeded frames.
"""

from __future__ import annotations

import html
import re

import numpy as np
import pandas as pd
import pytest

from watchkeeper.drift import DriftReport, evaluate_drift, fit_drift
from watchkeeper.drift.html import render_evidently_html, sample_evidently_inputs, with_drift

pytestmark = pytest.mark.filterwarnings("ignore")


def requests(n: int, shift: float, seed: int, *, labeled: float = 1.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(shift, 1, n)
    score = 1 / (1 + np.exp(-x))
    label = (rng.random(n) < score).astype("float64")  # joined labels are floats, NaN until known
    label[rng.random(n) >= labeled] = np.nan
    color = pd.Categorical(rng.choice(["red", "blue", "green"], n))  # windows come typed
    return pd.DataFrame({"x": x, "color": color, "score": score, "label": label})


def drift_table(reference: pd.DataFrame, current: pd.DataFrame, *, labels: bool) -> DriftReport:
    """Watchkeeper's drift table of the window, as the drift check computes it."""
    profile = fit_drift(
        reference, numerical=["x"], categorical=["color"], prediction=["score"], target="label"
    )
    return evaluate_drift(profile, current, prediction=["score"], include_target=labels)


def page_of(reference: pd.DataFrame, current: pd.DataFrame, *, cap: int, labels: bool) -> str:
    inputs = sample_evidently_inputs(
        reference,
        current,
        numerical=["x"],
        categorical=["color"],
        target="label" if labels else None,
        prediction="score",
        task="classification",
        sample_cap=cap,
    )
    return render_evidently_html(with_drift(inputs, drift_table(reference, current, labels=labels)))


def comparison(page: str) -> dict[str, list[str]]:
    """The comparison table's rows by column: role, method, threshold, Watchkeeper, page, agreement."""
    table = re.search(r'<table id="watchkeeper-drift-comparison".*?</table>', page, re.S)
    assert table is not None
    rows = re.findall(r"<tr>(.*?)</tr>", table.group(0), re.S)[1:]
    cells = [[html.unescape(c) for c in re.findall(r"<td>(.*?)</td>", row)] for row in rows]
    return {c[0]: c[1:] for c in cells}


@pytest.fixture(scope="module")
def labeled_page() -> str:
    # 70 % of the window labeled (late labels arrived); both sides within the cap: the full data.
    return page_of(requests(300, 0.0, 1), requests(300, 0.4, 2, labeled=0.7), cap=1_000, labels=True)


def test_labeled_window_has_prediction_and_target_drift_and_quality(labeled_page: str) -> None:
    assert "Data and prediction drift: a sample of all the window's rows" in labeled_page
    assert "Target drift and classification quality: a sample of the window's labeled rows" in labeled_page
    assert "preset was left out" not in labeled_page
    assert re.search(r"labeled rows: reference 300 of 300, current (\d+) of \1\.", labeled_page)
    # Evidently's own widgets of each part: the drift table, prediction and target drift, quality.
    for widget in (
        "Data Drift Summary",
        "Drift in column 'score'",
        "Drift in column 'label'",
        "Current: Model Quality Metrics",
        "RocAuc metric (current)",
    ):
        assert widget in labeled_page, widget


def test_scores_on_the_full_data_agree_with_watchkeepers(labeled_page: str) -> None:
    rows = comparison(labeled_page)
    assert set(rows) == {"x", "color", "score", "label"}
    assert [rows[c][0] for c in ("x", "color", "score", "label")] == [
        "feature",
        "feature",
        "prediction",
        "target",
    ]
    # Same rows, same method and threshold: the same score and decision, column by column.
    for column, (_, _, _, ours, theirs, agreement) in rows.items():
        assert agreement == "same", column
        assert ours == theirs, column
    assert rows["x"][3].endswith("drift")  # the window shifted x by 0.4 σ: both call it drift


def test_sampled_sides_say_why_the_scores_differ() -> None:
    page = page_of(requests(600, 0.0, 3), requests(400, 0.4, 4), cap=200, labels=False)
    rows = comparison(page)
    assert rows["x"][-1].startswith(
        "differs: reference sampled: 200 of 600 rows; window sampled: 200 of 400 rows; "
    )
    assert rows["x"][-1].endswith(("; same decision", "; the decision differs: Watchkeeper's counts"))
    assert "label" not in rows  # no labels: no target drift in either table
    assert "no labels yet: no target drift or quality section" in page
    assert "Target drift and" not in page


def test_page_without_a_drift_table_uses_evidentlys_own_choices() -> None:
    # `build_evidently_html` (notebooks): no Watchkeeper table to compare with, Evidently decides.
    reference, current = requests(120, 0.0, 5), requests(120, 0.3, 6)
    inputs = sample_evidently_inputs(
        reference, current, numerical=["x"], categorical=["color"], target="label", prediction="score"
    )
    page = render_evidently_html(inputs)
    assert 'id="watchkeeper-drift-comparison"' not in page
    assert "Target drift and classification quality" in page
