"""Great Expectations adapter: per-model suites kept in git, generated from reference, run every window.

A suite lives in ``configs/expectations/<model>.yaml`` as a GX 1.x suite written in YAML, with one
Watchkeeper addition per expectation, its ``severity``::

    name: credit-risk
    expectations:
      - type: expect_column_values_to_not_be_null
        severity: critical          # critical | warning
        kwargs: {column: income, mostly: 0.999}
        notes: optional text for the reviewer
        meta: {optional: mapping}

- `load_suite` reads and checks a suite. GX logs an unknown expectation type and silently drops it from
  the suite, so every entry is built on its own and the built suite is counted: an entry GX does not
  understand is an error naming the file, the entry index and its type.
- `generate_suite` profiles a reference frame into a suite ready for review; `write_suite` writes it
  but never overwrites a reviewed suite without ``force``, and returns a unified diff.
- `validate_window` runs the suite on a window with an ephemeral GX context (progress bars off) and
  returns a frozen `ValidationReport` (a `SectionReport`). One GX context and pandas batch definition
  serve the whole process, and built GX suites are cached by suite fingerprint, so each window pays
  only for GX's own validation.

Severity policy of generated suites (reviewers may change any of it):

- critical: missing columns, numeric dtype changes, nulls above the reference rate, numerical values
  outside the widened reference range in more than 1 % of rows (the far tail of a drifted feature is
  drift, not broken data), scores/probabilities outside [0, 1], unknown predicted classes. These
  mean the data is broken, so the window is not usable for retraining.
- warning: unseen categorical values (new categories are often legitimate and drift reports their
  share), duplicate request ids (double-logged requests bias counts but do not corrupt features),
  row counts outside the expected window size (traffic varies; the serving section measures it),
  regression predictions outside their reference range (a model output shift is drift territory).

GX is imported lazily (it takes seconds), so importing this module stays cheap for the CLI.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from watchkeeper.config import ColumnsConfig
from watchkeeper.configbase import read_yaml_file
from watchkeeper.verdict import Finding, Severity

__all__ = [
    "ExpectationResult",
    "ExpectationSpec",
    "ExpectationSuiteSpec",
    "SuiteError",
    "SuiteExistsError",
    "ValidationReport",
    "default_suite_path",
    "estimate_window_rows",
    "generate_suite",
    "load_suite",
    "parse_suite",
    "render_suite",
    "validate_window",
    "write_suite",
]

CHECK = "validation"
_SEVERITIES = (Severity.CRITICAL, Severity.WARNING)
_ENTRY_KEYS = frozenset({"type", "kwargs", "severity", "notes", "meta"})
_SUITE_KEYS = frozenset({"name", "expectations", "meta", "notes"})
# Keys of an expectation's kwargs that name a column the window must have.
_COLUMN_KEYS = ("column", "column_A", "column_B")
_COLUMN_LIST_KEYS = ("column_list",)
# How many unexpected values GX collects per expectation, and how many distinct ones we keep.
_PARTIAL_UNEXPECTED = 20
_SAMPLE_SIZE = 10
# Dtype families for `expect_column_values_to_be_in_type_list` (names GX resolves for pandas).
_NUMERIC_TYPES = (
    "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float32", "float64",
    "Int64Dtype", "Float64Dtype",
)  # fmt: skip
_BOOL_TYPES = ("bool", "BooleanDtype")
_STRING_TYPES = ("object", "str", "StringDtype")


class SuiteError(ValueError):
    """A suite file is missing, unreadable or invalid; the message names the file and the entry."""


class SuiteExistsError(SuiteError):
    """`write_suite` refused to overwrite a reviewed suite; `diff` holds what would change."""

    def __init__(self, path: Path, diff: str) -> None:
        super().__init__(
            f"{path}: a suite already exists and differs from the generated one; review the diff "
            "and pass force=True (`--force`) to overwrite it"
        )
        self.path = path
        self.diff = diff


# -- suite specification ---------------------------------------------------------------------------
def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


@dataclass(frozen=True)
class ExpectationSpec:
    """One expectation of a suite: GX type and kwargs plus Watchkeeper's severity."""

    type: str
    kwargs: Mapping[str, Any]
    severity: Severity = Severity.CRITICAL
    notes: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __hash__(self) -> int:
        return hash(_canonical(self.to_dict()))

    @property
    def column(self) -> str | None:
        value = self.kwargs.get("column")
        return value if isinstance(value, str) else None

    @property
    def columns(self) -> tuple[str, ...]:
        """Columns the window must have for this expectation to be evaluated."""
        found = [self.kwargs[k] for k in _COLUMN_KEYS if isinstance(self.kwargs.get(k), str)]
        for key in _COLUMN_LIST_KEYS:
            listed = self.kwargs.get(key)
            if isinstance(listed, list | tuple):
                found.extend(str(c) for c in listed)
        return tuple(found)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": self.type,
            "severity": self.severity.label,
            "kwargs": dict(self.kwargs),
        }
        if self.notes:
            out["notes"] = self.notes
        if self.meta:
            out["meta"] = dict(self.meta)
        return out


