"""Multivariate drift against NannyML 0.13, on the fixture `tests/fixtures/make_nannyml_fixture.py`
wrote (NannyML runs in a throwaway venv; the docstring there says how to regenerate it)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from watchkeeper.drift.config import MultivariateConfig
from watchkeeper.drift.multivariate import evaluate_multivariate, fit_multivariate
from watchkeeper.schema import ColumnsConfig

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "nannyml"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text())


@pytest.fixture(scope="module")
def multivariate():
    spec = EXPECTED["multivariate"]
    reference = pd.read_csv(FIXTURES / "multivariate_reference.csv")
    analysis = pd.read_csv(FIXTURES / "multivariate_analysis.csv")
    columns = ColumnsConfig(numerical_features=("x1", "x2", "x3", "x4"), categorical_features=("colour", "size"))
    fitted = fit_multivariate(
        reference,
        MultivariateConfig(domain_classifier=True),
        columns=columns,
        chunk_rows=spec["chunk_size"],
        window_size=None,
    )
    size = spec["chunk_size"]
    chunks = [analysis.iloc[i : i + size] for i in range(0, len(analysis), size)]
    return spec, fitted, [evaluate_multivariate(fitted, chunk) for chunk in chunks]


def test_reconstruction_matches_nannyml_within_1e_6(multivariate):
    spec, fitted, reports = multivariate
    model = fitted.reconstruction
    assert model is not None and model.n_components == spec["n_components"]
    np.testing.assert_allclose(model.chunk_values, spec["reference_values"], rtol=1e-6)
    assert model.lower == pytest.approx(spec["lower_threshold"], rel=1e-6)
    assert model.upper == pytest.approx(spec["upper_threshold"], rel=1e-6)
    values = [r.reconstruction.value for r in reports]
    np.testing.assert_allclose(values, spec["analysis_values"], rtol=1e-6)
    np.testing.assert_allclose(
        [r.reconstruction.sampling_error for r in reports], spec["analysis_sampling_error"], rtol=1e-6
    )
    assert [r.reconstruction.alert for r in reports] == spec["analysis_alert"]


def test_domain_classifier_agrees_with_nannyml_on_which_chunks_drift(multivariate):
    # HistGradientBoosting on a capped sample stands in for LightGBM on the whole reference: the AUCs
    # differ a little, the decisions (inside or outside [0.45, 0.65]) must not.
    spec, _, reports = multivariate
    ours = [r.classifier.auc for r in reports]
    theirs = spec["domain_classifier_auc"]
    assert [not (0.45 <= a <= 0.65) for a in ours] == [not (0.45 <= a <= 0.65) for a in theirs]
    assert np.max(np.abs(np.subtract(ours, theirs))) < 0.08
