"""Embedding drift: Evidently 0.7's four methods for columns that hold vectors.

An embedding column holds one vector per row: a list/array per cell (object dtype) or an Arrow
(fixed-size) list column. The configured columns are read into an n × d float matrix once
(Arrow lists without a copy); rows whose vector is missing or holds NaN/±inf are left out and
counted, and vectors of unequal length make the column not testable, with the lengths named.

Methods, by Evidently's names (`legacy/metrics/data_drift/embedding_drift_methods.py`), with its
defaults and its random draws, so the scores are Evidently's:

- ``model`` (the default; with `bootstrap` when the reference has fewer than 1000 rows, as Evidently
  decides): an `SGDClassifier(loss="log_loss", random_state=42)` trained to tell the reference (1)
  from the window (0) on half of the rows (`train_test_split(test_size=0.5, random_state=42)`);
  the score is its ROC AUC on the other half; drift above 0.55, or with `bootstrap` above the
  `quantile_probability` (0.95) quantile of 100 random-prediction AUCs (seeds 0..99).
- ``mmd``: the unbiased squared MMD with an RBF kernel, bandwidth the median pairwise distance
  between (up to) 1000 rows of each side (`DataFrame.sample(random_state=0)`); drift above 0.015,
  or with `bootstrap` above the `quantile_probability` (0.05) quantile of 100 resampled MMDs of
  the reference against itself. The kernel matrix is (n+m)²: above `mmd_sample` rows a side is a
  seeded sample of that many rows (Evidently would need the whole matrix in memory: 320 GB at
  100,000 rows a side); below it the score is exactly Evidently's.
- ``ratio``: the share of components that drift by `component_method` (normed Wasserstein,
  threshold 0.1, through this project's registry); drift above 0.2.
- ``distance``: the `dist` (euclidean, cosine, cityblock, chebyshev) between the two mean vectors;
  drift above 0.2, or with `bootstrap` above the `quantile_probability` (0.95) quantile of 100
  bootstrap distances (Evidently draws both bootstrap means from the reference).

All four accept `pca_components` (PCA fitted on the reference, `random_state=0`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field, field_validator

from watchkeeper.configbase import StrictModel
from watchkeeper.drift.profile import NumericalProfile
from watchkeeper.drift.registry import get_method
from watchkeeper.drift.samples import ColumnPair
from watchkeeper.verdict import Finding, Publication, Severity

EmbeddingMethod = Literal["model", "mmd", "ratio", "distance"]
N_BOOTSTRAP = 100
_DEFAULT_THRESHOLD = {"model": 0.55, "mmd": 0.015, "ratio": 0.2, "distance": 0.2}
_DEFAULT_QUANTILE = {"model": 0.95, "mmd": 0.05, "distance": 0.95}


class EmbeddingsConfig(StrictModel):
    """Embedding drift (the `drift.embeddings` section); nothing runs without `columns`."""

    columns: tuple[str, ...] = ()
    # None: Evidently's default, `model` (with bootstrap when the reference has < 1000 rows).
    method: EmbeddingMethod | None = None
    threshold: float | None = None
    bootstrap: bool | None = None
    quantile_probability: float | None = Field(None, gt=0, lt=1)
    pca_components: int | None = Field(None, ge=1)
    dist: Literal["euclidean", "cosine", "cityblock", "chebyshev"] = "euclidean"
    component_method: str = "wasserstein"
    component_threshold: float = 0.1
    mmd_sample: int = Field(2000, ge=10)
    severity: Literal["warning", "critical"] = "warning"

    @field_validator("component_method")
    @classmethod
    def _numerical_method(cls, value: str) -> str:
        if "numerical" not in get_method(value).kinds:  # get_method lists the registered names
            raise ValueError(f"drift method {value!r} does not apply to numerical columns")
        return value


class EmbeddingsError(ValueError):
    """A column cannot be read as vectors; the message says why."""


def read_vectors(series: pd.Series) -> tuple[np.ndarray, int]:
    """(n × d float64 matrix of the usable rows, number of rows left out for missing/NaN vectors)."""
    import pyarrow as pa

    dtype = series.dtype
    if isinstance(dtype, pd.ArrowDtype) and pa.types.is_list(dtype.pyarrow_dtype) is False:
        arr = pa.chunked_array(series.array._pa_array).combine_chunks()
        if pa.types.is_fixed_size_list(arr.type):
            size = arr.type.list_size
            valid = ~np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=bool)
            flat = arr.flatten() if arr.null_count == 0 else arr.filter(pa.array(valid)).flatten()
            matrix = flat.to_numpy(zero_copy_only=False).astype(np.float64, copy=False).reshape(-1, size)
            return _drop_nonfinite(matrix, int((~valid).sum()))
    if isinstance(dtype, pd.ArrowDtype):
        arr = pa.chunked_array(series.array._pa_array).combine_chunks()
        if not (pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type)):
            raise EmbeddingsError(f"expected a list column, got Arrow type {arr.type}")
        valid = ~np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        arr = arr.filter(pa.array(valid))
        lengths = np.diff(np.asarray(arr.offsets))
        _check_lengths(lengths)
        size = int(lengths[0]) if lengths.size else 0
        matrix = arr.flatten().to_numpy(zero_copy_only=False).astype(np.float64, copy=False).reshape(-1, size)
        return _drop_nonfinite(matrix, int((~valid).sum()))
    values = series.to_numpy(dtype=object)
    present = np.fromiter((v is not None and not _is_scalar_nan(v) for v in values), bool, count=len(values))
    kept = values[present]
    if kept.size == 0:
        return np.empty((0, 0)), int((~present).sum())
    try:
        lengths = np.fromiter((len(v) for v in kept), np.int64, count=kept.size)
    except TypeError:
        raise EmbeddingsError("expected one list or array per row") from None
    _check_lengths(lengths)
    matrix = np.asarray(np.stack([np.asarray(v, dtype=np.float64) for v in kept]), dtype=np.float64)
    return _drop_nonfinite(matrix, int((~present).sum()))


def _is_scalar_nan(value: Any) -> bool:
    return isinstance(value, float) and value != value


def _check_lengths(lengths: np.ndarray) -> None:
    if lengths.size and lengths.min() != lengths.max():
        found = ", ".join(str(int(v)) for v in np.unique(lengths)[:5])
        raise EmbeddingsError(f"vectors of unequal length ({found})")


def _drop_nonfinite(matrix: np.ndarray, missing: int) -> tuple[np.ndarray, int]:
    ok = np.isfinite(matrix).all(axis=1)
    if ok.all():
        return matrix, missing
    return matrix[ok], missing + int((~ok).sum())


def _pca(reference: np.ndarray, current: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.decomposition import PCA

    pca = PCA(n_components=n, random_state=0)
    return pca.fit_transform(reference), pca.transform(current)


def _distance(name: str) -> Any:
    from scipy.spatial import distance

    return {
        "euclidean": distance.euclidean,
        "cosine": distance.cosine,
        "cityblock": distance.cityblock,
        "chebyshev": distance.chebyshev,
    }[name]


def drift_by_distance(
    reference: np.ndarray,
    current: np.ndarray,
    *,
    dist: str,
    threshold: float,
    bootstrap: bool,
    quantile: float,
) -> tuple[float, bool, float]:
    fn = _distance(dist)
    score = float(fn(reference.mean(axis=0), current.mean(axis=0)))
    if not bootstrap:
        return score, score > threshold, threshold
    m, n = reference.shape[0], current.shape[0]
    b_ref, b_cur = int(m**2 / (m + n)), int(n * m / (m + n))
    results = []
    for i in range(N_BOOTSTRAP):
        rs = np.random.RandomState(i)
        ref_idx, cur_idx = rs.choice(m, b_ref), rs.choice(m, b_cur)
        results.append(fn(reference[ref_idx].mean(axis=0), reference[cur_idx].mean(axis=0)))
    limit = float(np.percentile(results, 100 * quantile))
    return score, score > limit, limit


def drift_by_model(
    reference: np.ndarray, current: np.ndarray, *, threshold: float, bootstrap: bool, quantile: float
) -> tuple[float, bool, float]:
    from sklearn.linear_model import SGDClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split

    x = np.vstack([reference, current])
    y = np.concatenate([np.ones(reference.shape[0], np.int64), np.zeros(current.shape[0], np.int64)])
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.5, random_state=42, shuffle=True)
    clf = SGDClassifier(loss="log_loss", random_state=42).fit(x_train, y_train)
    score = float(roc_auc_score(y_test, clf.predict_proba(x_test)[:, 1]))
    if not bootstrap:
        return score, score > threshold, threshold
    randoms = [roc_auc_score(y_test, np.random.RandomState(i).rand(len(y_test))) for i in range(N_BOOTSTRAP)]
    limit = float(np.percentile(randoms, 100 * quantile))
    return score, score > limit, limit


def drift_by_ratio(
    reference: np.ndarray, current: np.ndarray, *, method: str, component_threshold: float, threshold: float
) -> tuple[float, bool, float]:
    test = get_method(method)
    ref_sorted, cur_sorted = np.sort(reference, axis=0), np.sort(current, axis=0)
    drifted = 0
    for j in range(reference.shape[1]):
        pair = ColumnPair(
            "numerical",
            NumericalProfile(np.ascontiguousarray(ref_sorted[:, j]), reference.shape[0], 0, 0, False),
            NumericalProfile(np.ascontiguousarray(cur_sorted[:, j]), current.shape[0], 0, 0, False),
        )
        drifted += bool(test.is_drift(test.compute(pair), component_threshold))
    share = drifted / reference.shape[1]
    return share, share > threshold, threshold


def _mmd2u(k: np.ndarray, m: int, n: int) -> float:
    kx, ky, kxy = k[:m, :m], k[m:, m:], k[:m, m:]
    return float(
        1.0 / (m * (m - 1.0)) * (kx.sum() - np.trace(kx))
        + 1.0 / (n * (n - 1.0)) * (ky.sum() - np.trace(ky))
        - 2.0 / (m * n) * kxy.sum()
    )


def _pandas_sample(n: int, k: int) -> np.ndarray:
    # `DataFrame.sample(k, random_state=0)`: RandomState(0).choice without replacement.
    return np.random.RandomState(0).choice(n, size=k, replace=False)


def drift_by_mmd(
    reference: np.ndarray,
    current: np.ndarray,
    *,
    threshold: float,
    bootstrap: bool,
    quantile: float,
    sample: int,
) -> tuple[float, bool, float]:
    from sklearn.metrics import pairwise_distances, pairwise_kernels

    rng = np.random.default_rng(0)
    if reference.shape[0] > sample:
        reference = reference[np.sort(rng.choice(reference.shape[0], sample, replace=False))]
    if current.shape[0] > sample:
        current = current[np.sort(rng.choice(current.shape[0], sample, replace=False))]
    m, n = reference.shape[0], current.shape[0]
    dists = pairwise_distances(
        reference[_pandas_sample(m, min(m, 1000))],
        current[_pandas_sample(n, min(n, 1000))],
        metric="euclidean",
    )
    sigma2 = float(np.median(dists)) ** 2
    k = pairwise_kernels(np.vstack([reference, current]), metric="rbf", gamma=1.0 / sigma2)
    mmd2u = _mmd2u(k, m, n)
    del k
    if not bootstrap:
        return max(mmd2u, 0.0), mmd2u > threshold, threshold
    dx = pairwise_distances(reference[_pandas_sample(m, min(m, 1000))], metric="euclidean")
    kx = pairwise_kernels(reference, metric="rbf", gamma=1.0 / float(np.median(dx)) ** 2)
    x_size, y_size = max(int(m * m / (m + n)), 1), max(int(m * n / (m + n)), 1)
    results = []
    for i in range(N_BOOTSTRAP):
        rs = np.random.RandomState(i)
        xi, yi = rs.choice(m, x_size), rs.choice(m, y_size)
        sub = kx[np.ix_(np.concatenate([xi, yi]), np.concatenate([xi, yi]))]
        results.append(_mmd2u(sub, x_size, y_size))
    limit = float(np.percentile(results, 100 * quantile))
    return max(mmd2u, 0.0), mmd2u > limit, limit


@dataclass(frozen=True)
class EmbeddingDrift:
    column: str
    method: str | None
    score: float | None
    threshold: float | None
    drifted: bool
    bootstrap: bool
    n_reference: int
    n_current: int
    dimensions: int
    excluded_current: int
    status: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True, eq=False)
class EmbeddingsFit:
    config: EmbeddingsConfig
    reference: dict[str, np.ndarray]
    excluded: dict[str, int]
    errors: dict[str, str]


def fit_embeddings(reference: pd.DataFrame, config: EmbeddingsConfig) -> EmbeddingsFit:
    """Read each embedding column of the reference as a matrix (a bad column is kept as its error)."""
    matrices: dict[str, np.ndarray] = {}
    excluded: dict[str, int] = {}
    errors: dict[str, str] = {}
    for col in config.columns:
        if col not in reference.columns:
            errors[col] = "column missing from the reference"
            continue
        try:
            matrices[col], excluded[col] = read_vectors(reference[col])
        except EmbeddingsError as exc:
            errors[col] = f"reference: {exc}"
    return EmbeddingsFit(config, matrices, excluded, errors)


def detect_embedding_drift(
    reference: np.ndarray, current: np.ndarray, config: EmbeddingsConfig
) -> tuple[str, float, bool, float, bool]:
    """(method, score, drifted, threshold used, bootstrap) of one embedding column."""
    method = config.method or "model"
    bootstrap = config.bootstrap
    if bootstrap is None:
        bootstrap = config.method is None and reference.shape[0] < 1000
    threshold = config.threshold if config.threshold is not None else _DEFAULT_THRESHOLD[method]
    quantile = config.quantile_probability or _DEFAULT_QUANTILE.get(method, 0.95)
    if config.pca_components:
        reference, current = _pca(reference, current, config.pca_components)
    if method == "model":
        score, drifted, limit = drift_by_model(
            reference, current, threshold=threshold, bootstrap=bootstrap, quantile=quantile
        )
    elif method == "mmd":
        score, drifted, limit = drift_by_mmd(
            reference,
            current,
            threshold=threshold,
            bootstrap=bootstrap,
            quantile=quantile,
            sample=config.mmd_sample,
        )
    elif method == "distance":
        score, drifted, limit = drift_by_distance(
            reference, current, dist=config.dist, threshold=threshold, bootstrap=bootstrap, quantile=quantile
        )
    else:
        score, drifted, limit = drift_by_ratio(
            reference,
            current,
            method=config.component_method,
            component_threshold=config.component_threshold,
            threshold=threshold,
        )
        bootstrap = False
    return method, score, drifted, limit, bootstrap


def evaluate_embeddings(fitted: EmbeddingsFit, window: pd.DataFrame) -> EmbeddingDriftReport:
    """Each embedding column of the window against the reference; a bad column is its status."""
    results = tuple(_evaluate_column(fitted, col, window) for col in fitted.config.columns)
    return EmbeddingDriftReport(results, Severity.parse(fitted.config.severity))


def _evaluate_column(fitted: EmbeddingsFit, col: str, window: pd.DataFrame) -> EmbeddingDrift:
    config = fitted.config

    def fail(status: str, n_ref: int = 0, n_cur: int = 0, dims: int = 0, excl: int = 0) -> EmbeddingDrift:
        return EmbeddingDrift(col, config.method, None, None, False, False, n_ref, n_cur, dims, excl, status)

    if col in fitted.errors:
        return fail(f"not testable: {fitted.errors[col]}")
    ref = fitted.reference[col]
    if col not in window.columns:
        return fail("not testable: column missing from the window", ref.shape[0])
    try:
        cur, excluded = read_vectors(window[col])
    except EmbeddingsError as exc:
        return fail(f"not testable: window: {exc}", ref.shape[0])
    if cur.shape[0] < 2 or ref.shape[0] < 2:
        return fail("not testable: fewer than 2 usable vectors", ref.shape[0], cur.shape[0], 0, excluded)
    if cur.shape[1] != ref.shape[1]:
        why = f"not testable: the window's vectors have {cur.shape[1]} dimensions, the reference's {ref.shape[1]}"
        return fail(why, ref.shape[0], cur.shape[0], ref.shape[1], excluded)
    try:
        method, score, drifted, limit, bootstrap = detect_embedding_drift(ref, cur, config)
    except Exception as exc:  # one odd column must not sink the window
        return fail(f"not testable: {type(exc).__name__}: {exc}", ref.shape[0], cur.shape[0])
    status = "ok" if not excluded else f"ok ({excluded} row(s) with a missing or non-finite vector left out)"
    return EmbeddingDrift(
        col,
        method,
        score,
        limit,
        drifted,
        bootstrap,
        ref.shape[0],
        cur.shape[0],
        ref.shape[1],
        excluded,
        status,
    )


@dataclass(frozen=True)
class EmbeddingDriftReport:
    """The ``drift.embeddings`` section: one row per embedding column."""

    columns: tuple[EmbeddingDrift, ...]
    severity: Severity = Severity.WARNING
    notes: tuple[str, ...] = field(default=())

    def figures(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for c in self.columns:
            if c.score is not None:
                out[f"{c.column}.score"] = c.score
                out[f"{c.column}.drifted"] = float(c.drifted)
        return out

    def findings(self) -> list[Finding]:
        return [
            Finding(
                "drift.embeddings",
                self.severity,
                f"Embedding drift in {c.column}: {c.method} score {c.score:.4g} above {c.threshold:.4g}"
                f"{' (bootstrap)' if c.bootstrap else ''}.",
            )
            for c in self.columns
            if c.drifted and c.score is not None and c.threshold is not None
        ]

    def publish(self) -> Publication:
        return Publication(markdown={"drift-embeddings": self.to_markdown()})

    def to_dict(self) -> dict[str, Any]:
        return {"columns": [c.to_dict() for c in self.columns]}

    def to_markdown(self) -> str:
        lines = [
            "**Embedding drift**",
            "",
            "| column | method | score | threshold | drifted | n ref | n cur | dims | status |",
            "|---|---|---:|---:|---|---:|---:|---:|---|",
        ]
        for c in self.columns:
            score = "–" if c.score is None else f"{c.score:.4g}"
            limit = "–" if c.threshold is None else f"{c.threshold:.4g}"
            lines.append(
                f"| {c.column} | {c.method or ''} | {score} | {limit} | {'**yes**' if c.drifted else 'no'} | "
                f"{c.n_reference} | {c.n_current} | {c.dimensions} | {c.status} |"
            )
        return "\n".join(lines) + "\n"
