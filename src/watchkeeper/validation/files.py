"""Suite files: parsing and loading ``configs/expectations/<model>.yaml``, rendering and writing it.

A suite is a GX 1.x suite written in YAML, with one Watchkeeper addition per expectation, its
``severity``::

    name: credit-risk
    expectations:
      - type: expect_column_values_to_not_be_null
        severity: critical          # critical | warning
        kwargs: {column: income, mostly: 0.999}
        notes: optional text for the reviewer
        meta: {optional: mapping}

- `load_suite` reads and checks a suite: every entry must be one Great Expectations understands
  (see `check_with_gx`), and an error names the file, the entry index and its type.
- `write_suite` never overwrites a reviewed suite without ``force``, and returns a unified diff.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import yaml

from watchkeeper.configbase import read_yaml_file
from watchkeeper.validation.gx import check_with_gx
from watchkeeper.validation.spec import ExpectationSpec, ExpectationSuiteSpec, SuiteError
from watchkeeper.verdict import Severity

_SEVERITIES = (Severity.CRITICAL, Severity.WARNING)
_ENTRY_KEYS = frozenset({"type", "kwargs", "severity", "notes", "meta"})
_SUITE_KEYS = frozenset({"name", "expectations", "meta", "notes"})


class SuiteExistsError(SuiteError):
    """`write_suite` refused to overwrite a reviewed suite; `diff` holds what would change."""

    def __init__(self, path: Path, diff: str) -> None:
        super().__init__(
            f"{path}: a suite already exists and differs from the generated one; review the diff "
            "and pass force=True (`--force`) to overwrite it"
        )
        self.path = path
        self.diff = diff


def default_suite_path(model_name: str, root: str | Path = "configs/expectations") -> Path:
    """Where a model's suite lives when its config does not name one: ``<root>/<model>.yaml``."""
    return Path(root) / f"{model_name}.yaml"


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
        check_with_gx(spec)
    return spec


def load_suite(path: str | Path) -> ExpectationSuiteSpec:
    """Load and check a suite file; `SuiteError` names the file and the offending entry."""
    path = Path(path)
    return parse_suite(read_yaml_file(path, what="suite", error=SuiteError), source=path)


class _SuiteDumper(yaml.SafeDumper):
    """Block style for structure, flow style for lists of scalars (value sets stay on few lines) and
    for row conditions (one line each); no anchors, so every entry reads on its own."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    flow = all(not isinstance(v, dict | list) for v in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


def _represent_dict(dumper: yaml.SafeDumper, data: dict[Any, Any]) -> yaml.Node:
    flow = "operator" in data  # a GX row condition
    return dumper.represent_mapping("tag:yaml.org,2002:map", data, flow_style=flow)


_SuiteDumper.add_representer(list, _represent_list)
_SuiteDumper.add_representer(dict, _represent_dict)

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