@dataclass(frozen=True)
class ExpectationSuiteSpec:
    """A checked suite: name, expectations and the file it came from (for error messages).

    Treat the kwargs and meta mappings as read-only: the built GX suite is cached by `fingerprint`.
    """

    name: str
    expectations: tuple[ExpectationSpec, ...]
    meta: Mapping[str, Any] = field(default_factory=dict)
    source: str | None = field(default=None, compare=False)

    def __hash__(self) -> int:
        return hash(self.fingerprint)

    @cached_property
    def fingerprint(self) -> str:
        """A stable hash of the suite's content: the cache key of its built GX suite."""
        body = {
            "name": self.name,
            "meta": dict(self.meta),
            "expectations": [e.to_dict() for e in self.expectations],
        }
        return hashlib.sha256(_canonical(body).encode()).hexdigest()[:16]

    @property
    def columns(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for exp in self.expectations:
            seen.update(dict.fromkeys(exp.columns))
        return tuple(seen)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.meta:
            out["meta"] = dict(self.meta)
        out["expectations"] = [e.to_dict() for e in self.expectations]
        return out


# -- loading ---------------------------------------------------------------------------------------
def _registered_types() -> list[str]:
    from great_expectations.expectations.registry import list_registered_expectation_implementations

    return sorted(list_registered_expectation_implementations())


def _gx_message(exc: BaseException) -> str:
    text = getattr(exc, "message", None) or str(exc)
    return " ".join(str(text).split())


def _build_gx_suite(spec: ExpectationSuiteSpec, indices: Sequence[int]) -> Any:
    """Build the GX suite for the given entries; each carries its index and severity in `meta`."""
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    configs = []
    for i in indices:
        exp = spec.expectations[i]
        meta = {**exp.meta, "watchkeeper": {"index": i, "severity": exp.severity.label}}
        configs.append(
            ExpectationConfiguration(type=exp.type, kwargs=dict(exp.kwargs), meta=meta, notes=exp.notes)
        )
    suite = gx.ExpectationSuite(name=spec.name, expectations=configs, meta=dict(spec.meta) or None)
    if len(suite.expectations) != len(configs):
        # GX logs invalid configurations and drops them; a dropped check must never pass unnoticed.
        kept = {e.meta["watchkeeper"]["index"] for e in suite.expectations if e.meta}
        lost = [f"entry {i} ({spec.expectations[i].type})" for i in indices if i not in kept]
        where = spec.source or spec.name
        raise SuiteError(f"{where}: Great Expectations dropped {', '.join(lost)} while building the suite")
    return suite


def _check_with_gx(spec: ExpectationSuiteSpec) -> None:
    """Build every entry with GX on its own so that an error names the entry, then count the suite."""
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    where = spec.source or spec.name
    known: list[str] | None = None
    for i, exp in enumerate(spec.expectations):
        try:
            ExpectationConfiguration(type=exp.type, kwargs=dict(exp.kwargs)).to_domain_obj()
        except Exception as exc:  # GX raises its own errors and pydantic v1 ValidationErrors
            known = known if known is not None else _registered_types()
            if exp.type not in known:
                close = difflib.get_close_matches(exp.type, known, n=3)
                hint = f"; did you mean {', '.join(close)}?" if close else ""
                raise SuiteError(
                    f"{where}: entry {i} ({exp.type}): unknown expectation type {exp.type!r}{hint}"
                ) from None
            raise SuiteError(f"{where}: entry {i} ({exp.type}): invalid kwargs: {_gx_message(exc)}") from None
    _build_gx_suite(spec, range(len(spec.expectations)))


def _parse_entry(i: int, entry: Any, where: str) -> ExpectationSpec:
    if not isinstance(entry, dict):
        raise SuiteError(f"{where}: entry {i}: expected a mapping, got {type(entry).__name__}")
    etype = entry.get("type")
    label = f"entry {i}" + (f" ({etype})" if isinstance(etype, str) else "")
    unknown = sorted(set(entry) - _ENTRY_KEYS)
    if unknown:
        raise SuiteError(
            f"{where}: {label}: unknown key(s) {unknown}; expected some of {sorted(_ENTRY_KEYS)}"
        )
    if not isinstance(etype, str) or not etype:
        raise SuiteError(f"{where}: {label}: `type` must be an expectation type such as expect_...")
    kwargs = entry.get("kwargs", {})
    if kwargs is None:
        kwargs = {}
    if not isinstance(kwargs, dict):
        raise SuiteError(f"{where}: {label}: `kwargs` must be a mapping, got {type(kwargs).__name__}")
    if "severity" not in entry:
        raise SuiteError(f"{where}: {label}: `severity` is required (critical or warning)")
    try:
        severity = Severity.parse(str(entry["severity"]))
    except ValueError:
        severity = Severity.OK
    if severity not in _SEVERITIES:
        raise SuiteError(f"{where}: {label}: severity {entry['severity']!r} is not one of: critical, warning")
    notes = entry.get("notes")
    if notes is not None and not isinstance(notes, str):
        raise SuiteError(f"{where}: {label}: `notes` must be text")
    meta = entry.get("meta") or {}
    if not isinstance(meta, dict):
        raise SuiteError(f"{where}: {label}: `meta` must be a mapping")
    return ExpectationSpec(type=etype, kwargs=kwargs, severity=severity, notes=notes, meta=meta)


def parse_suite(data: Any, *, source: str | Path = "<suite>", check: bool = True) -> ExpectationSuiteSpec:
    """Validate an already-parsed suite mapping; with `check`, GX must understand every entry."""
    where = str(source)
    if not isinstance(data, dict):
        raise SuiteError(f"{where}: expected a mapping with `name` and `expectations`")
    unknown = sorted(set(data) - _SUITE_KEYS)
    if unknown:
        raise SuiteError(f"{where}: unknown top-level key(s) {unknown}; expected {sorted(_SUITE_KEYS)}")
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise SuiteError(f"{where}: `name` must be a non-empty string")
    entries = data.get("expectations")
    if not isinstance(entries, list) or not entries:
        raise SuiteError(f"{where}: `expectations` must be a non-empty list")
    meta = data.get("meta") or {}
    if not isinstance(meta, dict):
        raise SuiteError(f"{where}: `meta` must be a mapping")
    spec = ExpectationSuiteSpec(
        name=name,
        expectations=tuple(_parse_entry(i, e, where) for i, e in enumerate(entries)),
        meta=meta,
        source=where,
    )
    if check:
        _check_with_gx(spec)
    return spec


def load_suite(path: str | Path) -> ExpectationSuiteSpec:
    """Load and check a suite file; `SuiteError` names the file and the offending entry."""
    path = Path(path)
    return parse_suite(read_yaml_file(path, what="suite", error=SuiteError), source=path)


# -- writing ---------------------------------------------------------------------------------------
class _SuiteDumper(yaml.SafeDumper):
    """Block style for structure, flow style for lists of scalars (value sets stay on few lines)."""


def _represent_list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    flow = all(not isinstance(v, dict | list) for v in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_SuiteDumper.add_representer(list, _represent_list)

_HEADER = """\
# Great Expectations suite for model {name!r}, used by Watchkeeper on every monitoring window.
# Generated from the reference data by `watchkeeper expectations generate`: review it and commit it.
# Regenerating never overwrites this file without --force, and prints the diff.
# severity: critical = broken data (critical verdict, window not usable for retraining);
#           warning  = lowers the verdict to warning.
"""


def render_suite(spec: ExpectationSuiteSpec) -> str:
    """The suite as YAML text, the way `write_suite` writes it."""
    body = yaml.dump(spec.to_dict(), Dumper=_SuiteDumper, sort_keys=False, width=100, allow_unicode=True)
    return _HEADER.format(name=spec.name) + body


def write_suite(spec: ExpectationSuiteSpec, path: str | Path, *, force: bool = False) -> str:
    """Write `spec` to `path` and return the unified diff against what was there ('' if unchanged).

    An existing suite that differs is a reviewed file: without `force` nothing is written and
    `SuiteExistsError` carries the diff so the caller can print it.
    """
    path = Path(path)
    new = render_suite(spec)
    old = path.read_text(encoding="utf-8") if path.exists() else None
    diff = "".join(
        difflib.unified_diff(
            (old or "").splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile=str(path) if old is not None else "/dev/null",
            tofile=str(path),
        )
    )
    if old == new:
        return ""
    if old is not None and not force:
        raise SuiteExistsError(path, diff)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(new, encoding="utf-8")
    tmp.replace(path)
    return diff


# -- generation ------------------------------------------------------------------------------------
def default_suite_path(model_name: str, root: str | Path = "configs/expectations") -> Path:
    """Where a model's suite lives when its config does not name one: ``<root>/<model>.yaml``."""
    return Path(root) / f"{model_name}.yaml"


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


def _not_null(column: str, series: pd.Series, null_tolerance: float, note: str) -> ExpectationSpec:
    rate = float(series.isna().mean()) if len(series) else 0.0
    kwargs: dict[str, Any] = {"column": column}
    # Above the reference rate by half again plus a small absolute slack: a broken join shows up as a
    # jump in nulls, while a handful of stray nulls in a big window does not page anyone.
    mostly = _floor_to(1.0 - min(1.0, 1.5 * rate + null_tolerance), 4)
    if mostly < 1.0:
        kwargs["mostly"] = mostly
    return ExpectationSpec(
        "expect_column_values_to_not_be_null",
        kwargs,
        Severity.CRITICAL,
        notes=f"{note}; reference null rate {rate:.4%}",
    )


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
    null_tolerance: float = 0.001,
    row_count_factor: float = 3.0,
    max_categories: int = 100,
) -> ExpectationSuiteSpec:
    """Profile `reference` into a suite for review (see the module docstring for the severities).

    - the window must contain the request id and every model input/output column present in the
      reference (configured features missing from the reference are an error);
    - numerical features: numeric dtype, not-null with `mostly` from the reference null rate, values
      within the `range_quantiles` of the reference widened by `range_margin` of their span, for all but
      `range_tolerance` of the rows (plus twice the reference's own share outside the bounds);
    - categorical features: not-null, values within the reference's value set (when it has at most
      `max_categories` values, else a dtype check);
    - request id: not null and unique; score/probabilities in [0, 1]; predicted labels in the
      reference's set, regression predictions within the reference range;
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

    for col in columns.numerical_features:
        series = reference[col]
        types = _type_list(series)
        if types is not None:
            exps.append(
                ExpectationSpec(
                    "expect_column_values_to_be_in_type_list",
                    {"column": col, "type_list": types},
                    Severity.CRITICAL,
                    notes=f"numerical feature (reference dtype {series.dtype})",
                )
            )
        exps.append(_not_null(col, series, null_tolerance, "numerical feature"))
        rng = _range(
            col,
            series,
            quantiles=range_quantiles,
            margin=range_margin,
            tolerance=range_tolerance,
            severity=Severity.CRITICAL,
        )
        if rng is not None:
            exps.append(rng)

    for col in columns.categorical_features:
        series = reference[col]
        exps.append(_not_null(col, series, null_tolerance, "categorical feature"))
        n_values = series.nunique(dropna=True)
        if 0 < n_values <= max_categories:
            # The value set also catches a type change (numbers leaking into a string column), so no
            # separate dtype check: on object columns GX checks types value by value, which is slow.
            exps.append(
                _value_set(col, series, Severity.WARNING, f"{n_values} categories seen in the reference")
            )
        else:
            types = _type_list(series)
            if types is not None:
                exps.append(
                    ExpectationSpec(
                        "expect_column_values_to_be_in_type_list",
                        {"column": col, "type_list": types},
                        Severity.CRITICAL,
                        notes=f"categorical feature with {n_values} values: dtype only",
                    )
                )

    probability_cols = {columns.score, *(columns.probabilities or {}).values()} - {None}
    for col in outputs:
        series = reference[col]
        exps.append(_not_null(col, series, null_tolerance, "model output"))
        if col in probability_cols:
            exps.append(
                ExpectationSpec(
                    "expect_column_values_to_be_between",
                    {"column": col, "min_value": 0.0, "max_value": 1.0},
                    Severity.CRITICAL,
                    notes="a probability",
                )
            )
        elif _is_label_like(series, max_categories):
            exps.append(_value_set(col, series, Severity.CRITICAL, "predicted labels seen in the reference"))
        else:
            rng = _range(
                col,
                series,
                quantiles=range_quantiles,
                margin=range_margin,
                tolerance=range_tolerance,
                severity=Severity.WARNING,
            )
            if rng is not None:
                exps.append(rng)

    meta = {
        "generated_by": "watchkeeper",
        "model": model_name,
        "reference_rows": len(reference),
        "window_rows": window_rows,
    }
    return ExpectationSuiteSpec(name=model_name, expectations=tuple(exps), meta=meta)


# -- validation ------------------------------------------------------------------------------------
def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, str | int | bool):
        return value
    if value is pd.NaT or value is pd.NA:
        return None
    return str(value)


@dataclass(frozen=True)
class ExpectationResult:
    """The outcome of one expectation on one window.

    `success` is None when the expectation was not evaluated (a window with no rows).
    `unexpected_percent` is over all rows of the window, nulls included, unlike GX's own
    `unexpected_percent` (over non-null values).
    """

    index: int
    type: str
    severity: Severity
    success: bool | None
    column: str | None = None
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    unexpected_sample: tuple[Any, ...] = ()
    observed: Any = None
    message: str = ""
    # Set when GX raised instead of evaluating (a bug in the suite or in GX, not bad data).
    error: str | None = None

    @property
    def failed(self) -> bool:
        return self.success is False

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "type": self.type,
            "column": self.column,
            "severity": self.severity.label,
            "success": self.success,
            "unexpected_count": self.unexpected_count,
            "unexpected_percent": _json_safe(self.unexpected_percent),
            "unexpected_sample": _json_safe(list(self.unexpected_sample)),
            "observed": _json_safe(self.observed),
            "message": self.message,
            "error": self.error,
        }


@dataclass(frozen=True)
class ValidationReport:
    """The validation section of a window's monitoring report."""

    suite_name: str
    rows: int
    results: tuple[ExpectationResult, ...]
    missing_columns: tuple[str, ...] = ()
    gx_json: str = field(default="{}", repr=False)

    @property
    def evaluated(self) -> int:
        return sum(r.success is not None for r in self.results)

    @property
    def failures(self) -> tuple[ExpectationResult, ...]:
        return tuple(r for r in self.results if r.failed)

    @property
    def critical_failures(self) -> int:
        return sum(r.severity is Severity.CRITICAL for r in self.failures)

    @property
    def warning_failures(self) -> int:
        return sum(r.severity is Severity.WARNING for r in self.failures)

    @property
    def success_percent(self) -> float | None:
        if self.evaluated == 0:
            return None
        return 100.0 * (self.evaluated - len(self.failures)) / self.evaluated

    @property
    def usable_for_training(self) -> bool:
        """False when any critical expectation failed, or when there was nothing to validate."""
        return self.rows > 0 and self.critical_failures == 0

    def figures(self) -> dict[str, float]:
        out: dict[str, float] = {
            "evaluated": float(self.evaluated),
            "failed": float(len(self.failures)),
            "critical_failures": float(self.critical_failures),
            "warning_failures": float(self.warning_failures),
        }
        percent = self.success_percent
        if percent is not None:  # no rows: nothing was evaluated, and 0 % or 100 % would both lie
            out["success_percent"] = percent
        return out

    def findings(self) -> list[Finding]:
        if self.rows == 0:
            return [
                Finding(
                    CHECK,
                    Severity.WARNING,
                    f"The window has no rows: none of the {len(self.results)} expectations of suite "
                    f"{self.suite_name!r} could be evaluated.",
                )
            ]
        out = []
        for severity in (Severity.CRITICAL, Severity.WARNING):
            failed = [r for r in self.failures if r.severity is severity]
            if not failed:
                continue
            shown = "; ".join(r.message for r in failed[:5])
            more = f"; and {len(failed) - 5} more" if len(failed) > 5 else ""
            what = "not usable for retraining" if severity is Severity.CRITICAL else "review the data"
            out.append(
                Finding(
                    CHECK,
                    severity,
                    f"{len(failed)} {severity.label} expectation(s) of suite {self.suite_name!r} failed "
                    f"on {self.rows} rows ({what}): {shown}{more}.",
                )
            )
        return out

    def gx_result_json(self) -> str:
        """GX's own validation result as JSON (an MLflow artifact)."""
        return self.gx_json

    def to_table(self) -> list[dict[str, Any]]:
        """One row per expectation, failures first (a Prefect table artifact)."""
        order = {Severity.CRITICAL: 0, Severity.WARNING: 1}
        rows = sorted(self.results, key=lambda r: (not r.failed, order.get(r.severity, 2), r.index))
        return [
            {
                "status": "not evaluated" if r.success is None else ("ok" if r.success else "FAILED"),
                "severity": r.severity.label,
                "expectation": r.type,
                "column": r.column or "",
                "unexpected_count": r.unexpected_count,
                "unexpected_percent": None
                if r.unexpected_percent is None
                else round(r.unexpected_percent, 4),
                "sample": ", ".join(repr(v) for v in _json_safe(list(r.unexpected_sample))),
                "details": r.message,
            }
            for r in rows
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "suite": self.suite_name,
            "rows": self.rows,
            "usable_for_training": self.usable_for_training,
            "figures": self.figures(),
            "missing_columns": list(self.missing_columns),
            "results": [r.to_dict() for r in self.results],
            "findings": [f.to_dict() for f in self.findings()],
        }


class _GxRuntime:
    """One ephemeral GX context with a pandas batch definition, and built suites by fingerprint."""

    max_suites = 16

    def __init__(self) -> None:
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        self.context = gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False)
        asset = self.context.data_sources.add_pandas("watchkeeper").add_dataframe_asset("window")
        self.batch_definition = asset.add_batch_definition_whole_dataframe("whole-window")
        self.suites: OrderedDict[tuple[str, tuple[int, ...]], Any] = OrderedDict()
        # GX contexts are not thread-safe; Prefect may run tasks in threads.
        self.lock = threading.Lock()

    def suite(self, spec: ExpectationSuiteSpec, indices: tuple[int, ...]) -> Any:
        key = (spec.fingerprint, indices)
        suite = self.suites.get(key)
        if suite is None:
            suite = _build_gx_suite(spec, indices)
            self.suites[key] = suite
            while len(self.suites) > self.max_suites:
                self.suites.popitem(last=False)
        else:
            self.suites.move_to_end(key)
        return suite


