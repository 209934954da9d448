"""The drift check's fitted state: the reference side's column profiles, built once per reference.

`fit_drift(reference, config, ...)` is the drift check's `fit`. It types every column the check may
test, profiles each (sorted finite values, or a dictionary encoding: `watchkeeper.drift.profile`) and
keeps no reference rows. `evaluate_drift` (`watchkeeper.drift.engine`) compares a window with the
result, so a run that evaluates several windows against one reference profiles it once. Given a
cache directory, the profiles are also kept across runs (`watchkeeper.drift.cache`), keyed by the
column's values or by a fingerprint the caller passes for the whole reference.

Columns whose kind is inferred from the window (prediction and target columns, and every feature when
none are declared) are profiled under the kind their reference values suggest; a number column also
keeps its values, profiled under the other kind only if a window's values call for it, so the answer
is the same as profiling the reference after looking at the window.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from watchkeeper.drift.cache import ProfileCache, fingerprint_series
from watchkeeper.drift.config import DriftConfig
from watchkeeper.drift.kinds import infer_kind, type_family
from watchkeeper.drift.profile import Profile, profile_categorical, profile_numerical
from watchkeeper.drift.registry import Kind


@dataclass(frozen=True, eq=False)
class ReferenceColumn:
    """One reference column as the drift check needs it: its type, and its profile per kind."""

    name: str
    dtype: str
    family: str  # `type_family` of the reference values
    inferred: str  # `infer_kind` of the reference values: a kind or the reason it is not testable
    profiles: dict[str, Profile]
    failures: dict[str, str]  # kind → "ErrorType: message" where profiling failed
    error: str | None = None  # the column could not be read at all (e.g. a duplicated name)
    # Kept only for a column whose kind the window decides (an inferred number column): its values,
    # profiled under the other kind the first time a window asks for it.
    spare: pd.Series | None = None

    def profile_for(self, kind: Kind) -> Profile | str:
        """The column's profile as `kind`, or the "ErrorType: message" of why it has none."""
        if kind not in self.profiles and kind not in self.failures and self.spare is not None:
            try:
                self.profiles[kind] = profile_series(self.spare, kind)
            except Exception as exc:  # an odd column marks itself when it is tested
                self.failures[kind] = f"{type(exc).__name__}: {exc}"
        if kind in self.failures:
            return self.failures[kind]
        return self.profiles[kind]


@dataclass(frozen=True, eq=False)
class ReferenceProfile:
    """The fitted drift check: what the reference holds, without its rows (but the values of the few
    number columns whose kind a window decides, see `ReferenceColumn.spare`)."""

    config: DriftConfig
    numerical: tuple[str, ...] | None
    categorical: tuple[str, ...] | None
    prediction: tuple[str, ...]
    target: str | None
    column_order: tuple[str, ...]  # the reference's columns, in their order
    columns: Mapping[str, ReferenceColumn]
    cache_hits: int = 0  # reference columns whose profile came from the cache

    @property
    def inferred_features(self) -> bool:
        """True when no feature is declared: every column's kind is inferred, as Evidently does."""
        return self.numerical is None and self.categorical is None


class _Profiler:
    """Profiles reference columns, through the cache when one is configured."""

    def __init__(self, cache: ProfileCache | None, reference_fingerprint: str | None) -> None:
        self.cache = cache
        self.reference_fingerprint = reference_fingerprint
        self.hits = 0

    def profile(self, series: pd.Series, kind: Kind) -> Profile:
        if self.cache is None or (kind == "categorical" and self.reference_fingerprint is None):
            return profile_series(series, kind)  # see `watchkeeper.drift.cache`: hashing costs more
        key = fingerprint_series(series, kind, self.reference_fingerprint)
        cached = self.cache.load(key)
        if cached is not None:
            self.hits += 1  # one thread per column; a lost increment only affects a diagnostic
            return cached
        profile = profile_series(series, kind)
        self.cache.store(key, profile)
        return profile


def profile_series(series: pd.Series, kind: Kind) -> Profile:
    return profile_numerical(series) if kind == "numerical" else profile_categorical(series)


