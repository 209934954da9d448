"""Realized quality metrics, vectorized with numpy.

Every metric comes back as a `MetricValue`: a value, or ``None`` with a status that says why it
could not be computed ("not computable: labels contain a single class"). Bad input never raises.
Rows excluded from a metric (no prediction, no probability) are counted in the status text, so
nothing is dropped silently.

Conventions (checked against scikit-learn in the tests):
- binary precision/recall/F1 are for the positive class; multiclass `precision`/`recall`/`f1` are
  macro averages over the classes present in labels or predictions (scikit-learn's default), with
  the `_weighted` variants weighted by support;
- `pr_auc` is average precision (the step-wise area under the precision-recall curve, scikit-learn's
  `average_precision_score`), macro over classes for multiclass;
- multiclass `roc_auc` is one-vs-rest, macro over the classes that occur in the labels;
- `log_loss` clips probabilities to ``[eps, 1 - eps]`` (float64 machine epsilon);
- `mean_error` is ``mean(prediction - target)`` (positive: over-prediction).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from watchkeeper.performance.config import CLASSIFICATION_METRICS, REGRESSION_METRICS

# The value range of each metric (for clipping bands); None = unbounded on that side.
METRIC_RANGES: dict[str, tuple[float | None, float | None]] = {
    **{m: (0.0, 1.0) for m in CLASSIFICATION_METRICS if m != "log_loss"},
    "log_loss": (0.0, None),
    "mae": (0.0, None),
    "rmse": (0.0, None),
    "mape": (0.0, None),
    "r2": (None, 1.0),
    "mean_error": (None, None),
}
# Direction used by fixed thresholds and findings' wording.
HIGHER_IS_BETTER: dict[str, bool] = {
    **{m: True for m in CLASSIFICATION_METRICS if m != "log_loss"},
    "log_loss": False,
    "mae": False,
    "rmse": False,
    "mape": False,
    "r2": True,
    "mean_error": False,
}
# Probabilities whose row sum is further than this from 1 are "not summing to 1".
PROBA_SUM_TOLERANCE = 1e-3
_EPS = float(np.finfo(np.float64).eps)


@dataclass(frozen=True)
class MetricValue:
    """One metric's value on `n` rows, or None with the reason in `status`."""

    value: float | None
    status: str = "ok"
    n: int = 0

    @property
    def computable(self) -> bool:
        return self.value is not None

    @classmethod
    def missing(cls, why: str, n: int = 0) -> MetricValue:
        return cls(None, f"not computable: {why}", n)

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "status": self.status, "n": self.n}


@dataclass(frozen=True)
class ConfusionMatrix:
    """Counts, rows = true label, columns = predicted label, in `labels` order."""

    labels: tuple[str, ...]
    counts: tuple[tuple[int, ...], ...]

    def to_dict(self) -> dict[str, Any]:
        return {"labels": list(self.labels), "counts": [list(r) for r in self.counts]}


def format_figure(value: float | None) -> str:
    """A figure as the markdown tables and finding messages show it: 4 significant digits, – if none."""
    return "–" if value is None else f"{value:.4g}"


def band_flag(value: float | None, lower: float | None, upper: float | None) -> str:
    """How `value` sits against its reference band: "▲ above band 0.35–0.53", "▼ below band …", or ""
    (inside, or nothing to compare). The tables print it beside the figure, so an estimate far outside
    its band is flagged, not only listed.

    >>> band_flag(0.847, 0.35, 0.53)
    '▲ above band 0.35–0.53'
    >>> band_flag(0.399, 0.71, None)
    '▼ below band ≥ 0.71'
    """
    if value is None or (lower is None and upper is None) or not math.isfinite(value):
        return ""
    if lower is not None and upper is not None:
        band = f"{lower:.4g}–{upper:.4g}"
    else:
        band = f"≥ {lower:.4g}" if lower is not None else f"≤ {upper:.4g}"
    if upper is not None and value > upper:
        return f"▲ above band {band}"
    if lower is not None and value < lower:
        return f"▼ below band {band}"
    return ""


