"""Reference-profile cache: the reference side's work, computed once per reference fingerprint.

A scheduled monitor compares every window with the same reference. Its profiles (sorted values,
category dictionaries and counts) are stored under a directory the caller passes (the flow uses
``<state dir>/drift-cache``), one file per column, keyed by a fingerprint of the column's data, its
name, dtype and kind and the profile format version (or by a fingerprint the caller passes for the
whole reference). A changed reference gets a new key; stale files are harmless. Categorical columns
are cached only under a caller fingerprint: hashing strings costs more (≈60 ms per million rows)
than dictionary-encoding them (≈20 ms), so without one they are simply profiled again. Files are NumPy ``.npz`` without pickles (categories are stored as JSON), written to a
temporary name and renamed, so a crashed run never leaves a half-written profile behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from watchkeeper.drift.profile import (
    PROFILE_VERSION,
    CategoricalProfile,
    NumericalProfile,
    Profile,
)


def fingerprint_series(series: pd.Series, kind: str, reference_fingerprint: str | None = None) -> str:
    """A stable key for a column's profile: its values (or the caller's fingerprint), name, dtype, kind.

    Hashing a numerical column (blake2b over its bytes) costs about what sorting it does, so the
    cache pays most when the caller passes `reference_fingerprint`, a string that changes whenever
    the reference data changes (e.g. the reference source's URL and version): then the reference
    values are not read at all.
    """
    h = hashlib.blake2b(digest_size=20)
    h.update(f"v{PROFILE_VERSION}|{kind}|{series.name}|{series.dtype}|{len(series)}|".encode())
    if reference_fingerprint is not None:
        h.update(f"caller:{reference_fingerprint}".encode())
    elif series.dtype.kind in "biuf" and isinstance(series.dtype, np.dtype):
        h.update(np.ascontiguousarray(series.to_numpy()).data)
    else:
        h.update(np.ascontiguousarray(pd.util.hash_pandas_object(series, index=False).to_numpy()).data)
    return h.hexdigest()


def _json_category(value: object) -> object:
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise TypeError(f"category {value!r} of type {type(value).__name__} cannot be cached")


class ProfileCache:
    """Profiles stored under `directory`, one `.npz` per (column fingerprint)."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def _path(self, key: str) -> Path:
        return self.directory / f"{key}.npz"

    def load(self, key: str) -> Profile | None:
        path = self._path(key)
        if not path.exists():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                if meta["kind"] == "numerical":
                    return NumericalProfile(
                        values=data["values"],
                        n_rows=meta["n_rows"],
                        n_missing=meta["n_missing"],
                        n_inf=meta["n_inf"],
                        is_integer=meta["is_integer"],
                    )
                categories = np.empty(len(meta["categories"]), dtype=object)
                categories[:] = meta["categories"]
                return CategoricalProfile(
                    categories=categories,
                    counts=data["counts"],
                    codes=data["codes"],
                    n_rows=meta["n_rows"],
                    n_missing=meta["n_missing"],
                )
        except (OSError, ValueError, KeyError):
            return None  # an unreadable entry is a miss; it is rewritten below

    def store(self, key: str, profile: Profile) -> bool:
        """Write the profile; False when it cannot be cached (e.g. unusual category types)."""
        arrays: dict[str, np.ndarray] = {}
        if isinstance(profile, NumericalProfile):
            meta: dict[str, object] = {
                "kind": "numerical",
                "n_rows": profile.n_rows,
                "n_missing": profile.n_missing,
                "n_inf": profile.n_inf,
                "is_integer": profile.is_integer,
            }
            arrays["values"] = profile.values
        else:
            try:
                categories = [_json_category(v) for v in profile.categories.tolist()]
            except TypeError:
                return False
            meta = {
                "kind": "categorical",
                "n_rows": profile.n_rows,
                "n_missing": profile.n_missing,
                "categories": categories,
            }
            arrays["counts"] = profile.counts
            arrays["codes"] = profile.codes
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, meta=np.array(json.dumps(meta)), **arrays)  # type: ignore[arg-type]
            os.replace(tmp, self._path(key))
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return True
