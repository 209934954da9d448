"""`evaluate_drift`: per-column drift of a window against a fitted reference, decided on full data.

The drift check is `fit_drift` (`watchkeeper.drift.reference`: the reference's column profiles,
built once) then `evaluate_drift` (here); `detect_drift` does both for a pair of frames. The work
per column: profile the window's column, choose the method and threshold as Evidently's
DataDriftPreset would, compute the score and an effect size, and record a status. Columns run in a thread pool (sorting and NumPy kernels release the GIL).
Then the multiple-testing correction, if configured, adjusts the features' p-values, and the
dataset-level decision is taken over the feature columns that could be tested.

Evidently's default choice (`legacy/calculations/stattests/registry.py::_get_default_stattest`),
with n = reference values after dropping NaN/±inf and u = distinct values on both sides:

- n <= 1000: numerical → ``ks`` (u > 5), ``chisquare`` (2 < u <= 5), ``z`` (u <= 2);
  categorical → ``chisquare`` (u > 2) or ``z``;
- n > 1000: numerical → ``wasserstein`` (u > 5) or ``jensenshannon``; categorical →
  ``jensenshannon``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from watchkeeper.drift.config import DriftConfig
from watchkeeper.drift.kinds import infer_kind, type_family
from watchkeeper.drift.methods.binned import jensenshannon_distance
from watchkeeper.drift.methods.numerical import normed_wasserstein
from watchkeeper.drift.profile import Profile
from watchkeeper.drift.reference import ReferenceProfile, fit_drift, profile_series
from watchkeeper.drift.registry import DriftMethod, Kind, NotTestable, get_method
from watchkeeper.drift.report import ColumnDrift, DriftReport, Role
from watchkeeper.drift.samples import ColumnPair

SMALL_REFERENCE = 1000


@dataclass(frozen=True)
class ColumnPlan:
    """One column to test: its role, its kind, or why it cannot be tested before reading values."""

    column: str
    role: Role
    kind: Kind | None
    status: str | None  # set when the column cannot be tested before looking at its values


def _resolve_method(config: DriftConfig, column: str, kind: Kind) -> str | None:
    name = config.per_column_method.get(column)
    if name is None:
        name = config.num_method if kind == "numerical" else config.cat_method
    if name is None:
        name = config.method
    return name


def _resolve_threshold(config: DriftConfig, column: str, kind: Kind, method: DriftMethod) -> float:
    if column in config.per_column_threshold:
        return config.per_column_threshold[column]
    by_kind = config.num_threshold if kind == "numerical" else config.cat_threshold
    if by_kind is not None:
        return by_kind
    if config.threshold is not None:
        return config.threshold
    return method.default_threshold


def default_method_name(pair: ColumnPair) -> str:
    """Evidently 0.7's default method for this column pair."""
    n_values = pair.union_nunique_at_most(5)
    if pair.n_ref <= SMALL_REFERENCE:
        if pair.kind == "numerical" and n_values > 5:
            return "ks"
        return "chisquare" if n_values > 2 else "z"
    if pair.kind == "numerical":
        return "jensenshannon" if n_values <= 5 else "wasserstein"
    return "jensenshannon"


def _not_testable(plan: ColumnPlan, status: str, **extra: object) -> ColumnDrift:
    base: dict[str, object] = {
        "column": plan.column,
        "role": plan.role,
        "kind": plan.kind,
        "method": None,
        "score": None,
        "threshold": None,
        "drifted": False,
        "p_value": None,
        "p_value_adjusted": None,
        "effect_size": None,
        "effect_size_method": None,
        "n_reference": 0,
        "n_current": 0,
        "missing_share": None,
        "status": status,
    }
    base.update(extra)
    return ColumnDrift(**base)  # type: ignore[arg-type]


def _analyze_safely(plan: ColumnPlan, reference: ReferenceProfile, current: pd.DataFrame) -> ColumnDrift:
    """`_analyze`, with any unexpected failure turned into that column's status."""
    try:
        return _analyze(plan, reference, current)
    except Exception as exc:  # one odd column (duplicate names, exotic dtypes) must not sink the report
        return _not_testable(plan, f"not testable: {type(exc).__name__}: {exc}")


