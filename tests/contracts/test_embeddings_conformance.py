"""Embedding drift against Evidently 0.7's own drift methods, live, on generated embeddings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from evidently.legacy.metrics.data_drift.embedding_drift_methods import (
    DistanceDriftMethod,
    MMDDriftMethod,
    ModelDriftMethod,
    RatioDriftMethod,
)

from watchkeeper.drift.embeddings import (
    EmbeddingsConfig,
    detect_embedding_drift,
    evaluate_embeddings,
    fit_embeddings,
    read_vectors,
)


def embeddings(seed: int, n: int, shift: float, d: int = 16) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(n, d)) @ np.linspace(0.5, 1.5, d * d).reshape(d, d) / d
    base[:, :4] += shift
    return base


REF = embeddings(1, 600, 0.0)
CUR_SAME = embeddings(2, 400, 0.0)
CUR_SHIFTED = embeddings(3, 400, 0.4)


def evidently(method, reference: np.ndarray, current: np.ndarray):
    # Evidently's methods take (current, reference) DataFrames and may add columns to them.
    return method(pd.DataFrame(current.copy()), pd.DataFrame(reference.copy()))


CASES = [
    # (our config, Evidently's method object): defaults first, then the bootstrap and PCA variants.
    (EmbeddingsConfig(method="model"), ModelDriftMethod()),
    (EmbeddingsConfig(method="model", bootstrap=True), ModelDriftMethod(bootstrap=True)),
    (EmbeddingsConfig(method="mmd"), MMDDriftMethod()),
    (EmbeddingsConfig(method="mmd", bootstrap=True), MMDDriftMethod(bootstrap=True)),
    (EmbeddingsConfig(method="ratio"), RatioDriftMethod()),
    (EmbeddingsConfig(method="distance"), DistanceDriftMethod()),
    (EmbeddingsConfig(method="distance", bootstrap=True), DistanceDriftMethod(bootstrap=True)),
    (
        EmbeddingsConfig(method="distance", dist="cosine", pca_components=5),
        DistanceDriftMethod(dist="cosine", pca_components=5),
    ),
]


@pytest.mark.parametrize(
    ("config", "theirs"), CASES, ids=lambda c: getattr(c, "method", None) or type(c).__name__
)
@pytest.mark.parametrize("current", [CUR_SAME, CUR_SHIFTED], ids=["same", "shifted"])
def test_scores_and_decisions_match_evidently(config, theirs, current):
    _, score, drifted, _, _ = detect_embedding_drift(REF, current, config)
    their_score, their_drift, _ = evidently(theirs, REF, current)
    assert score == pytest.approx(their_score, rel=1e-9, abs=1e-12)
    assert drifted == bool(their_drift)


def test_default_is_model_with_bootstrap_below_1000_reference_rows():
    method, score, drifted, _, bootstrap = detect_embedding_drift(REF, CUR_SHIFTED, EmbeddingsConfig())
    their_score, their_drift, _ = evidently(ModelDriftMethod(bootstrap=True), REF, CUR_SHIFTED)
    assert (method, bootstrap) == ("model", True)
    assert score == pytest.approx(their_score, rel=1e-9) and drifted == bool(their_drift) is True


def test_arrow_fixed_size_list_and_object_columns_read_the_same_vectors():
    flat = pa.array(REF.ravel())
    arrow = pd.Series(pd.arrays.ArrowExtensionArray(pa.FixedSizeListArray.from_arrays(flat, REF.shape[1])))
    objects = pd.Series(list(REF))
    lists = pd.Series(pd.arrays.ArrowExtensionArray(pa.array([list(v) for v in REF[:50]])))
    np.testing.assert_array_equal(read_vectors(arrow)[0], REF)
    np.testing.assert_array_equal(read_vectors(objects)[0], REF)
    np.testing.assert_array_equal(read_vectors(lists)[0], REF[:50])


def test_nan_vectors_are_left_out_and_unequal_lengths_are_not_testable():
    config = EmbeddingsConfig(columns=("emb",), method="distance")
    fitted = fit_embeddings(pd.DataFrame({"emb": list(REF)}), config)
    with_nan = list(CUR_SHIFTED)
    with_nan[0] = np.full(16, np.nan)
    with_nan[1] = None
    report = evaluate_embeddings(fitted, pd.DataFrame({"emb": with_nan}))
    (col,) = report.columns
    assert col.n_current == 398 and col.excluded_current == 2 and col.drifted
    assert col.status == "ok (2 row(s) with a missing or non-finite vector left out)"
    ragged = pd.DataFrame({"emb": [np.zeros(16)] * 5 + [np.zeros(8)] * 5})
    (col,) = evaluate_embeddings(fitted, ragged).columns
    assert col.status == "not testable: window: vectors of unequal length (8, 16)" and col.score is None
    assert report.figures() == {"emb.score": col_score(report), "emb.drifted": 1.0}


def col_score(report) -> float:
    return report.columns[0].score