def _kinds_to_profile(family: str, declared: Kind | None) -> tuple[Kind, ...]:
    if declared == "categorical":
        return ("categorical",)
    if declared == "numerical":
        # A numerical column holding other values is refused before its profile is needed.
        return ("numerical",) if family in ("number", "empty") else ()
    if family == "number":
        return ("numerical", "categorical")  # the window's values decide (integers: by cardinality)
    return () if family == "datetime" else ("categorical",)


def _eager_kinds(kinds: tuple[Kind, ...], inferred: str) -> tuple[Kind, ...]:
    # An inferred column gets the profile of the kind its reference values suggest now; the other
    # kind only if a window's values ask for it (`ReferenceColumn.profile_for`).
    if len(kinds) < 2:
        return kinds
    return tuple(k for k in kinds if k == inferred) or kinds[:1]


def _fit_column(
    reference: pd.DataFrame, name: str, declared: Kind | None, profiler: _Profiler
) -> ReferenceColumn:
    try:
        series = reference[name]
        family = type_family(series)
    except Exception as exc:  # one odd column (duplicate names, exotic dtypes) must not sink the fit
        return ReferenceColumn(name, "unknown", "unknown", "unknown", {}, {}, f"{type(exc).__name__}: {exc}")
    inferred = infer_kind(series) if declared is None else declared
    kinds = _kinds_to_profile(family, declared)
    eager = _eager_kinds(kinds, inferred)
    profiles: dict[str, Profile] = {}
    failures: dict[str, str] = {}
    for kind in eager:
        try:
            profiles[kind] = profiler.profile(series, kind)
        except Exception as exc:  # an odd column marks itself when it is tested, never the whole fit
            failures[kind] = f"{type(exc).__name__}: {exc}"
    spare = series.copy() if len(eager) < len(kinds) else None
    return ReferenceColumn(name, str(series.dtype), family, inferred, profiles, failures, spare=spare)


def fit_drift(
    reference: pd.DataFrame,
    config: DriftConfig | None = None,
    *,
    numerical: Sequence[str] | None = None,
    categorical: Sequence[str] | None = None,
    prediction: Sequence[str] = (),
    target: str | None = None,
    cache_dir: Path | None = None,
    reference_fingerprint: str | None = None,
) -> ReferenceProfile:
    """Profile the reference for the drift check.

    `numerical` / `categorical` name the feature columns (None for both: every column but the
    prediction and target ones, typed as Evidently does); `prediction` and `target` are tested apart.
    `cache_dir` turns on the cross-run profile cache (when `config.cache` is true); numerical columns
    are then keyed by a hash of their values, every column by `reference_fingerprint` when given (a
    string that changes whenever the reference data changes, e.g. its source's file metadata).
    """
    config = config or DriftConfig()
    declared: dict[str, Kind | None] = {}
    if numerical is None and categorical is None:
        declared.update({str(c): None for c in reference.columns})
    else:
        declared.update({c: "numerical" for c in numerical or ()})
        declared.update({c: "categorical" for c in categorical or ()})
    for column in [*prediction, *([target] if target is not None else [])]:
        declared[column] = None
    wanted = [c for c in declared if c in reference.columns]
    cache = ProfileCache(Path(cache_dir)) if cache_dir is not None and config.cache else None
    profiler = _Profiler(cache, reference_fingerprint)

    def fit(column: str) -> ReferenceColumn:
        return _fit_column(reference, column, declared[column], profiler)

    workers = config.max_workers or min(len(wanted) or 1, os.cpu_count() or 1)
    if workers > 1 and len(wanted) > 1:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="drift-fit") as pool:
            fitted = list(pool.map(fit, wanted))
    else:
        fitted = [fit(c) for c in wanted]
    return ReferenceProfile(
        config=config,
        numerical=None if numerical is None and categorical is None else tuple(numerical or ()),
        categorical=None if numerical is None and categorical is None else tuple(categorical or ()),
        prediction=tuple(prediction),
        target=target,
        column_order=tuple(str(c) for c in reference.columns),
        columns={c.name: c for c in fitted},
        cache_hits=profiler.hits,
    )
