"""Base class and small parsers shared by every configuration model.

Kept apart from `config.py` so that section models living next to their code (drift, performance,
alerting) can import it without a cycle.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """Frozen, rejects unknown keys: a typo in YAML is an error, never silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str | int | float | timedelta) -> timedelta:
    """Parse ``"15m"``, ``"1h"``, ``"1d"``, ``"2w"`` (or seconds as a number) into a timedelta."""
    if isinstance(text, timedelta):
        return text
    if isinstance(text, int | float):
        return timedelta(seconds=float(text))
    match = _DURATION.match(text)
    if not match:
        raise ValueError(
            f"invalid duration {text!r}: expected a number and a unit s, m, h, d or w (e.g. '1d', '15m')"
        )
    return timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2)])


def read_yaml_file(path: Path, *, what: str, error: type[Exception]) -> Any:
    """Parse a YAML file; `error` (with the path first) says whether it is missing, unreadable or
    not YAML. `what` names the file in the message ("config", "suite")."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{path}: {what} file not found") from None
    except OSError as exc:
        raise error(f"{path}: cannot read {what} file: {exc}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise error(f"{path}: not valid YAML: {' '.join(str(exc).split())}") from None
