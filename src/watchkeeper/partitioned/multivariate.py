"""Multivariate drift (``drift.multivariate``) on a partitioned window, exactly.

Both analyses of `watchkeeper.drift.multivariate` need nothing but the reference's fit and
row-local work on the window:

- *PCA reconstruction error*: every transformation a row goes through (imputation with the
  reference's means and modes, frequency encoding with the reference's shares, the reference's
  scaling and components) was fitted on the reference, so a row's error does not depend on the
  other rows of the window. The window's value is the mean of the errors and its sampling error
  their standard deviation: each partition keeps (count, mean, sum of squared deviations), merged
  with Chan et al.'s pairwise update, so both are the in-memory figures up to float rounding.
- *Domain classifier*: in memory it trains on a seeded sample of the window's rows
  (`sample_rows(len(window), classifier_sample, seed=1)`, positions in the window). The first pass
  over the partitions gives every partition's row count, so the same positions are drawn before the
  main pass; each partition hands back the classifier's matrix of its sampled rows (at most
  `classifier_sample` rows in all), and the classifier is trained on them at finalize: the same
  rows, the same AUC, where the partitions concatenate to the window's row order (Parquet row
  groups, frame slices, logs sorted by time); otherwise an equally sized seeded sample.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from watchkeeper.drift.multivariate import (
    ClassifierResult,
    MultivariateDriftReport,
    MultivariateFit,
    ReconstructionResult,
    domain_classifier_auc,
    multivariate_report,
    sample_rows,
)

CLASSIFIER_SEED = 1  # `drift.multivariate._evaluate_classifier`'s window sample


@dataclass
class MultivariateState:
    """Reconstruction errors' count, mean and M2; the classifier sample's rows; absent columns."""

    n: int = 0
    mean: float = 0.0
    m2: float = 0.0
    sample: np.ndarray | None = None
    absent: tuple[str, ...] = ()

    def merge(self, other: MultivariateState) -> MultivariateState:
        n = self.n + other.n
        if n == 0:
            mean, m2 = 0.0, 0.0
        else:
            delta = other.mean - self.mean
            mean = self.mean + delta * other.n / n
            m2 = self.m2 + other.m2 + delta * delta * self.n * other.n / n
        parts = [s for s in (self.sample, other.sample) if s is not None]
        sample = np.vstack(parts) if len(parts) > 1 else next(iter(parts), None)
        return MultivariateState(n, mean, m2, sample, tuple(dict.fromkeys(self.absent + other.absent)))


def classifier_positions(fitted: MultivariateFit | None, rows: int) -> np.ndarray:
    """The window's rows (positions) the domain classifier samples, as in memory."""
    if fitted is None or fitted.classifier is None:
        return np.zeros(0, dtype=np.int64)
    return sample_rows(rows, fitted.config.classifier_sample, seed=CLASSIFIER_SEED)


def map_multivariate(
    fitted: MultivariateFit, frame: pd.DataFrame, positions: np.ndarray
) -> MultivariateState:
    """One partition's state; `positions` are its rows in the classifier's sample (local)."""
    absent = tuple(c for c in fitted.features if c not in frame.columns)
    state = MultivariateState(absent=absent)
    if absent or not len(frame):
        return state
    if fitted.reconstruction is not None:
        errors = fitted.reconstruction.errors(frame)
        state.n = int(errors.size)
        state.mean = float(errors.mean())
        state.m2 = float(np.sum((errors - state.mean) ** 2))
    if fitted.classifier is not None and positions.size:
        state.sample = fitted.classifier.matrix(frame.iloc[positions])
    return state


def local_positions(positions: np.ndarray, offset: int, rows: int) -> np.ndarray:
    lo, hi = np.searchsorted(positions, [offset, offset + rows])
    return positions[lo:hi] - offset


@dataclass(frozen=True)
class MultivariatePlan:
    """What partitions need for multivariate drift: the fit, sample positions, partition offsets."""

    fitted: MultivariateFit
    positions: np.ndarray
    offsets: Mapping[int, int] = field(default_factory=dict)  # partition index → first row


def finalize_multivariate(
    fitted: MultivariateFit, state: MultivariateState, rows: int
) -> MultivariateDriftReport:
    """`evaluate_multivariate`'s report from the merged state (same statuses, same notes)."""
    absent = list(state.absent)
    return multivariate_report(
        fitted,
        rows,
        lambda: _reconstruction(fitted, state, absent, rows),
        lambda: _classifier(fitted, state, absent),
    )


def _reconstruction(
    fitted: MultivariateFit, state: MultivariateState, absent: list[str], rows: int
) -> ReconstructionResult:
    model = fitted.reconstruction
    if model is None:
        return ReconstructionResult(None, None, None, None, False, 0, 0.0, fitted.reconstruction_status)
    k, var = model.n_components, model.explained_variance
    if absent:
        why = f"not computed: column(s) missing from the window: {', '.join(absent)}"
        return ReconstructionResult(None, None, model.lower, model.upper, False, k, var, why)
    if rows == 0 or state.n == 0:
        return ReconstructionResult(
            None, None, model.lower, model.upper, False, k, var, "not computed: no rows"
        )
    value = state.mean
    sampling = math.sqrt(state.m2 / (state.n - 1)) / math.sqrt(state.n) if state.n > 1 else None
    lo = -math.inf if model.lower is None else model.lower
    hi = math.inf if model.upper is None else model.upper
    judged = model.upper is not None or model.lower is not None
    alert = judged and not (lo < value < hi)
    status = "ok" if judged else f"not judged: {model.threshold_status}"
    return ReconstructionResult(value, sampling, model.lower, model.upper, alert, k, var, status)


def _classifier(fitted: MultivariateFit, state: MultivariateState, absent: list[str]) -> ClassifierResult:
    config, data = fitted.config, fitted.classifier
    lo, hi = config.classifier_lower, config.classifier_upper
    if data is None:
        return ClassifierResult(None, lo, hi, False, 0, 0, fitted.classifier_status)
    n_ref = len(data.reference)
    if absent:
        why = f"not computed: column(s) missing from the window: {', '.join(absent)}"
        return ClassifierResult(None, lo, hi, False, n_ref, 0, why)
    sample = state.sample if state.sample is not None else np.zeros((0, data.reference.shape[1]))
    n_cur = len(sample)
    if min(n_cur, n_ref) < config.cv_folds:
        why = f"not computed: {min(n_cur, n_ref)} rows on one side, fewer than the {config.cv_folds} folds"
        return ClassifierResult(None, lo, hi, False, n_ref, n_cur, why)
    auc = domain_classifier_auc(data.reference, sample, data.categorical_mask, folds=config.cv_folds)
    return ClassifierResult(auc, lo, hi, not (lo <= auc <= hi), n_ref, n_cur, "ok")
