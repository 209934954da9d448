"""Multivariate drift: changes of the joint distribution that no single feature shows.

Two analyses, both fitted once per reference (`fit_multivariate`) and evaluated per window
(`evaluate_multivariate`), reported in the ``drift.multivariate`` section:

- **PCA data reconstruction**, exactly as NannyML 0.13's `DataReconstructionDriftCalculator`
  computes it: missing values imputed (numerical: the reference mean; categorical: the reference's
  most frequent value, ties to the smallest), categoricals frequency-encoded (a category's share of
  the reference; unseen categories 0, as category_encoders' `CountEncoder(normalize=True)`),
  standardized (population std; a constant column keeps scale 1, as scikit-learn's
  `StandardScaler`), PCA keeping 65% of the variance (`random_state=16`); the per-row error is the
  Euclidean norm between a row and its reconstruction, the window value their mean, the sampling
  error the window's own std (ddof 1) / √n. Thresholds: the reference cut into window-sized chunks
  (`performance.baseline.chunk_reference`), mean ± 3σ (population std) of the chunk values; a lower
  threshold at or below 0 is dropped, as NannyML does. A window alerts when its value is not
  strictly inside the thresholds. ±inf counts as missing (NannyML's imputer would refuse it).
- **Domain classifier** (NannyML's `DomainClassifierCalculator`, with scikit-learn's
  `HistGradientBoostingClassifier` in place of LightGBM): a seeded sample of the reference (label 0)
  and of the window (label 1), each capped at `classifier_sample` rows, stratified `cv_folds`-fold
  out-of-fold ROC AUC (folds not shuffled, as NannyML). 0.5 means the classifier cannot tell the
  window from the reference; outside [0.45, 0.65] alerts. Categoricals are native categorical
  features (reference codes; unseen categories share one extra code); a column with more
  categories than the trees can bin is frequency-encoded instead.

Bad input never sinks the window: too few reference chunks leave the thresholds undefined (the
value is reported, nothing alerts), constant features are named in the notes, a window too small
for the folds is reported as such.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd

from watchkeeper.drift.config import MultivariateConfig
from watchkeeper.performance.baseline import chunk_reference
from watchkeeper.performance.metrics import format_figure as _fmt
from watchkeeper.schema import ColumnsConfig
from watchkeeper.verdict import Finding, Publication, Severity

PCA_RANDOM_STATE = 16  # NannyML's
SAMPLING_ERROR_RANGE = 3.0  # NannyML's confidence band: ± 3 sampling errors
# HistGradientBoosting bins a categorical feature into at most 255 bins, one kept for missing values.
MAX_NATIVE_CATEGORIES = 253
# Rows per block of the reconstruction error (`ReconstructionModel.errors`); blocks are at least
# this large, so BLAS runs the same kernels as on the whole matrix (bit-identical figures).
ERROR_BLOCK_ROWS = 65_536


@dataclass(frozen=True, eq=False)
class FeatureEncoder:
    """Imputation and frequency encoding learned from the reference (NannyML's preprocessing)."""

    numerical: tuple[str, ...]
    categorical: tuple[str, ...]
    means: np.ndarray  # numerical imputation values
    modes: tuple[Any, ...]  # categorical imputation values
    categories: tuple[pd.Index, ...]
    frequencies: tuple[np.ndarray, ...]  # aligned with `categories`

    @property
    def columns(self) -> tuple[str, ...]:
        return self.numerical + self.categorical

    def codes(self, frame: pd.DataFrame, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Reference codes of categorical `k` (-1: unseen) and the mask of missing values."""
        series = frame[self.categorical[k]]
        missing = series.isna().to_numpy()
        if isinstance(series.dtype, pd.CategoricalDtype):
            # Only the window's categories are looked up (as the objects `astype(object)` gives),
            # then taken by the rows' codes: no Python object per row.
            lookup = self.categories[k].get_indexer(pd.Index(series.cat.categories.astype(object)))
            row_codes = series.cat.codes.to_numpy()
            if not lookup.size:  # no category at all: every row is missing
                return np.full(row_codes.shape, -1, dtype=np.intp), missing
            return np.where(row_codes < 0, -1, lookup[np.maximum(row_codes, 0)]), missing
        codes = self.categories[k].get_indexer(pd.Index(series.astype(object)))  # missing: -1
        return codes, missing

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        """The rows as NannyML's PCA sees them before scaling: imputed, categoricals as frequencies."""
        out = np.empty((len(frame), len(self.columns)), dtype=np.float64)
        for j, col in enumerate(self.numerical):
            values = frame[col].to_numpy(dtype=np.float64, na_value=np.nan)
            out[:, j] = np.where(np.isfinite(values), values, self.means[j])
        base = len(self.numerical)
        for k in range(len(self.categorical)):
            codes, missing = self.codes(frame, k)
            freq = self.frequencies[k]
            mode_code = int(self.categories[k].get_indexer(pd.Index([self.modes[k]], dtype=object))[0])
            codes = np.where(missing, mode_code, codes)
            out[:, base + k] = np.where(codes >= 0, freq[np.maximum(codes, 0)], 0.0)
        return out


def fit_encoder(reference: pd.DataFrame, numerical: list[str], categorical: list[str]) -> FeatureEncoder:
    means = []
    for col in numerical:
        values = reference[col].to_numpy(dtype=np.float64, na_value=np.nan)
        finite = values[np.isfinite(values)]
        means.append(float(finite.mean()) if finite.size else 0.0)
    modes, categories, frequencies = [], [], []
    for col in categorical:
        series = reference[col].astype(object)
        counts = series.value_counts(dropna=True)
        if counts.empty:
            raise ValueError(f"categorical feature {col!r} has no values in the reference")
        # SimpleImputer(most_frequent) breaks ties towards the smallest value.
        top = counts[counts == counts.max()].index
        mode = sorted(top)[0] if len(top) > 1 else top[0]
        counts = counts.add(pd.Series({mode: int(series.isna().sum())}), fill_value=0)
        index = pd.Index(counts.index, dtype=object)
        modes.append(mode)
        categories.append(index)
        frequencies.append(counts.to_numpy(dtype=np.float64) / len(series))
    return FeatureEncoder(
        tuple(numerical),
        tuple(categorical),
        np.asarray(means, dtype=np.float64),
        tuple(modes),
        tuple(categories),
        tuple(frequencies),
    )


@dataclass(frozen=True, eq=False)
class ReconstructionModel:
    """The fitted PCA reconstruction: encoder, scaler, components, and the reference thresholds."""

    encoder: FeatureEncoder
    center: np.ndarray
    scale: np.ndarray
    pca_mean: np.ndarray
    components: np.ndarray  # k × d
    explained_variance: float
    chunk_values: tuple[float, ...]
    lower: float | None
    upper: float | None
    threshold_status: str
    constant: tuple[str, ...]

    @property
    def n_components(self) -> int:
        return int(self.components.shape[0])

    def errors(self, frame: pd.DataFrame) -> np.ndarray:
        """Each row's Euclidean distance to its PCA reconstruction.

        Rows go through in blocks of about `ERROR_BLOCK_ROWS` (equal sizes, never a small last
        block): every step is row by row, so the figures are the whole frame's, while the encoded
        matrix and its reconstruction exist for one block at a time (a million rows × 10 features is
        80 MB per intermediate otherwise, and four of them were alive at once).
        """
        from threadpoolctl import threadpool_limits

        n = len(frame)
        out = np.empty(n, dtype=np.float64)
        blocks = max(1, n // ERROR_BLOCK_ROWS)
        # One BLAS thread: products this thin (an inner dimension of ~10) are over in microseconds
        # per block, and BLAS's threads waiting on each other cost more than that (on a busy
        # 2-core host 1.2 s against 0.18 s at 1M rows). Each output element is one thread's dot
        # product either way, so the figures are the same.
        with threadpool_limits(1, user_api="blas"):
            for b in range(blocks):
                lo, hi = n * b // blocks, n * (b + 1) // blocks
                x = self.encoder.encode(frame.iloc[lo:hi])
                x -= self.center
                x /= self.scale
                x -= self.pca_mean
                residual = x - (x @ self.components.T) @ self.components
                out[lo:hi] = np.sqrt(np.einsum("ij,ij->i", residual, residual))
        return out


def fit_reconstruction(
    reference: pd.DataFrame,
    encoder: FeatureEncoder,
    chunks: list[np.ndarray],
    config: MultivariateConfig,
) -> ReconstructionModel:
    # scikit-learn is imported when a reference is fitted, not whenever a config is loaded.
    from sklearn.decomposition import PCA

    x = encoder.encode(reference)
    center = x.mean(axis=0)
    std = x.std(axis=0)
    constant = tuple(c for c, s in zip(encoder.columns, std, strict=True) if s == 0)
    if len(constant) == len(encoder.columns):
        raise ValueError(f"every feature is constant in the reference: {', '.join(constant)}")
    scale = np.where(std == 0, 1.0, std)
    z = (x - center) / scale
    n_components: float | int = config.n_components
    if n_components >= 1:
        n_components = min(int(n_components), z.shape[1])
    pca = PCA(n_components=n_components, random_state=PCA_RANDOM_STATE).fit(z)
    model = ReconstructionModel(
        encoder,
        center,
        scale,
        pca.mean_.copy(),
        pca.components_.copy(),
        float(pca.explained_variance_ratio_.sum()),
        (),
        None,
        None,
        "",
        constant,
    )
    errors = model.errors(reference)
    values = tuple(float(errors[idx].mean()) for idx in chunks if idx.size)
    lower, upper, status = _std_thresholds(values, config.threshold_std, lower_limit=0.0)
    return ReconstructionModel(
        encoder,
        center,
        scale,
        model.pca_mean,
        model.components,
        model.explained_variance,
        values,
        lower,
        upper,
        status,
        constant,
    )


def _std_thresholds(
    values: tuple[float, ...], k: float, *, lower_limit: float | None
) -> tuple[float | None, float | None, str]:
    """NannyML's StandardDeviationThreshold: mean ± k · population std over the reference chunks."""
    if len(values) < 2:
        return None, None, f"no thresholds: {len(values)} reference chunk(s), at least 2 needed"
    mean, std = float(np.nanmean(values)), float(np.nanstd(values))
    lower: float | None = mean - k * std
    if lower_limit is not None and lower is not None and lower <= lower_limit:
        lower = None
    return lower, mean + k * std, f"mean ± {k:g}σ of {len(values)} reference chunks"


@dataclass(frozen=True, eq=False)
class DomainClassifierData:
    """The reference sample the domain classifier learns to tell apart from each window."""

    encoder: FeatureEncoder
    reference: np.ndarray  # n × d: numerical values (NaN kept), categorical codes or frequencies
    native: tuple[bool, ...]  # per categorical column: a native categorical feature (else frequency)

    def matrix(self, frame: pd.DataFrame) -> np.ndarray:
        enc = self.encoder
        out = np.empty((len(frame), len(enc.columns)), dtype=np.float64)
        for j, col in enumerate(enc.numerical):
            values = frame[col].to_numpy(dtype=np.float64, na_value=np.nan)
            out[:, j] = np.where(np.isinf(values), np.nan, values)
        base = len(enc.numerical)
        for k in range(len(enc.categorical)):
            codes, missing = enc.codes(frame, k)
            if self.native[k]:
                unseen = len(enc.categories[k])
                col_values = np.where(codes < 0, unseen, codes).astype(np.float64)
            else:
                col_values = np.where(codes >= 0, enc.frequencies[k][np.maximum(codes, 0)], 0.0)
            col_values[missing] = np.nan
            out[:, base + k] = col_values
        return out

    @property
    def categorical_mask(self) -> np.ndarray:
        return np.array([False] * len(self.encoder.numerical) + list(self.native), dtype=bool)


def sample_rows(n: int, cap: int, seed: int) -> np.ndarray:
    """`min(n, cap)` row positions drawn without replacement, in order (seeded)."""
    if n <= cap:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=cap, replace=False))


def fit_domain_classifier(
    reference: pd.DataFrame, encoder: FeatureEncoder, config: MultivariateConfig
) -> DomainClassifierData:
    sample = reference.iloc[sample_rows(len(reference), config.classifier_sample, seed=0)]
    native = tuple(len(c) + 1 <= MAX_NATIVE_CATEGORIES for c in encoder.categories)
    data = DomainClassifierData(encoder, np.empty((0, 0)), native)
    return DomainClassifierData(encoder, data.matrix(sample), native)


def domain_classifier_auc(
    reference: np.ndarray, current: np.ndarray, categorical: np.ndarray, *, folds: int, seed: int = 0
) -> float:
    """Stratified K-fold out-of-fold ROC AUC of a classifier telling `current` (1) from `reference` (0)."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold
    from threadpoolctl import threadpool_limits

    x = np.vstack([reference, current])
    y = np.concatenate([np.zeros(len(reference)), np.ones(len(current))])
    preds, targets = [], []
    mask = categorical if categorical.any() else None
    # One OpenMP thread: on small samples the threads' synchronisation costs more than it saves, and
    # on a busy host (checks side by side) a fit took ten times longer with two (7.2 s vs 0.76 s).
    with threadpool_limits(1):
        for train, test in StratifiedKFold(n_splits=folds).split(x, y):
            model = HistGradientBoostingClassifier(
                categorical_features=mask, early_stopping=False, random_state=seed
            )
            model.fit(x[train], y[train])
            preds.append(model.predict_proba(x[test])[:, 1])
            targets.append(y[test])
    try:
        return float(roc_auc_score(np.concatenate(targets), np.concatenate(preds)))
    except ValueError:
        return 0.5  # NannyML: identical sides cannot be told apart


@dataclass(frozen=True, eq=False)
class MultivariateFit:
    """What the multivariate check learned from one reference."""

    config: MultivariateConfig
    features: tuple[str, ...]
    reconstruction: ReconstructionModel | None
    reconstruction_status: str
    classifier: DomainClassifierData | None
    classifier_status: str
    chunking: str


def fit_multivariate(
    reference: pd.DataFrame,
    config: MultivariateConfig,
    *,
    columns: ColumnsConfig,
    chunk_rows: int | None,
    window_size: timedelta | None,
) -> MultivariateFit:
    """Fit both analyses on the reference's feature columns (a failure is a status, not an error)."""
    numerical = [c for c in columns.numerical_features if c in reference.columns]
    categorical = [c for c in columns.categorical_features if c in reference.columns]
    features = tuple(numerical + categorical)
    missing = [c for c in columns.features if c not in reference.columns]
    note = f" ({', '.join(missing)} missing from the reference)" if missing else ""
    if len(features) < 2:
        why = f"not computed: {len(features)} feature column(s) in the reference, at least 2 needed{note}"
        return MultivariateFit(config, features, None, why, None, why, "")
    try:
        encoder = fit_encoder(reference, numerical, categorical)
    except ValueError as exc:
        why = f"not computed: {exc}"
        return MultivariateFit(config, features, None, why, None, why, "")
    chunks, chunking = chunk_reference(reference, columns, chunk_rows, window_size)
    reconstruction, rec_status = None, "disabled"
    if config.reconstruction:
        try:
            reconstruction = fit_reconstruction(reference, encoder, chunks, config)
            rec_status = "ok" + note
        except ValueError as exc:
            rec_status = f"not computed: {exc}"
    classifier, dc_status = None, "disabled"
    if config.domain_classifier:
        classifier = fit_domain_classifier(reference, encoder, config)
        dc_status = "ok" + note
    return MultivariateFit(config, features, reconstruction, rec_status, classifier, dc_status, chunking)


@dataclass(frozen=True)
class ReconstructionResult:
    value: float | None
    sampling_error: float | None
    lower: float | None
    upper: float | None
    alert: bool
    n_components: int
    explained_variance: float
    status: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class ClassifierResult:
    auc: float | None
    lower: float
    upper: float
    alert: bool
    n_reference: int
    n_current: int
    status: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class MultivariateDriftReport:
    """The ``drift.multivariate`` section: figures for MLflow and the alert rules, findings, markdown."""

    n_rows: int
    features: tuple[str, ...]
    reconstruction: ReconstructionResult | None
    classifier: ClassifierResult | None
    severity: Severity
    notes: tuple[str, ...] = field(default=())

    def figures(self) -> dict[str, float]:
        out: dict[str, float] = {}
        r = self.reconstruction
        if r is not None and r.value is not None:
            out["reconstruction_error"] = r.value
            if r.sampling_error is not None and math.isfinite(r.sampling_error):
                out["sampling_error"] = r.sampling_error
            if r.lower is not None:
                out["lower"] = r.lower
            if r.upper is not None:
                out["upper"] = r.upper
            out["alert"] = float(r.alert)
        c = self.classifier
        if c is not None and c.auc is not None:
            out["domain_classifier.auc"] = c.auc
            out["domain_classifier.lower"] = c.lower
            out["domain_classifier.upper"] = c.upper
            out["domain_classifier.alert"] = float(c.alert)
        return out

    def findings(self) -> list[Finding]:
        out = []
        r, c = self.reconstruction, self.classifier
        if r is not None and r.alert and r.value is not None:
            out.append(
                Finding(
                    "drift.multivariate",
                    self.severity,
                    f"Multivariate drift: PCA reconstruction error {r.value:.4f} is outside the reference "
                    f"range ({_fmt(r.lower)}, {_fmt(r.upper)}) — the joint distribution of "
                    f"{len(self.features)} features changed.",
                )
            )
        if c is not None and c.alert and c.auc is not None:
            out.append(
                Finding(
                    "drift.multivariate",
                    self.severity,
                    f"Multivariate drift: a domain classifier tells the window from the reference with ROC AUC "
                    f"{c.auc:.3f} (outside [{c.lower:g}, {c.upper:g}]).",
                )
            )
        return out

    def publish(self) -> Publication:
        return Publication(markdown={"drift-multivariate": self.to_markdown()})

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_rows": self.n_rows,
            "features": list(self.features),
            "reconstruction": None if self.reconstruction is None else self.reconstruction.to_dict(),
            "domain_classifier": None if self.classifier is None else self.classifier.to_dict(),
            "notes": list(self.notes),
        }

    def to_markdown(self) -> str:
        lines = [
            f"**Multivariate drift** over {len(self.features)} features, {self.n_rows} rows",
            "",
            "| analysis | value | lower | upper | alert | status |",
            "|---|---:|---:|---:|---|---|",
        ]
        r, c = self.reconstruction, self.classifier
        if r is not None:
            lines.append(
                f"| PCA reconstruction error ({r.n_components} components, {r.explained_variance:.0%} "
                f"variance) | {_fmt(r.value)} | {_fmt(r.lower)} | {_fmt(r.upper)} | "
                f"{'**yes**' if r.alert else 'no'} | {r.status} |"
            )
        if c is not None:
            lines.append(
                f"| domain classifier ROC AUC | {_fmt(c.auc)} | {c.lower:g} | {c.upper:g} | "
                f"{'**yes**' if c.alert else 'no'} | {c.status} |"
            )
        lines += [f"- note: {n}" for n in self.notes]
        return "\n".join(lines) + "\n"