_runtime: _GxRuntime | None = None
_runtime_lock = threading.Lock()


def _get_runtime() -> _GxRuntime:
    global _runtime
    with _runtime_lock:
        if _runtime is None:
            _runtime = _GxRuntime()
        return _runtime


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return repr(value) if isinstance(value, str) else str(value)


def _describe_failure(
    exp: ExpectationSpec,
    count: int | None,
    percent: float | None,
    sample: list[Any],
    observed: Any,
    details: dict[str, Any],
) -> str:
    col = f"{exp.column!r}" if exp.column else "table"
    kw = exp.kwargs
    rows = f"{count} rows ({percent:.2f}%)" if count is not None and percent is not None else "rows"
    eg = f", e.g. {', '.join(_fmt(v) for v in sample[:3])}" if sample else ""
    if exp.type == "expect_column_values_to_not_be_null":
        allowed = 100.0 * (1.0 - float(kw.get("mostly", 1.0)))
        return f"{col}: {rows} are null (at most {allowed:.2f}% allowed)"
    if exp.type == "expect_column_values_to_be_between":
        return f"{col}: {rows} outside [{_fmt(kw.get('min_value'))}, {_fmt(kw.get('max_value'))}]{eg}"
    if exp.type == "expect_column_values_to_be_in_set":
        return f"{col}: {rows} with values outside the expected set{eg}"
    if exp.type == "expect_column_values_to_be_unique":
        return f"{col}: {rows} with duplicated values{eg}"
    if exp.type == "expect_column_values_to_be_in_type_list":
        return f"{col}: dtype {_fmt(observed)} is not one of the expected types{eg}"
    if exp.type == "expect_table_row_count_to_be_between":
        return f"row count {observed} outside [{_fmt(kw.get('min_value'))}, {_fmt(kw.get('max_value'))}]"
    if exp.type == "expect_table_columns_to_match_set":
        missing = ", ".join(repr(c) for c in details.get("mismatched", {}).get("missing", []))
        return f"column(s) {missing} missing from the window" if missing else "columns do not match the set"
    if count is not None:
        return f"{exp.type} on {col}: {rows} unexpected{eg}"
    return f"{exp.type} on {col} failed (observed {_fmt(observed)})"


