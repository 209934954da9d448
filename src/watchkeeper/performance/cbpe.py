"""Confidence-based performance estimation (CBPE): classification quality without labels.

If the model's probabilities are calibrated, the probability that row *i* is of class *k* is
``p_ik``, so the expected confusion matrix of a window is a sum of probabilities: expected true
positives of class *k* = Σ over rows predicted *k* of ``p_ik``. From it come estimated accuracy,
precision, recall, F1 and ROC AUC. This holds as long as P(y | x) is the one seen on the reference
(no concept drift); the gap between estimate and realized figure is therefore our concept-drift test.

Fitting (`fit_cbpe`): isotonic regression per class (one-vs-rest) is used only if K-fold
cross-validation on the reference shows that it lowers the expected calibration error (ECE, 10
equal-width bins, class-wise mean for multiclass). The fitted calibrators are stored as their
breakpoints (`np.interp` reproduces scikit-learn's isotonic prediction with clipping), so the
estimator is plain data: `to_dict()` is JSON, `from_dict()` rebuilds it, and it pickles.

Standard errors: labels are independent Bernoulli/categorical draws given the probabilities, so
the realized figure's spread around the estimate has a closed form — exact for accuracy and
precision (a sum of independent Bernoullis over fixed rows), the delta method for recall and F1
(ratios of two independent sums), Hanley-McNeil for ROC AUC. Multiclass macro figures ignore the
covariance between classes (a small, conservative approximation). Bands are ± `standard_errors` SE.

Expected ROC AUC ranks rows by the model's raw score (what the realized AUC uses) and weights each
(positive, negative) pair by ``p_i (1 - p_j)``; ties count one half and a row is never paired with
itself: ``(Σ_{i≠j} p_i (1 - p_j) [s_i > s_j] + ½ [s_i = s_j]) / (P·N − Σ p_i (1 - p_i))``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from watchkeeper.performance.config import ESTIMATED_METRICS
from watchkeeper.performance.metrics import ScoreOrder, tie_groups

ECE_BINS = 10


@dataclass(frozen=True)
class Estimate:
    """An estimated metric with its standard error and band, or None with the reason in `status`."""

    value: float | None
    std: float | None = None
    lower: float | None = None
    upper: float | None = None
    status: str = "ok"
    n: int = 0

    @property
    def computable(self) -> bool:
        return self.value is not None

    @classmethod
    def missing(cls, why: str, n: int = 0) -> Estimate:
        return cls(None, status=f"not computable: {why}", n=n)

    def to_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "std": self.std,
            "lower": self.lower,
            "upper": self.upper,
            "status": self.status,
            "n": self.n,
        }


@dataclass(frozen=True)
class Calibrator:
    """A fitted isotonic map, stored as its breakpoints (increasing `x`)."""

    x: tuple[float, ...]
    y: tuple[float, ...]

    def apply(self, score: np.ndarray) -> np.ndarray:
        return np.interp(score, np.asarray(self.x), np.asarray(self.y))

    @classmethod
    def fit(cls, score: np.ndarray, target: np.ndarray) -> Calibrator:
        # scikit-learn is imported when a baseline is fitted, not whenever a config is loaded.
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(score, target)
        return cls(tuple(float(v) for v in iso.X_thresholds_), tuple(float(v) for v in iso.y_thresholds_))


def expected_calibration_error(proba: np.ndarray, target: np.ndarray, bins: int = ECE_BINS) -> float:
    """Weighted mean |observed rate − mean probability| over equal-width probability bins."""
    idx = np.minimum((proba * bins).astype(np.int64), bins - 1)
    sum_p = np.bincount(idx, weights=proba, minlength=bins)
    sum_y = np.bincount(idx, weights=target.astype(np.float64), minlength=bins)
    return float(np.sum(np.abs(sum_y - sum_p)) / max(proba.size, 1))


def _classwise_ece(proba: np.ndarray, y: np.ndarray, binary: bool) -> float:
    if binary:
        return expected_calibration_error(proba[:, 1], y == 1)
    return float(np.mean([expected_calibration_error(proba[:, c], y == c) for c in range(proba.shape[1])]))


def _apply_calibrators(proba: np.ndarray, calibrators: Sequence[Calibrator], binary: bool) -> np.ndarray:
    if binary:
        c = calibrators[0].apply(proba[:, 1])
        return np.column_stack([1.0 - c, c])
    cal = np.column_stack([cal.apply(proba[:, k]) for k, cal in enumerate(calibrators)])
    total = cal.sum(axis=1, keepdims=True)
    # A row every calibrator maps to 0 keeps its raw probabilities rather than dividing by zero.
    return np.where(total > 0, cal / np.where(total > 0, total, 1.0), proba)


def _fit_calibrators(proba: np.ndarray, y: np.ndarray, binary: bool) -> list[Calibrator]:
    if binary:
        return [Calibrator.fit(proba[:, 1], (y == 1).astype(np.float64))]
    return [Calibrator.fit(proba[:, k], (y == k).astype(np.float64)) for k in range(proba.shape[1])]


@dataclass(frozen=True)
class CBPEEstimator:
    """Fitted CBPE: the classes, whether scores are calibrated, and the calibrators if so."""

    classes: tuple[str, ...]
    binary: bool
    calibrated: bool
    calibrators: tuple[Calibrator, ...]
    ece_raw: float
    ece_calibrated_cv: float | None
    standard_errors: float = 3.0

    def calibrate(self, proba: np.ndarray) -> np.ndarray:
        return _apply_calibrators(proba, self.calibrators, self.binary) if self.calibrated else proba

    def estimate(
        self,
        proba: np.ndarray,
        yhat: np.ndarray,
        *,
        calibrated: np.ndarray | None = None,
        order: ScoreOrder | None = None,
        positions: np.ndarray | None = None,
    ) -> dict[str, Estimate]:
        """Estimated metrics for rows with probabilities `proba` (n × K, raw) and predicted codes `yhat`.

        Rows with a missing prediction (-1) or a non-finite probability are left out and counted in
        the status. `proba` must already be checked to lie in [0, 1] (and sum to 1 for multiclass).
        `calibrated` is ``self.calibrate(proba)`` when the caller already has it (saves a pass).
        `order` is the window's `ScoreOrder` (its sorts are shared) and `positions` these rows'
        positions in the window (None: these are the window's rows).
        """
        rows = proba.shape[0]
        if order is not None and (rows if positions is None else positions.size) != rows:
            raise ValueError("positions must name the rows of proba, one each")
        if order is not None and positions is None and len(order) != rows:
            raise ValueError("without positions, proba must hold every row of the order")
        # The whole window's estimates are computed once (a window with one model version asks twice).
        whole = order is not None and order.covers(positions)
        inputs = (self, proba, yhat, calibrated)
        if whole and order is not None:
            kept = order.recall("estimate", inputs)
            if kept is not None:
                return dict(kept)
        out = self._estimate(proba, yhat, calibrated, order, positions)
        if whole and order is not None:
            order.remember("estimate", inputs, dict(out))
        return out

    def _estimate(
        self,
        proba: np.ndarray,
        yhat: np.ndarray,
        calibrated: np.ndarray | None,
        order: ScoreOrder | None,
        positions: np.ndarray | None,
    ) -> dict[str, Estimate]:
        ok = np.isfinite(proba).all(axis=1) & (yhat >= 0) & (yhat < len(self.classes))
        n = int(ok.sum())
        if n == 0:
            return {m: Estimate.missing("no rows with a prediction and a score") for m in ESTIMATED_METRICS}
        excluded = int(ok.size - n)
        status = "ok" if excluded == 0 else f"ok ({excluded} row(s) without a prediction or score excluded)"
        every = excluded == 0  # no row left out: the arrays themselves, not copies
        raw = proba if every else proba[ok]
        pred = yhat if every else yhat[ok]
        cal = calibrated if calibrated is None or every else calibrated[ok]
        cal = self.calibrate(raw) if cal is None else cal
        kept = positions  # the rows' positions in `order` (None: all of its rows)
        if order is not None and not every:
            kept = np.flatnonzero(ok) if positions is None else positions[ok]
        z = self.standard_errors
        out: dict[str, Estimate] = {}

        # Accuracy: each row is correct with probability c_i = p_i[ŷ_i], independently.
        c = cal[np.arange(n), pred]
        out["accuracy"] = _band(float(c.mean()), float(np.sqrt(np.sum(c * (1 - c))) / n), z, status, n)

        classes = [1] if self.binary else list(range(cal.shape[1]))
        per: dict[str, list[tuple[float, float] | None]] = {
            m: [] for m in ("precision", "recall", "f1", "roc_auc")
        }
        for k in classes:
            sorted_by = None if order is None else order.of(kept, k)
            one = _one_vs_rest(cal[:, k], raw[:, k], pred == k, sorted_by)
            for name in per:
                per[name].append(one[name])
        for name, values in per.items():
            usable = [v for v in values if v is not None]
            if not usable:
                why = {
                    "precision": "no positive predictions",
                    "recall": "no expected positives",
                    "f1": "no expected positives or predictions",
                    "roc_auc": "expected labels are a single class",
                }[name]
                out[name] = Estimate.missing(why, n)
                continue
            value = float(np.mean([v for v, _ in usable]))
            std = float(np.sqrt(np.sum([var for _, var in usable])) / len(usable))
            st = status if len(usable) == len(values) else f"{status}; macro over {len(usable)} classes"
            out[name] = _band(value, std, z, st, n)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "classes": list(self.classes),
            "binary": self.binary,
            "calibrated": self.calibrated,
            "calibrators": [{"x": list(c.x), "y": list(c.y)} for c in self.calibrators],
            "ece_raw": self.ece_raw,
            "ece_calibrated_cv": self.ece_calibrated_cv,
            "standard_errors": self.standard_errors,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CBPEEstimator:
        return cls(
            classes=tuple(data["classes"]),
            binary=bool(data["binary"]),
            calibrated=bool(data["calibrated"]),
            calibrators=tuple(Calibrator(tuple(c["x"]), tuple(c["y"])) for c in data["calibrators"]),
            ece_raw=float(data["ece_raw"]),
            ece_calibrated_cv=None if data["ece_calibrated_cv"] is None else float(data["ece_calibrated_cv"]),
            standard_errors=float(data["standard_errors"]),
        )


def _band(value: float, std: float, z: float, status: str, n: int) -> Estimate:
    return Estimate(value, std, max(0.0, value - z * std), min(1.0, value + z * std), status, n)


def _one_vs_rest(
    p: np.ndarray, score: np.ndarray, predicted: np.ndarray, order: np.ndarray | None = None
) -> dict[str, tuple[float, float] | None]:
    """(estimate, variance) of precision, recall, F1 and ROC AUC for one class; None if undefined."""
    var = p * (1 - p)
    tp = float(p[predicted].sum())  # A: true positives among predicted positives
    fn = float(p[~predicted].sum())  # B: positives among predicted negatives
    var_a = float(var[predicted].sum())
    var_b = float(var[~predicted].sum())
    n_pp = float(predicted.sum())
    out: dict[str, tuple[float, float] | None] = {}
    out["precision"] = (tp / n_pp, var_a / n_pp**2) if n_pp > 0 else None
    pos = tp + fn
    out["recall"] = (tp / pos, (fn**2 * var_a + tp**2 * var_b) / pos**4) if pos > 0 else None
    d = n_pp + pos
    out["f1"] = (2 * tp / d, 4 * ((n_pp + fn) ** 2 * var_a + tp**2 * var_b) / d**4) if d > 0 else None
    out["roc_auc"] = _expected_auc(p, score, order)
    return out


def _expected_auc(
    p: np.ndarray, score: np.ndarray, order: np.ndarray | None = None
) -> tuple[float, float] | None:
    if order is None:  # `order`: the ascending order of `score`, when the caller has it
        order = np.argsort(score)  # order within ties is irrelevant: equal scores are grouped
    # Group equal scores: a pair with equal scores counts one half.
    starts = tie_groups(score[order])
    w_pos = p[order]
    w_neg = 1.0 - w_pos
    self_pairs = float(np.sum(w_pos * w_neg))
    if starts is None:  # every score distinct: each group is one row
        g_pos, g_neg = w_pos, w_neg
    else:
        g_pos = np.add.reduceat(w_pos, starts)
        g_neg = np.add.reduceat(w_neg, starts)
        del w_pos, w_neg
    pairs = float(g_pos.sum() * g_neg.sum()) - self_pairs
    if pairs <= 1e-12:
        return None
    # Σ g_pos · (negatives below + ½ tied negatives), in place: the same operations, fewer arrays.
    weighted = np.cumsum(g_neg)
    weighted -= g_neg
    weighted += 0.5 * g_neg
    weighted *= g_pos
    auc = (float(np.sum(weighted)) - 0.5 * self_pairs) / pairs
    del weighted
    auc = min(max(auc, 0.0), 1.0)
    # Hanley & McNeil (1982) with the expected numbers of positives and negatives.
    n_pos, n_neg = float(g_pos.sum()), float(g_neg.sum())
    q1 = auc / (2 - auc)
    q2 = 2 * auc * auc / (1 + auc)
    var = (auc * (1 - auc) + (n_pos - 1) * (q1 - auc**2) + (n_neg - 1) * (q2 - auc**2)) / max(
        n_pos * n_neg, 1e-12
    )
    return auc, max(var, 0.0)


def fit_cbpe(
    proba: np.ndarray,
    y: np.ndarray,
    *,
    classes: Sequence[str],
    binary: bool,
    calibration: str = "auto",
    cv_folds: int = 5,
    standard_errors: float = 3.0,
    seed: int = 0,
) -> CBPEEstimator:
    """Fit on reference probabilities (n × K, valid) and labels (codes 0..K-1).

    ``calibration="auto"``: out-of-fold isotonic calibration is compared with the raw scores on the
    same rows by ECE; the calibrators (refit on all rows) are kept only if they lower it.
    """
    ece_raw = _classwise_ece(proba, y, binary)
    ece_cv: float | None = None
    if calibration == "never":
        return CBPEEstimator(tuple(classes), binary, False, (), ece_raw, None, standard_errors)
    if calibration == "auto":
        folds = np.random.default_rng(seed).permutation(y.size) % cv_folds
        oof = np.empty_like(proba)
        for f in range(cv_folds):
            test = folds == f
            cals = _fit_calibrators(proba[~test], y[~test], binary)
            oof[test] = _apply_calibrators(proba[test], cals, binary)
        ece_cv = _classwise_ece(oof, y, binary)
        if ece_cv >= ece_raw:
            return CBPEEstimator(tuple(classes), binary, False, (), ece_raw, ece_cv, standard_errors)
    cals = _fit_calibrators(proba, y, binary)
    return CBPEEstimator(tuple(classes), binary, True, tuple(cals), ece_raw, ece_cv, standard_errors)
