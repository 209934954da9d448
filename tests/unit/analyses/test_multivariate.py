"""Multivariate drift on small seeded data: a joint shift that no single feature shows, and bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from watchkeeper.alerting.fields import is_known_field
from watchkeeper.drift import detect_drift
from watchkeeper.drift.config import MultivariateConfig
from watchkeeper.drift.multivariate import evaluate_multivariate, fit_multivariate
from watchkeeper.schema import ColumnsConfig

COLUMNS = ColumnsConfig(numerical_features=("a", "b", "c"), categorical_features=("kind",))
CONFIG = MultivariateConfig(classifier_sample=600)


def frame(rng: np.random.Generator, n: int, rho: float) -> pd.DataFrame:
    x = rng.multivariate_normal([0, 0, 0], [[1, rho, 0], [rho, 1, 0], [0, 0, 1]], size=n)
    kind = np.where(rng.random(n) < 0.4, "p", "q")
    return pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "kind": kind})


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(3)
    return fit_multivariate(frame(rng, 4000, 0.9), CONFIG, columns=COLUMNS, chunk_rows=500, window_size=None)


def test_joint_shift_with_unchanged_marginals_is_caught_where_univariate_drift_is_not(fitted):
    rng = np.random.default_rng(4)
    reference, same, flipped = frame(rng, 4000, 0.9), frame(rng, 500, 0.9), frame(rng, 500, -0.9)
    univariate = detect_drift(reference, flipped, numerical=["a", "b", "c"], categorical=["kind"])
    assert univariate.n_drifted == 0  # every marginal is unchanged
    calm, shifted = evaluate_multivariate(fitted, same), evaluate_multivariate(fitted, flipped)
    assert not calm.reconstruction.alert and not calm.classifier.alert
    assert shifted.reconstruction.alert and shifted.reconstruction.value > shifted.reconstruction.upper
    assert shifted.classifier.alert and shifted.classifier.auc > 0.65
    assert len(shifted.findings()) == 2 and calm.findings() == []
    figures = shifted.figures()
    assert figures["alert"] == 1.0 and figures["domain_classifier.alert"] == 1.0
    # The alert rule of the issue is expressible over these names.
    assert all(is_known_field(f"drift.multivariate.{k}") for k in figures)


def test_too_few_reference_rows_for_chunked_thresholds_report_the_value_without_judging():
    rng = np.random.default_rng(5)
    fit = fit_multivariate(frame(rng, 300, 0.9), CONFIG, columns=COLUMNS, chunk_rows=500, window_size=None)
    report = evaluate_multivariate(fit, frame(rng, 200, -0.9))
    r = report.reconstruction
    assert r.value is not None and r.upper is None and not r.alert
    assert r.status.startswith("not judged: no thresholds: 1 reference chunk(s)")


def test_a_constant_feature_is_named_and_the_others_still_count():
    rng = np.random.default_rng(6)
    ref = frame(rng, 2000, 0.9).assign(c=1.0)
    fit = fit_multivariate(ref, CONFIG, columns=COLUMNS, chunk_rows=500, window_size=None)
    report = evaluate_multivariate(fit, frame(rng, 500, 0.9).assign(c=1.0))
    assert fit.reconstruction.constant == ("c",)
    assert any("constant in the reference" in n and "c" in n for n in report.notes)
    assert report.reconstruction.value is not None and not report.reconstruction.alert


def test_every_feature_constant_is_a_status_not_a_crash():
    ref = pd.DataFrame({"a": np.ones(600), "b": np.zeros(600), "c": np.ones(600), "kind": ["p"] * 600})
    fit = fit_multivariate(ref, CONFIG, columns=COLUMNS, chunk_rows=100, window_size=None)
    report = evaluate_multivariate(fit, ref.iloc[:100])
    assert fit.reconstruction is None
    assert report.reconstruction.status.startswith("not computed: every feature is constant")


def test_missing_window_column_unseen_category_and_nan_are_statuses(fitted):
    rng = np.random.default_rng(7)
    window = frame(rng, 400, 0.9)
    report = evaluate_multivariate(fitted, window.drop(columns=["c"]))
    assert report.reconstruction.status == "not computed: column(s) missing from the window: c"
    assert report.classifier.auc is None
    window.loc[:50, "kind"] = "never-seen"
    window.loc[50:80, "a"] = np.nan
    window.loc[80:90, "b"] = np.inf
    report = evaluate_multivariate(fitted, window)
    assert np.isfinite(report.reconstruction.value) and report.classifier.auc is not None


def test_fewer_than_two_features_is_not_computed():
    cols = ColumnsConfig(numerical_features=("a",))
    fit = fit_multivariate(
        pd.DataFrame({"a": np.arange(100.0)}), CONFIG, columns=cols, chunk_rows=10, window_size=None
    )
    assert fit.reconstruction is None and fit.reconstruction_status.startswith(
        "not computed: 1 feature column"
    )
