"""Generating a suite from the reference data, ready for review.

Severity policy of generated suites (reviewers may change any of it):

- critical: missing columns, numeric dtype changes, nulls above the reference rate (see below), numerical values
  outside the widened reference range in more than 1 % of rows (the far tail of a drifted feature is
  drift, not broken data), scores/probabilities outside [0, 1], unknown predicted classes. These
  mean the data is broken, so the window is not usable for retraining.
- warning: unseen categorical values (new categories are often legitimate and drift reports their
  share), duplicate request ids (double-logged requests bias counts but do not corrupt features),
  row counts outside the expected window size (traffic varies; the serving section measures it),
  regression predictions outside their reference range (a model output shift is drift territory).

Model outputs (prediction, score, class probabilities) exist only for successful requests: a failed
request (its `columns.status` not one of `columns.ok_statuses`) carries none. So every expectation on
an output applies to successful requests only, through a GX row condition on the status column
(``row_condition: {type: comparison, column: {name: status}, operator: IN, parameter: [ok, ...]}``,
GX's Condition object as a mapping; the string form with ``condition_parser`` is deprecated in GX
1.9+). The request error rate is the serving section's business, not the suite's.

`mostly` of a not-null expectation is learned from the reference with a margin for the window's size:
with ``k`` nulls in ``N`` reference rows (successful requests only, for outputs), the null rate is at
most ``p`` = the one-sided Clopper–Pearson upper bound at ``confidence`` (so a reference with no
nulls still allows some), and a window of ``n`` rows (the expected window size; for outputs, times
the reference's share of successful requests) holds at most the ``confidence`` quantile of
Binomial(n, p) nulls when nothing is broken. ``mostly`` is one minus that share, floored to 4
decimals. With the defaults (confidence 0.999), a reference of 17,914 rows without nulls and windows
of 2,000 rows give ``mostly: 0.9975``; a broken join (a quarter of a column missing) is far beyond.
"""

from __future__ import annotations

import math
from datetime import timedelta
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from watchkeeper.performance.metrics import canonical_label
from watchkeeper.schema import ColumnsConfig
from watchkeeper.validation.spec import ExpectationSpec, ExpectationSuiteSpec, SuiteError
from watchkeeper.verdict import Severity

# Dtype families for `expect_column_values_to_be_in_type_list` (names GX resolves for pandas).
_NUMERIC_TYPES = (
    "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float32", "float64",
    "Int64Dtype", "Float64Dtype",
)  # fmt: skip
_BOOL_TYPES = ("bool", "BooleanDtype")
_STRING_TYPES = ("object", "str", "StringDtype")


def estimate_window_rows(frame: pd.DataFrame, timestamp: str, window: timedelta) -> int | None:
    """Rows per window implied by a timestamped frame (its rows over its time span); None if unknown.

    Used to set the row-count bounds of a generated suite from the reference (or recent logs).
    """
    if timestamp not in frame.columns or len(frame) < 2 or window <= timedelta(0):
        return None
    times = pd.to_datetime(frame[timestamp], errors="coerce").dropna()
    if len(times) < 2:
        return None
    span = (times.max() - times.min()).to_pytimedelta()
    if span <= timedelta(0):
        return None
    return max(1, round(len(times) * (window / span)))


def _outward(value: float, *, up: bool, digits: int = 4) -> float:
    """Round to `digits` significant digits away from the data (bounds only ever widen)."""
    if value == 0 or not math.isfinite(value):
        return float(value)
    step = 10.0 ** (math.floor(math.log10(abs(value))) - digits + 1)
    rounded = (math.ceil if up else math.floor)(value / step) * step
    return float(f"{rounded:.{digits}g}")


def _floor_to(value: float, decimals: int) -> float:
    scale = 10**decimals
    # The epsilon keeps 0.9615 at 0.9615 when binary floating point stores 9614.9999999.
    return math.floor(value * scale + 1e-9) / scale