def _analyze(plan: ColumnPlan, reference: ReferenceProfile, current: pd.DataFrame) -> ColumnDrift:
    if plan.status is not None or plan.kind is None:
        return _not_testable(plan, plan.status or "not testable: unknown column kind")
    column, kind = plan.column, plan.kind
    ref = reference.columns.get(column)
    in_ref, in_cur = ref is not None, column in current.columns
    if ref is None or not in_cur:
        side = "both windows" if not (in_ref or in_cur) else "reference" if not in_ref else "current"
        return _not_testable(plan, f"not testable: column missing from {side}")
    if ref.error is not None:
        return _not_testable(plan, f"not testable: {ref.error}")
    cur_series = current[column]
    ref_family, cur_family = ref.family, type_family(cur_series)
    if "empty" not in (ref_family, cur_family) and ref_family != cur_family:
        return _not_testable(
            plan,
            f"not testable: type differs between reference ({ref.dtype}, {ref_family}) "
            f"and current ({cur_series.dtype}, {cur_family})",
        )
    if kind == "numerical":
        sides = (("reference", ref.dtype, ref_family), ("current", str(cur_series.dtype), cur_family))
        for side, dtype, fam in sides:
            if fam not in ("number", "empty"):
                return _not_testable(
                    plan, f"not testable: numerical column holds non-numeric values in {side} ({dtype})"
                )
    ref_profile = ref.profile_for(kind)
    if isinstance(ref_profile, str):
        return _not_testable(plan, f"not testable: {ref_profile}")
    return compare_profiles(plan, reference.config, ref_profile, profile_series(cur_series, kind))


def compare_profiles(
    plan: ColumnPlan, config: DriftConfig, ref_profile: Profile, cur_profile: Profile
) -> ColumnDrift:
    """One column's drift from its two profiles (a window's profile may come merged from partitions)."""
    column, kind = plan.column, plan.kind
    assert kind is not None
    counts = {
        "n_reference": ref_profile.n,
        "n_current": cur_profile.n,
        "missing_share": cur_profile.missing_share,
    }
    for side, prof in (("reference", ref_profile), ("current", cur_profile)):
        if prof.n_rows == 0:
            return _not_testable(plan, f"not testable: no rows in {side}", **counts)
        if prof.n == 0:
            return _not_testable(plan, f"not testable: all values are NaN or inf in {side}", **counts)
    pair = ColumnPair(kind, ref_profile, cur_profile)
    name = _resolve_method(config, column, kind)
    explicit = name is not None
    if name is None:
        name = default_method_name(pair)
    method = get_method(name)
    if explicit and kind not in method.kinds:
        return _not_testable(
            plan,
            f"not testable: method {name} does not apply to {kind} columns",
            method=name,
            **counts,
        )
    threshold = _resolve_threshold(config, column, kind, method)
    common = {"method": name, "threshold": threshold, **counts}
    try:
        score = method.compute(pair)
    except NotTestable as exc:
        return _not_testable(plan, f"not testable: {exc}", **common)
    except Exception as exc:  # a failing method marks its column, never the whole report
        return _not_testable(plan, f"not testable: {name} failed ({type(exc).__name__}: {exc})", **common)
    if math.isnan(score):
        return _not_testable(plan, f"not testable: {name} gives no score (NaN) for these values", **common)
    if kind == "numerical":
        effect = score if name == "wasserstein" else normed_wasserstein(pair)
        effect_method = "wasserstein"
    else:
        effect = score if name == "jensenshannon" else jensenshannon_distance(pair)
        effect_method = "jensenshannon"
    p_value = score if method.is_p_value else None
    return ColumnDrift(
        column=column,
        role=plan.role,
        kind=kind,
        method=name,
        score=score,
        threshold=threshold,
        drifted=method.is_drift(score, threshold),
        p_value=p_value,
        p_value_adjusted=p_value,
        effect_size=effect,
        effect_size_method=effect_method,
        n_reference=ref_profile.n,
        n_current=cur_profile.n,
        missing_share=cur_profile.missing_share,
        status="ok",
    )


def adjust_p_values(p_values: Sequence[float], correction: str) -> np.ndarray:
    """Benjamini–Hochberg or Bonferroni adjusted p-values (capped at 1); "none" returns them."""
    p = np.asarray(p_values, dtype=np.float64)
    m = p.size
    if correction == "none" or m == 0:
        return p.copy()
    if correction == "bonferroni":
        return np.minimum(p * m, 1.0)
    if correction == "bh":
        order = np.argsort(p, kind="stable")
        ranked = p[order] * m / np.arange(1, m + 1)
        # Step-up: each adjusted value is the smallest of those at its rank and above.
        ranked = np.minimum.accumulate(ranked[::-1])[::-1]
        out = np.empty(m)
        out[order] = np.minimum(ranked, 1.0)
        return np.maximum(out, p)  # guards against rounding below the raw value
    raise ValueError(f"unknown correction {correction!r}; expected none, bh or bonferroni")


