"""The demo's joint shift (days 3-4): every marginal unchanged, the joint distribution moved."""

from __future__ import annotations

from datetime import timedelta

import numpy as np

from watchkeeper import demo_data
from watchkeeper.drift import detect_drift
from watchkeeper.drift.config import MultivariateConfig
from watchkeeper.drift.multivariate import evaluate_multivariate, fit_multivariate
from watchkeeper.schema import ColumnsConfig

COLUMNS = ColumnsConfig(
    numerical_features=demo_data.NUMERICAL, categorical_features=demo_data.CATEGORICAL, timestamp="timestamp"
)


def test_joint_shift_keeps_every_column_s_values():
    frame, _ = demo_data.make_day(1)
    shifted = demo_data.apply_joint_shift(frame)
    for col in demo_data.NUMERICAL:
        np.testing.assert_array_equal(np.sort(shifted[col].to_numpy()), np.sort(frame[col].to_numpy()))
    assert shifted["income"].corr(shifted["loan_amount"], method="spearman") > 0.99
    assert abs(frame["income"].corr(frame["loan_amount"], method="spearman")) < 0.1
    assert demo_data.day_plan(3).joint_shift and not demo_data.day_plan(5).joint_shift


def test_multivariate_drift_catches_the_joint_shift_days_and_univariate_drift_does_not():
    # The demo's reference: the newest 12 of 20 days of history (flows/demo.py).
    history = demo_data.make_reference(7, rows=30_000, days=20)
    history = history[history["timestamp"] >= history["timestamp"].min() + timedelta(days=8)]
    config = MultivariateConfig(domain_classifier=False)
    fitted = fit_multivariate(
        history, config, columns=COLUMNS, chunk_rows=None, window_size=timedelta(days=1)
    )
    alerts = {}
    for day in (1, 2, 3, 4):
        frame, _ = demo_data.make_day(day)
        alerts[day] = evaluate_multivariate(fitted, frame).reconstruction.alert
        univariate = detect_drift(
            history, frame, numerical=list(demo_data.NUMERICAL), categorical=list(demo_data.CATEGORICAL)
        )
        assert univariate.n_drifted == 0
    assert alerts == {1: False, 2: False, 3: True, 4: True}
