"""Base class and small parsers shared by every configuration model.

Kept apart from `config.py` so that section models living next to their code (drift, performance,
alerting) can import it without a cycle.
"""

from __future__ import annotations

import re
from datetime import timedelta

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