def _py(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _type_list(series: pd.Series) -> list[str] | None:
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return list(_BOOL_TYPES)
    if pd.api.types.is_numeric_dtype(dtype):
        return list(_NUMERIC_TYPES)
    if pd.api.types.is_string_dtype(dtype) and not isinstance(dtype, pd.CategoricalDtype):
        return list(_STRING_TYPES)
    return None


def _type_check(column: str, series: pd.Series, note: str) -> ExpectationSpec | None:
    types = _type_list(series)
    if types is None:
        return None
    return ExpectationSpec(
        "expect_column_values_to_be_in_type_list",
        {"column": column, "type_list": types},
        Severity.CRITICAL,
        notes=note,
    )


def _append(exps: list[ExpectationSpec], exp: ExpectationSpec | None) -> None:
    if exp is not None:
        exps.append(exp)


NULL_CONFIDENCE = 0.999  # of the reference's null-rate bound and of the window's null count


def null_share_bound(nulls: int, rows: int, window_rows: int, confidence: float = NULL_CONFIDENCE) -> float:
    """The share of nulls a healthy window of `window_rows` rows stays under (see the module docstring).

    >>> null_share_bound(0, 17_914, 2_000)  # no nulls in the reference: up to 5 in 2,000 rows
    0.0025
    """
    if rows <= 0 or window_rows <= 0:
        return 1.0
    # One-sided Clopper–Pearson upper bound of the reference's null rate.
    rate = 1.0 if nulls >= rows else float(stats.beta.ppf(confidence, nulls + 1, rows - nulls))
    return float(stats.binom.ppf(confidence, window_rows, rate)) / window_rows


def _not_null(
    column: str,
    series: pd.Series,
    note: str,
    *,
    window_rows: int,
    confidence: float,
    row_condition: dict[str, Any] | None = None,
) -> ExpectationSpec:
    rows, nulls = len(series), int(series.isna().sum())
    share = null_share_bound(nulls, rows, window_rows, confidence)
    kwargs: dict[str, Any] = {"column": column}
    mostly = _floor_to(1.0 - min(1.0, share), 4)
    if mostly < 1.0:
        kwargs["mostly"] = mostly
    if row_condition is not None:
        kwargs["row_condition"] = row_condition
    rate = nulls / rows if rows else 0.0
    return ExpectationSpec(
        "expect_column_values_to_not_be_null",
        kwargs,
        Severity.CRITICAL,
        notes=(
            f"{note}; reference null rate {rate:.4%} ({nulls} of {rows} rows); at most {share:.2%} nulls "
            f"in a healthy window of {window_rows} rows (binomial bound at {confidence:g})"
        ),
    )


def ok_status_condition(columns: ColumnsConfig, reference: pd.DataFrame) -> dict[str, Any] | None:
    """GX's row condition selecting successful requests (None without a status column).

    The ok statuses are written in the reference's status type: numbers where the status column is
    numeric (HTTP codes), text otherwise, so the condition matches the window's values.
    """
    if columns.status is None:
        return None
    values: list[Any] = list(columns.ok_statuses)
    if columns.status in reference.columns and pd.api.types.is_numeric_dtype(reference[columns.status]):
        values = [int(v) for v in columns.ok_statuses if v.lstrip("-").isdigit()]
    return {"type": "comparison", "column": {"name": columns.status}, "operator": "IN", "parameter": values}


def ok_rows(columns: ColumnsConfig, reference: pd.DataFrame) -> pd.Series:
    """Which reference rows are successful requests (all rows without a status column)."""
    status = columns.status
    if status is None or status not in reference.columns:
        return pd.Series(True, index=reference.index)
    codes, uniques = pd.factorize(reference[status], use_na_sentinel=True)
    ok = np.array([canonical_label(u) in set(columns.ok_statuses) for u in uniques] + [False], dtype=bool)
    return pd.Series(ok[np.where(codes < 0, len(uniques), codes)], index=reference.index)


def _range(
    column: str,
    series: pd.Series,
    *,
    quantiles: tuple[float, float],
    margin: float,
    tolerance: float,
    severity: Severity,
) -> ExpectationSpec | None:
    values = pd.to_numeric(series, errors="coerce").dropna().astype("float64")
    if values.empty:
        return None
    arr = values.to_numpy()
    q_lo, q_hi = np.quantile(arr, quantiles)
    span = float(q_hi - q_lo) or max(abs(float(q_lo)) * 0.1, 1.0)
    lo, hi = float(q_lo) - margin * span, float(q_hi) + margin * span
    if arr.min() >= 0 and lo < 0:
        lo = 0.0  # a feature that was never negative (counts, amounts) should not become negative
    is_int = pd.api.types.is_integer_dtype(series.dtype)
    if is_int:
        lo, hi = float(math.floor(lo)), float(math.ceil(hi))
    else:
        lo, hi = _outward(lo, up=False), _outward(hi, up=True)
    outside = float(((arr < lo) | (arr > hi)).mean())
    kwargs: dict[str, Any] = {
        "column": column,
        "min_value": int(lo) if is_int else lo,
        "max_value": int(hi) if is_int else hi,
    }
    # The reference's own tails beyond the bounds are tolerated twice over, plus `tolerance`: the far
    # tail of a drifted feature should not make the window unusable (drift reports it), while a
    # sentinel or unit error hits far more rows.
    mostly = _floor_to(1.0 - min(1.0, 2 * outside + tolerance), 4)
    if mostly < 1.0:
        kwargs["mostly"] = mostly
    return ExpectationSpec(
        "expect_column_values_to_be_between",
        kwargs,
        severity,
        notes=(
            f"reference quantiles {quantiles[0]:g}..{quantiles[1]:g} = [{float(q_lo):.6g}, {float(q_hi):.6g}] "
            f"widened by {margin:.0%} of the span"
        ),
    )


def _value_set(column: str, series: pd.Series, severity: Severity, note: str) -> ExpectationSpec:
    values = [_py(v) for v in pd.unique(series.dropna())]
    values.sort(key=lambda v: (str(type(v)), v))
    return ExpectationSpec(
        "expect_column_values_to_be_in_set",
        {"column": column, "value_set": values},
        severity,
        notes=note,
    )


def _with_condition(exp: ExpectationSpec | None, condition: dict[str, Any] | None) -> ExpectationSpec | None:
    if exp is None or condition is None:
        return exp
    return ExpectationSpec(
        exp.type, {**exp.kwargs, "row_condition": condition}, exp.severity, exp.notes, exp.meta
    )


def _is_label_like(series: pd.Series, max_categories: int) -> bool:
    """A prediction column holding class labels (strings, booleans, few integers) vs a regression output."""
    dtype = series.dtype
    if not pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
        return True
    values = series.dropna()
    integral = bool(np.all(np.mod(values.to_numpy(dtype="float64"), 1.0) == 0)) if len(values) else True
    return integral and values.nunique() <= max_categories


def generate_suite(
    reference: pd.DataFrame,
    *,
    columns: ColumnsConfig,
    model_name: str,
    window_rows: int | None = None,
    range_quantiles: tuple[float, float] = (0.001, 0.999),
    range_margin: float = 0.25,
    range_tolerance: float = 0.01,
    null_confidence: float = NULL_CONFIDENCE,
    row_count_factor: float = 3.0,
    max_categories: int = 100,
) -> ExpectationSuiteSpec:
    """Profile `reference` into a suite for review (see the module docstring for the severities).

    - the window must contain the request id and every model input/output column present in the
      reference (configured features missing from the reference are an error);
    - numerical features: numeric dtype, not-null with `mostly` from the reference null rate and the
      window size (`null_share_bound` at `null_confidence`; the reference's size without `window_rows`), values
      within the `range_quantiles` of the reference widened by `range_margin` of their span, for all but
      `range_tolerance` of the rows (plus twice the reference's own share outside the bounds);
    - categorical features: not-null, values within the reference's value set (when it has at most
      `max_categories` values, else a dtype check);
    - request id: not null and unique; score/probabilities in [0, 1]; predicted labels in the
      reference's set, regression predictions within the reference range; every expectation on an
      output applies to successful requests only (`ok_status_condition`);
    - row count between ``window_rows / row_count_factor`` and ``window_rows * row_count_factor`` when
      `window_rows` is given, else at least one row.
    """
    if not 0 <= range_quantiles[0] < range_quantiles[1] <= 1:
        raise ValueError(f"range_quantiles must be increasing within [0, 1], got {range_quantiles}")
    if row_count_factor < 1:
        raise ValueError(f"row_count_factor must be at least 1, got {row_count_factor}")
    missing = [c for c in columns.features if c not in reference.columns]
    if missing:
        raise SuiteError(f"reference data lacks configured feature column(s): {missing}")

    outputs: list[str] = []
    for name in (columns.prediction, columns.score, *(columns.probabilities or {}).values()):
        if name is not None and name in reference.columns and name not in outputs:
            outputs.append(name)
    expected = [columns.request_id, *columns.features, *outputs]
    exps: list[ExpectationSpec] = [
        ExpectationSpec(
            "expect_table_columns_to_match_set",
            {"column_set": expected, "exact_match": False},
            Severity.CRITICAL,
            notes="every column the model reads or writes must be in the window; extra columns are fine",
        )
    ]
    if window_rows is not None:
        if window_rows < 1:
            raise ValueError(f"window_rows must be positive, got {window_rows}")
        lo = max(1, math.floor(window_rows / row_count_factor))
        hi = math.ceil(window_rows * row_count_factor)
        exps.append(
            ExpectationSpec(
                "expect_table_row_count_to_be_between",
                {"min_value": lo, "max_value": hi},
                Severity.WARNING,
                notes=f"about {window_rows} rows per window, within a factor {row_count_factor:g}",
            )
        )
    else:
        exps.append(
            ExpectationSpec(
                "expect_table_row_count_to_be_between",
                {"min_value": 1, "max_value": None},
                Severity.WARNING,
                notes="no window size given: only checks that the window is not empty",
            )
        )

    rid = columns.request_id
    exps.append(
        ExpectationSpec(
            "expect_column_values_to_not_be_null",
            {"column": rid},
            Severity.CRITICAL,
            notes="every logged request has an id",
        )
    )
    exps.append(
        ExpectationSpec(
            "expect_column_values_to_be_unique",
            {"column": rid},
            Severity.WARNING,
            notes="duplicate ids mean double-logged requests",
        )
    )

    value_range = partial(_range, quantiles=range_quantiles, margin=range_margin, tolerance=range_tolerance)
    expected_rows = window_rows or len(reference)
    not_null = partial(_not_null, window_rows=expected_rows, confidence=null_confidence)
    for col in columns.numerical_features:
        series = reference[col]
        _append(exps, _type_check(col, series, f"numerical feature (reference dtype {series.dtype})"))
        exps.append(not_null(col, series, "numerical feature"))
        _append(exps, value_range(col, series, severity=Severity.CRITICAL))

    for col in columns.categorical_features:
        series = reference[col]
        exps.append(not_null(col, series, "categorical feature"))
        n_values = series.nunique(dropna=True)
        if 0 < n_values <= max_categories:
            # The value set also catches a type change (numbers leaking into a string column), so no
            # separate dtype check: on object columns GX checks types value by value, which is slow.
            exps.append(
                _value_set(col, series, Severity.WARNING, f"{n_values} categories seen in the reference")
            )
        else:
            _append(exps, _type_check(col, series, f"categorical feature with {n_values} values: dtype only"))

    # Outputs exist for successful requests only: judged on those rows, against the reference's own.
    condition = ok_status_condition(columns, reference)
    ok = ok_rows(columns, reference)
    on_ok = {} if condition is None else {"row_condition": condition}
    scope = "" if condition is None else ", successful requests only"
    output_rows = max(1, round(expected_rows * float(ok.mean()))) if len(reference) else expected_rows
    probability_cols = {columns.score, *(columns.probabilities or {}).values()} - {None}
    for col in outputs:
        series = reference.loc[ok, col]
        exps.append(
            _not_null(
                col,
                series,
                f"model output{scope}",
                window_rows=output_rows,
                confidence=null_confidence,
                row_condition=condition,
            )
        )
        if col in probability_cols:
            exps.append(
                ExpectationSpec(
                    "expect_column_values_to_be_between",
                    {"column": col, "min_value": 0.0, "max_value": 1.0, **on_ok},
                    Severity.CRITICAL,
                    notes=f"a probability{scope}",
                )
            )
        elif _is_label_like(series, max_categories):
            labels = _value_set(
                col, series, Severity.CRITICAL, f"predicted labels seen in the reference{scope}"
            )
            _append(exps, _with_condition(labels, condition))
        else:
            _append(exps, _with_condition(value_range(col, series, severity=Severity.WARNING), condition))

    meta = {
        "generated_by": "watchkeeper",
        "model": model_name,
        "reference_rows": len(reference),
        "window_rows": window_rows,
        "null_confidence": null_confidence,
    }
    return ExpectationSuiteSpec(name=model_name, expectations=tuple(exps), meta=meta)
