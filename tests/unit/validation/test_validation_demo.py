"""The demo's story as validation sees it: day 5's broken join is critical, drift days are not.

Drift (lower incomes, bigger loans, a new loan purpose) must not block retraining; the day-5
incident (a quarter of `income` missing, `credit_score` holding 9999) must. The suite is generated
from the demo's reference exactly as `watchkeeper expectations generate` would.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from watchkeeper import demo_data
from watchkeeper.config import ColumnsConfig
from watchkeeper.validation import (
    ExpectationSuiteSpec,
    estimate_window_rows,
    generate_suite,
    validate_window,
)
from watchkeeper.verdict import Severity

COLUMNS = ColumnsConfig(
    numerical_features=(
        "age",
        "income",
        "loan_amount",
        "credit_score",
        "debt_to_income",
        "months_employed",
        "num_credit_lines",
    ),
    categorical_features=("home_ownership", "purpose", "employment_type"),
    score="score",
    target="defaulted",
)


def with_outputs(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    # The demo scores with a trained model; any probability in [0, 1] serves here.
    score = np.random.default_rng(seed).random(len(frame))
    return frame.assign(score=score, prediction=(score > 0.5).astype("int64"))


@pytest.fixture(scope="module")
def demo_suite() -> ExpectationSuiteSpec:
    reference = with_outputs(demo_data.make_reference(rows=5_000), 0)
    rows = estimate_window_rows(reference, "timestamp", timedelta(days=1))
    assert rows == 250  # 5,000 rows over 20 days
    return generate_suite(reference, columns=COLUMNS, model_name="credit-risk", window_rows=rows)


def test_day_5_incident_is_critical(demo_suite: ExpectationSuiteSpec) -> None:
    frame, _ = demo_data.make_day(5)
    report = validate_window(with_outputs(frame, 5), demo_suite)
    assert {(r.type, r.column) for r in report.failures if r.severity is Severity.CRITICAL} == {
        ("expect_column_values_to_not_be_null", "income"),
        ("expect_column_values_to_be_between", "credit_score"),
    }
    assert report.findings()[0].severity is Severity.CRITICAL
    assert not report.usable_for_training


@pytest.mark.parametrize("day", [1, 9])  # a normal day; a drifted day with a latency spike
def test_other_days_are_usable_for_training(demo_suite: ExpectationSuiteSpec, day: int) -> None:
    frame, _ = demo_data.make_day(day)
    report = validate_window(with_outputs(frame, day), demo_suite)
    assert report.critical_failures == 0
    assert report.usable_for_training
    # From day 8 a loan purpose never seen in the reference appears: a warning, not broken data.
    unseen = [r.unexpected_sample for r in report.failures if r.column == "purpose"]
    assert unseen == ([("crypto",)] if day >= 8 else [])