def evaluate_multivariate(fitted: MultivariateFit, window: pd.DataFrame) -> MultivariateDriftReport:
    """Both analyses on one window; missing columns or a failing analysis become its status."""
    absent = [c for c in fitted.features if c not in window.columns]
    return multivariate_report(
        fitted,
        len(window),
        lambda: _evaluate_reconstruction(fitted, window, absent),
        lambda: _evaluate_classifier(fitted, window, absent),
    )


def multivariate_report(
    fitted: MultivariateFit,
    rows: int,
    reconstruction: Callable[[], Any],
    classifier: Callable[[], Any],
) -> MultivariateDriftReport:
    """The section from its two analyses (each run only when enabled), with the fit's notes: one
    assembly for a window in memory and for one merged from partitions."""
    notes: list[str] = []
    rec = cls = None
    if fitted.reconstruction is not None or fitted.reconstruction_status != "disabled":
        rec = reconstruction()
        if fitted.reconstruction is not None and fitted.reconstruction.constant:
            notes.append(
                "constant in the reference (kept unscaled, as NannyML): "
                + ", ".join(fitted.reconstruction.constant)
            )
    if fitted.classifier is not None or fitted.classifier_status != "disabled":
        cls = classifier()
    if fitted.chunking:
        notes.append(f"reference chunks: {fitted.chunking}")
    return MultivariateDriftReport(
        rows, fitted.features, rec, cls, Severity.parse(fitted.config.severity), tuple(notes)
    )