def flagged_figure(value: float | None, lower: float | None, upper: float | None) -> str:
    """The figure as the tables show it, with its band flag when outside: "0.847 ▲ above band 0.35–0.53"."""
    flag = band_flag(value, lower, upper)
    return format_figure(value) + (f" {flag}" if flag else "")


def canonical_label(value: Any) -> str:
    """Labels compared as text: ``1``, ``1.0`` and ``"1"`` are the same class, ``True`` is ``"True"``."""
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating) and math.isfinite(value) and float(value).is_integer():
        return str(int(value))
    return str(value)


def encode_labels(values: pd.Series | np.ndarray, classes: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """Codes into ``classes`` (missing → -1); labels not in `classes` get codes after them.

    Returns the codes and the extra labels met, so callers can report them. Uses `pd.factorize`
    (one hash pass) and canonicalizes only the distinct values, which keeps 1M rows in milliseconds.
    """
    codes, uniques = pd.factorize(pd.Series(values), use_na_sentinel=True)
    canon = [canonical_label(u) for u in uniques]
    known = {c: i for i, c in enumerate(classes)}
    extra: list[str] = []
    lookup = np.empty(len(canon) + 1, dtype=np.int64)
    for j, c in enumerate(canon):
        if c not in known:
            known[c] = len(known)
            extra.append(c)
        lookup[j] = known[c]
    lookup[-1] = -1  # factorize's NaN sentinel -1 indexes the last slot
    return lookup[codes], extra


def proba_problem(proba: np.ndarray, *, binary: bool) -> str | None:
    """Why these probabilities cannot be used, or None. NaN rows are handled by the caller."""
    finite = np.isfinite(proba).all(axis=1)
    rows = proba[finite]
    outside = int(((rows < 0) | (rows > 1)).any(axis=1).sum())
    if outside:
        return f"probabilities outside [0, 1] in {outside} row(s)"
    if not binary:
        off = int((np.abs(rows.sum(axis=1) - 1.0) > PROBA_SUM_TOLERANCE).sum())
        if off:
            return f"probabilities do not sum to 1 in {off} row(s)"
    return None


class ScoreOrder:
    """The rows of a window sorted by each probability column, sorted once and shared.

    The realized ROC AUC and average precision, CBPE's expected ROC AUC and the gap test rank the
    same scores over different rows (the window, its labeled rows, each model version's rows):
    instead of one O(n log n) sort each, each column is sorted once (on first use) and a subset's
    order is read off that sort in O(n). Without ties that is the very permutation a sort of the
    subset gives; within ties the order does not matter to any figure here.

    It also keeps the window-wide figures computed from it (`recall` / `remember`): a subset that
    is the whole window (the only model version) gets them back instead of computing them again.
    """

    def __init__(self, proba: np.ndarray) -> None:
        self._proba = proba
        self._orders: dict[int, np.ndarray] = {}
        self._memo: dict[str, tuple[tuple[Any, ...], Any]] = {}

    def __len__(self) -> int:
        return int(self._proba.shape[0])

    def covers(self, positions: np.ndarray | None) -> bool:
        """Whether `positions` are every row of the window, in order (None: every row)."""
        return positions is None or every_row(positions, len(self))

    def recall(self, key: str, inputs: tuple[Any, ...]) -> Any:
        """What `remember` kept under `key` for the same inputs (equal values), else None."""
        entry = self._memo.get(key)
        if entry is None or len(entry[0]) != len(inputs):
            return None
        return entry[1] if all(map(_same, entry[0], inputs)) else None

    def remember(self, key: str, inputs: tuple[Any, ...], value: Any) -> None:
        self._memo[key] = (inputs, value)

    def of(self, positions: np.ndarray | None, column: int) -> np.ndarray:
        """The order, by `column`'s score, of the rows at `positions` (all rows when None), as
        indices into `positions`; the rows' scores must be finite."""
        order = self._orders.get(column)
        if order is None:
            order = self._orders[column] = np.argsort(self._proba[:, column])
        n = order.size
        if positions is None:
            return order
        if every_row(positions, n):
            return order  # every row, in order
        local = np.full(n, -1, dtype=np.int64)
        local[positions] = np.arange(positions.size)
        picked = local[order]
        sub = picked[picked >= 0]
        if sub.size != positions.size:  # repeated positions: no shared order, sort them
            return np.argsort(self._proba[positions, column])
        return sub


def every_row(positions: np.ndarray, n: int) -> bool:
    """Whether `positions` are 0, 1, …, n-1: every row of an n-row window, in order."""
    return positions.size == n and bool(np.array_equal(positions, np.arange(n)))


_SAME_BLOCK_ROWS = 65_536  # rows compared at a time: equal_nan's masks and copies stay ~1 MB


def _same(a: Any, b: Any) -> bool:
    if a is b:
        return True
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        if a.shape != b.shape or a.dtype != b.dtype:
            return False
        if a.__array_interface__ == b.__array_interface__:
            return True  # the same memory, read the same way
        equal_nan = a.dtype.kind in "fc"
        if a.ndim == 0:
            return bool(np.array_equal(a, b, equal_nan=equal_nan))
        # In row blocks: on whole million-row arrays, equal_nan's masks and masked copies took ~36 MB.
        return all(
            np.array_equal(a[i : i + _SAME_BLOCK_ROWS], b[i : i + _SAME_BLOCK_ROWS], equal_nan=equal_nan)
            for i in range(0, a.shape[0], _SAME_BLOCK_ROWS)
        )
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return False
    return bool(a == b)


def ranking_metrics(y: np.ndarray, score: np.ndarray, order: np.ndarray | None = None) -> tuple[float, float]:
    """(ROC AUC, average precision) from one sort: both need only per-distinct-score counts.

    ROC AUC is the Mann-Whitney statistic (a tied positive/negative pair counts one half); average
    precision is Σ (R_n − R_{n−1}) P_n over distinct score thresholds, highest first (scikit-learn's
    definition). The order within ties does not matter, so the fast unstable sort is fine; `order`
    is the ascending order of `score` when the caller has it (`ScoreOrder`).
    """
    if order is None:
        order = np.argsort(score)
    starts = tie_groups(score[order])
    yy = y[order].astype(np.float64)
    if starts is None:  # every score distinct: each group is one row
        g_pos, g_neg = yy, 1.0 - yy
    else:
        g_pos = np.add.reduceat(yy, starts)
        g_neg = np.diff(np.r_[starts, order.size]) - g_pos
        del yy
    n_pos, n_neg = float(g_pos.sum()), float(g_neg.sum())
    below = np.cumsum(g_neg)
    below -= 0.5 * g_neg
    below *= g_pos
    auc = float(np.sum(below) / (n_pos * n_neg))
    del below
    tps = np.cumsum(g_pos[::-1])
    fps = np.cumsum(g_neg[::-1])
    ap = float(np.sum(np.diff(np.r_[0.0, tps / n_pos]) * (tps / (tps + fps))))
    return auc, ap


def tie_groups(sorted_scores: np.ndarray) -> np.ndarray | None:
    """Where each run of equal values starts in `sorted_scores`; None when every value is distinct
    (then each row is its own group, and summing per group is the identity)."""
    starts = np.flatnonzero(np.diff(sorted_scores))
    if starts.size == max(sorted_scores.size - 1, 0):
        return None
    return np.r_[0, starts + 1]


def roc_auc(y: np.ndarray, score: np.ndarray) -> float:
    return ranking_metrics(y.astype(bool), score)[0]


def average_precision(y: np.ndarray, score: np.ndarray) -> float:
    return ranking_metrics(y.astype(bool), score)[1]


def _note(status: str, excluded: int, why: str) -> str:
    return status if excluded == 0 else f"{status} ({excluded} labeled row(s) {why} excluded)"


def classification_metrics(
    y: np.ndarray,
    yhat: np.ndarray,
    proba: np.ndarray | None,
    *,
    labels: Sequence[str],
    n_proba_classes: int,
    binary: bool,
    proba_unusable: str | None = None,
    order: ScoreOrder | None = None,
    positions: np.ndarray | None = None,
) -> tuple[dict[str, MetricValue], ConfusionMatrix | None]:
    """Metrics on labeled rows.

    `y` and `yhat` are class codes into `labels` (`yhat` may be -1: no prediction); `labels` starts
    with the `n_proba_classes` classes that `proba` has columns for (binary: negative, positive),
    followed by any extra labels met in the data. `proba_unusable` names a problem found upstream
    (missing score column, values outside [0, 1]) that makes every probability metric uncomputable.
    `order` is the window's `ScoreOrder` and `positions` these rows' positions in it (None: all).
    """
    out: dict[str, MetricValue] = {}
    k = len(labels)
    n = int(y.size)
    if order is not None and (len(order) if positions is None else positions.size) != n:
        raise ValueError("positions must name the labeled rows, one each (None: every row of the order)")
    label_names = ["accuracy", "precision", "recall", "f1"]
    if not binary:
        label_names += ["precision_weighted", "recall_weighted", "f1_weighted"]
    prob_names = ["roc_auc", "pr_auc", "log_loss"]
    if n == 0:
        for name in label_names + prob_names:
            out[name] = MetricValue.missing("no labeled rows (labels not arrived yet)")
        return out, None

    # Label metrics, from the confusion matrix.
    has_pred = yhat >= 0
    cm = np.bincount(y[has_pred] * k + yhat[has_pred], minlength=k * k).reshape(k, k)
    label_out, cm_matrix = label_metrics(cm, labels, binary=binary, n=n)
    out.update(label_out)

    # Probability metrics.
    if proba is None or proba_unusable is not None:
        why = proba_unusable or "no score/probability column"
        for name in prob_names:
            out[name] = MetricValue.missing(why, 0)
        return out, cm_matrix
    unknown = int((y >= n_proba_classes).sum())
    if unknown:
        extra = ", ".join(labels[n_proba_classes:])
        for name in prob_names:
            out[name] = MetricValue.missing(
                f"{unknown} label(s) not among the probability classes ({extra})", 0
            )
        return out, cm_matrix
    finite = np.isfinite(proba).all(axis=1)
    mp = int(finite.sum())
    if mp == 0:
        for name in prob_names:
            out[name] = MetricValue.missing("no labeled row has a score", 0)
        return out, cm_matrix
    pstatus = _note("ok", n - mp, "without a score")
    every = mp == n
    yp = y if every else y[finite]
    pr = proba if every else proba[finite]

    def column_order(column: int) -> np.ndarray | None:
        if order is None:
            return None
        if positions is None:
            return order.of(None if every else np.flatnonzero(finite), column)
        return order.of(positions if every else positions[finite], column)

    counts = np.bincount(yp, minlength=n_proba_classes)
    if binary:
        s = pr[:, 1]
        if counts[0] == 0 or counts[1] == 0:
            out["roc_auc"] = MetricValue.missing("labels contain a single class", mp)
            out["pr_auc"] = (
                MetricValue.missing("labels contain a single class (no positives)", mp)
                if counts[1] == 0
                else MetricValue(1.0, pstatus, mp)
            )
        else:
            auc, ap = ranking_metrics(yp == 1, s, column_order(1))
            out["roc_auc"] = MetricValue(auc, pstatus, mp)
            out["pr_auc"] = MetricValue(ap, pstatus, mp)
        sc = np.clip(s, _EPS, 1 - _EPS)
        ll = -np.mean(np.where(yp == 1, np.log(sc), np.log1p(-sc)))
        out["log_loss"] = MetricValue(float(ll), pstatus, mp)
    else:
        classes_in = np.flatnonzero(counts > 0)
        if classes_in.size < 2:
            out["roc_auc"] = MetricValue.missing("labels contain a single class", mp)
            out["pr_auc"] = MetricValue.missing("labels contain a single class", mp)
        else:
            pairs = [ranking_metrics(yp == c, pr[:, c], column_order(int(c))) for c in classes_in]
            aucs = [a for a, _ in pairs]
            aps = [b for _, b in pairs]
            absent = n_proba_classes - classes_in.size
            cstatus = pstatus if absent == 0 else f"{pstatus}; macro over {classes_in.size} classes present"
            out["roc_auc"] = MetricValue(float(np.mean(aucs)), cstatus, mp)
            out["pr_auc"] = MetricValue(float(np.mean(aps)), cstatus, mp)
        p_true = np.clip(pr[np.arange(mp), yp], _EPS, 1 - _EPS)
        out["log_loss"] = MetricValue(float(-np.mean(np.log(p_true))), pstatus, mp)
    return out, cm_matrix


def label_metrics(
    cm: np.ndarray, labels: Sequence[str], *, binary: bool, n: int
) -> tuple[dict[str, MetricValue], ConfusionMatrix | None]:
    """The label metrics of a confusion matrix `cm` (true × predicted codes into `labels`) over `n`
    labeled rows (rows without a prediction are in `n`, not in `cm`): accuracy, precision, recall, F1
    (and the weighted ones for multiclass). Counts merge by addition, so partitions share this."""
    out: dict[str, MetricValue] = {}
    label_names = ["accuracy", "precision", "recall", "f1"]
    if not binary:
        label_names += ["precision_weighted", "recall_weighted", "f1_weighted"]
    m = int(cm.sum())
    cm_matrix: ConfusionMatrix | None = None
    if m == 0:
        for name in label_names:
            out[name] = MetricValue.missing("no labeled row has a prediction", 0)
    else:
        status = _note("ok", n - m, "without a prediction")
        cm_matrix = ConfusionMatrix(tuple(labels), tuple(tuple(int(c) for c in row) for row in cm))
        diag = np.diag(cm).astype(np.float64)
        support = cm.sum(axis=1).astype(np.float64)
        predicted = cm.sum(axis=0).astype(np.float64)
        out["accuracy"] = MetricValue(float(diag.sum() / m), status, m)
        if binary:
            tp, pp, ap = diag[1], predicted[1], support[1]
            out["precision"] = (
                MetricValue(float(tp / pp), status, m)
                if pp > 0
                else MetricValue.missing("no positive predictions", m)
            )
            out["recall"] = (
                MetricValue(float(tp / ap), status, m)
                if ap > 0
                else MetricValue.missing("labels contain a single class (no positives)", m)
            )
            out["f1"] = (
                MetricValue(float(2 * tp / (pp + ap)), status, m)
                if pp + ap > 0
                else MetricValue.missing("no positive labels or predictions", m)
            )
        else:
            present = (support + predicted) > 0
            with np.errstate(divide="ignore", invalid="ignore"):
                prec = np.where(predicted > 0, diag / predicted, 0.0)
                rec = np.where(support > 0, diag / support, 0.0)
                f1 = np.where(support + predicted > 0, 2 * diag / (support + predicted), 0.0)
            weights = support / support.sum()
            for name, per_class in (("precision", prec), ("recall", rec), ("f1", f1)):
                out[name] = MetricValue(float(per_class[present].mean()), status, m)
                out[f"{name}_weighted"] = MetricValue(float(np.sum(per_class * weights)), status, m)
    return out, cm_matrix


def regression_metrics(y: np.ndarray, yhat: np.ndarray) -> dict[str, MetricValue]:
    """MAE, RMSE, MAPE, R² and mean error on labeled rows (`y` finite); NaN predictions excluded."""
    n = int(y.size)
    if n == 0:
        return {
            m: MetricValue.missing("no labeled rows (labels not arrived yet)") for m in REGRESSION_METRICS
        }
    ok = np.isfinite(yhat)
    m = int(ok.sum())
    if m == 0:
        return {name: MetricValue.missing("no labeled row has a prediction") for name in REGRESSION_METRICS}
    status = _note("ok", n - m, "without a prediction")
    yt, yp = y[ok], yhat[ok]
    err = yp - yt
    out = {
        "mae": MetricValue(float(np.mean(np.abs(err))), status, m),
        "rmse": MetricValue(float(np.sqrt(np.mean(err * err))), status, m),
        "mean_error": MetricValue(float(np.mean(err)), status, m),
    }
    zeros = int((yt == 0).sum())
    out["mape"] = (
        MetricValue.missing(f"{zeros} target(s) are 0 (percentage error undefined)", m)
        if zeros
        else MetricValue(float(np.mean(np.abs(err) / np.abs(yt))), status, m)
    )
    ss_tot = float(np.sum((yt - yt.mean()) ** 2))
    out["r2"] = (
        MetricValue.missing("target is constant (R² undefined)", m)
        if m < 2 or ss_tot == 0
        else MetricValue(float(1 - np.sum(err * err) / ss_tot), status, m)
    )
    return out