def _to_result(exp: ExpectationSpec, index: int, gx_res: Any, rows: int) -> ExpectationResult:
    res = gx_res.result or {}
    info = gx_res.exception_info or {}
    if info.get("raised_exception"):
        error = " ".join(str(info.get("exception_message") or "Great Expectations raised an error").split())
        return ExpectationResult(
            index,
            exp.type,
            exp.severity,
            False,
            exp.column,
            message=f"{exp.type} on {exp.column or 'table'!r} could not be evaluated: {error}",
            error=error,
        )
    count = res.get("unexpected_count")
    count = None if count is None else int(count)
    # Over all rows: GX's `unexpected_percent` divides by non-null values for most expectations.
    percent = None if count is None or rows == 0 else 100.0 * count / rows
    sample: list[Any] = []
    if exp.type != "expect_column_values_to_not_be_null":  # the sample of a null check is all nulls
        seen: dict[str, None] = {}
        for value in res.get("partial_unexpected_list") or []:
            safe = _json_safe(value)
            key = _canonical(safe)
            if key not in seen:
                seen[key] = None
                sample.append(safe)
            if len(sample) >= _SAMPLE_SIZE:
                break
    observed = _json_safe(res.get("observed_value"))
    success = bool(gx_res.success)
    raw_details = res.get("details")
    details: dict[str, Any] = raw_details if isinstance(raw_details, dict) else {}
    message = "" if success else _describe_failure(exp, count, percent, sample, observed, details)
    return ExpectationResult(
        index,
        exp.type,
        exp.severity,
        success,
        exp.column,
        unexpected_count=count,
        unexpected_percent=percent,
        unexpected_sample=tuple(sample),
        observed=observed,
        message=message,
    )