def _evaluate_reconstruction(
    fitted: MultivariateFit, window: pd.DataFrame, absent: list[str]
) -> ReconstructionResult:
    model = fitted.reconstruction
    if model is None:
        return ReconstructionResult(None, None, None, None, False, 0, 0.0, fitted.reconstruction_status)
    k, var = model.n_components, model.explained_variance
    if absent:
        why = f"not computed: column(s) missing from the window: {', '.join(absent)}"
        return ReconstructionResult(None, None, model.lower, model.upper, False, k, var, why)
    if len(window) == 0:
        return ReconstructionResult(
            None, None, model.lower, model.upper, False, k, var, "not computed: no rows"
        )
    errors = model.errors(window)
    value = float(errors.mean())
    sampling = float(errors.std(ddof=1) / math.sqrt(errors.size)) if errors.size > 1 else None
    lo = -math.inf if model.lower is None else model.lower
    hi = math.inf if model.upper is None else model.upper
    judged = model.upper is not None or model.lower is not None
    alert = judged and not (lo < value < hi)
    status = "ok" if judged else f"not judged: {model.threshold_status}"
    return ReconstructionResult(value, sampling, model.lower, model.upper, alert, k, var, status)


def _evaluate_classifier(
    fitted: MultivariateFit, window: pd.DataFrame, absent: list[str]
) -> ClassifierResult:
    config, data = fitted.config, fitted.classifier
    lo, hi = config.classifier_lower, config.classifier_upper
    if data is None:
        return ClassifierResult(None, lo, hi, False, 0, 0, fitted.classifier_status)
    n_ref = len(data.reference)
    if absent:
        why = f"not computed: column(s) missing from the window: {', '.join(absent)}"
        return ClassifierResult(None, lo, hi, False, n_ref, 0, why)
    sample = window.iloc[sample_rows(len(window), config.classifier_sample, seed=1)]
    n_cur = len(sample)
    if min(n_cur, n_ref) < config.cv_folds:
        why = f"not computed: {min(n_cur, n_ref)} rows on one side, fewer than the {config.cv_folds} folds"
        return ClassifierResult(None, lo, hi, False, n_ref, n_cur, why)
    auc = domain_classifier_auc(
        data.reference, data.matrix(sample), data.categorical_mask, folds=config.cv_folds
    )
    return ClassifierResult(auc, lo, hi, not (lo <= auc <= hi), n_ref, n_cur, "ok")
