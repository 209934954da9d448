"""The suite model: a checked expectation suite as plain frozen data, and `SuiteError`.

Nothing here touches Great Expectations or the file system: suite files, generation and the GX
adapter all build on these types, and the model stays cheap to import and easy to construct in tests.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from watchkeeper.verdict import Severity

# Keys of an expectation's kwargs that name a column the window must have.
_COLUMN_KEYS = ("column", "column_A", "column_B")
_COLUMN_LIST_KEYS = ("column_list",)


def condition_columns(condition: Any) -> list[str]:
    """The columns a GX row condition (a Condition object's mapping) reads."""
    if not isinstance(condition, Mapping):
        return []
    column = condition.get("column")
    found = [column["name"]] if isinstance(column, Mapping) and isinstance(column.get("name"), str) else []
    for part in condition.get("conditions") or []:  # and / or conditions
        found.extend(c for c in condition_columns(part) if c not in found)
    return found


def describe_condition(condition: Any) -> str:
    """A row condition in words: "status in ok, 200" (for messages); "" when there is none."""
    if not condition:
        return ""
    if isinstance(condition, Mapping) and condition.get("type") == "comparison":
        column = (condition.get("column") or {}).get("name", "?")
        op = str(condition.get("operator", "")).lower().replace("_", " ")
        value = condition.get("parameter")
        shown = ", ".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
        return f"{column} {op} {shown}"
    return encode_canonical(condition)


class SuiteError(ValueError):
    """A suite file is missing, unreadable or invalid; the message names the file and the entry."""


def encode_canonical(value: Any) -> str:
    """Compact JSON with sorted keys: equal content gives equal text (hashes, de-duplication)."""
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
        return hash(encode_canonical(self.to_dict()))

    @property
    def column(self) -> str | None:
        value = self.kwargs.get("column")
        return value if isinstance(value, str) else None

    @property
    def columns(self) -> tuple[str, ...]:
        """Columns the window must have for this expectation to be evaluated (the row condition's too)."""
        found = [self.kwargs[k] for k in _COLUMN_KEYS if isinstance(self.kwargs.get(k), str)]
        for key in _COLUMN_LIST_KEYS:
            listed = self.kwargs.get(key)
            if isinstance(listed, list | tuple):
                found.extend(str(c) for c in listed)
        found.extend(c for c in condition_columns(self.kwargs.get("row_condition")) if c not in found)
        return tuple(found)

    @property
    def scope(self) -> str:
        """Which rows the expectation judges, in words: "" for all rows."""
        return describe_condition(self.kwargs.get("row_condition"))

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
        return hashlib.sha256(encode_canonical(body).encode()).hexdigest()[:16]

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