def _gx_document(
    gx_doc: dict[str, Any] | None, spec: ExpectationSuiteSpec, rows: int, not_run: list[ExpectationResult]
) -> str:
    """GX's result JSON, with what GX was not asked to run recorded under ``meta.watchkeeper``."""
    doc: dict[str, Any] = gx_doc if gx_doc is not None else {"success": None, "results": [], "meta": {}}
    meta = doc.get("meta")
    if not isinstance(meta, dict):
        meta = doc["meta"] = {}
    meta["watchkeeper"] = {
        "suite": spec.name,
        "suite_fingerprint": spec.fingerprint,
        "rows": rows,
        "not_run": [{"index": r.index, "type": r.type, "reason": r.message} for r in not_run],
    }
    return json.dumps(_json_safe(doc), allow_nan=False)


def validate_window(window: pd.DataFrame, spec: ExpectationSuiteSpec) -> ValidationReport:
    """Run `spec` on `window` with Great Expectations and summarize what failed.

    Expectations on a column the window lacks fail with a message saying so (GX is not asked to run
    them); a window with no rows is reported as not evaluated.
    """
    rows = len(window)
    present = set(map(str, window.columns))
    missing_by_index = {
        i: [c for c in exp.columns if c not in present] for i, exp in enumerate(spec.expectations)
    }
    missing_cols = tuple(dict.fromkeys(c for cols in missing_by_index.values() for c in cols))
    if rows == 0:
        results = tuple(
            ExpectationResult(i, e.type, e.severity, None, e.column, message="window has no rows")
            for i, e in enumerate(spec.expectations)
        )
        gx_json = _gx_document(None, spec, 0, list(results))
        return ValidationReport(spec.name, 0, results, missing_cols, gx_json=gx_json)

    runnable = tuple(i for i, cols in missing_by_index.items() if not cols)
    by_index: dict[int, ExpectationResult] = {}
    gx_doc: dict[str, Any] | None = None
    if runnable:
        runtime = _get_runtime()
        with runtime.lock:
            suite = runtime.suite(spec, runnable)
            batch = runtime.batch_definition.get_batch(batch_parameters={"dataframe": window})
            gx_result = batch.validate(
                suite,
                result_format={
                    "result_format": "SUMMARY",
                    "partial_unexpected_count": _PARTIAL_UNEXPECTED,
                },
            )
        for gx_res in gx_result.results:
            index = int(gx_res.expectation_config.meta["watchkeeper"]["index"])
            by_index[index] = _to_result(spec.expectations[index], index, gx_res, rows)
        gx_doc = gx_result.to_json_dict()
    not_run = []
    for i, cols in missing_by_index.items():
        if cols:
            exp = spec.expectations[i]
            names = ", ".join(repr(c) for c in cols)
            by_index[i] = ExpectationResult(
                i,
                exp.type,
                exp.severity,
                False,
                exp.column,
                message=f"{exp.type}: column {names} is missing from the window",
            )
            not_run.append(by_index[i])
    results = tuple(by_index[i] for i in range(len(spec.expectations)))
    return ValidationReport(
        spec.name, rows, results, missing_cols, gx_json=_gx_document(gx_doc, spec, rows, not_run)
    )