def _plan_columns(
    reference: ReferenceProfile, current: pd.DataFrame, prediction: Sequence[str], target: str | None
) -> list[ColumnPlan]:
    special = list(prediction) + ([target] if target is not None else [])

    def infer(column: str) -> tuple[Kind | None, str | None]:
        # The window's values decide the kind; the reference's when the window lacks the column.
        if column in current.columns:
            kind = infer_kind(current[column])
        elif column in reference.columns:
            kind = reference.columns[column].inferred
        else:
            return None, "not testable: column missing from both windows"
        if kind in ("numerical", "categorical"):
            return kind, None  # type: ignore[return-value]
        return None, kind

    plans: list[ColumnPlan] = []
    if reference.inferred_features:
        ordered = list(dict.fromkeys([*current.columns, *reference.column_order]))
        for column in ordered:
            if column in special:
                continue
            kind, status = infer(column)
            if status == "datetime":
                continue  # Evidently's drift preset leaves datetime columns out as well
            plans.append(ColumnPlan(column, "feature", kind, status))
    else:
        plans += [ColumnPlan(c, "feature", "numerical", None) for c in reference.numerical or ()]
        plans += [ColumnPlan(c, "feature", "categorical", None) for c in reference.categorical or ()]
    for role, columns in (("prediction", list(prediction)), ("target", [target] if target else [])):
        for column in columns:
            kind, status = infer(column)
            if status == "datetime":
                status = "not testable: datetime columns are not supported"
            plans.append(ColumnPlan(column, role, kind, status))  # type: ignore[arg-type]
    return plans


def evaluate_drift(
    reference: ReferenceProfile,
    current: pd.DataFrame,
    *,
    prediction: Sequence[str] | None = None,
    include_target: bool = True,
) -> DriftReport:
    """Drift of every fitted column of `current` against the fitted reference (the drift check's
    `evaluate`), as Evidently's DataDriftPreset decides it.

    `prediction` picks which of the fitted prediction columns to test (default: all of them);
    `include_target` false leaves the target out (a window whose labels have not arrived).
    """
    config = reference.config
    chosen = reference.prediction if prediction is None else tuple(prediction)
    unknown = sorted(set(chosen) - set(reference.prediction))
    if unknown:
        raise ValueError(
            f"prediction column(s) {unknown} were not fitted; fitted: {list(reference.prediction)}"
        )
    target = reference.target if include_target else None
    plans = _plan_columns(reference, current, chosen, target)
    workers = config.max_workers or min(len(plans) or 1, os.cpu_count() or 1)
    if workers > 1 and len(plans) > 1:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="drift") as pool:
            results = list(pool.map(lambda p: _analyze_safely(p, reference, current), plans))
    else:
        results = [_analyze_safely(p, reference, current) for p in plans]
    return summarize_drift(results, config, cache_hits=reference.cache_hits)


def summarize_drift(results: list[ColumnDrift], config: DriftConfig, *, cache_hits: int = 0) -> DriftReport:
    """The multiple-testing correction and the dataset-level decision over the columns' results."""
    tested = [
        i
        for i, r in enumerate(results)
        if r.role == "feature" and r.testable and r.p_value is not None and r.method is not None
    ]
    if config.correction != "none" and tested:
        adjusted = adjust_p_values([results[i].p_value for i in tested], config.correction)  # type: ignore[misc]
        for i, p_adj in zip(tested, adjusted.tolist(), strict=True):
            r = results[i]
            method = get_method(r.method)  # type: ignore[arg-type]
            results[i] = replace(
                r,
                p_value_adjusted=p_adj,
                drifted=method.is_drift(p_adj, r.threshold),  # type: ignore[arg-type]
            )

    features = [r for r in results if r.role == "feature" and r.testable]
    n_drifted = sum(r.drifted for r in features)
    share = n_drifted / len(features) if features else 0.0
    return DriftReport(
        columns=tuple(results),
        drift_share=config.drift_share,
        correction=config.correction,
        n_columns=len(features),
        n_drifted=n_drifted,
        share=share,
        dataset_drift=bool(features) and share >= config.drift_share,
        cache_hits=cache_hits,
    )


def detect_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    config: DriftConfig | None = None,
    *,
    numerical: Sequence[str] | None = None,
    categorical: Sequence[str] | None = None,
    prediction: Sequence[str] = (),
    target: str | None = None,
    cache_dir: Path | None = None,
    reference_fingerprint: str | None = None,
) -> DriftReport:
    """Drift of every column of `current` against `reference`: `fit_drift` then `evaluate_drift`.

    `numerical` / `categorical` name the feature columns; when both are None, every column except
    the prediction and target ones is typed as Evidently does (floats numerical, integers with at
    most 10 values categorical, strings categorical unless mostly unique). `prediction` columns and
    the `target` column are tested too and reported apart; they do not count towards dataset drift.
    `cache_dir` and `reference_fingerprint` turn on the cross-run reference cache (`fit_drift`).
    """
    fitted = fit_drift(
        reference,
        config,
        numerical=numerical,
        categorical=categorical,
        prediction=prediction,
        target=target,
        cache_dir=cache_dir,
        reference_fingerprint=reference_fingerprint,
    )
    return evaluate_drift(fitted, current)
