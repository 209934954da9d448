"""One function per check, from a model config and a window to a section report.

These adapt the configuration to each domain function's arguments, so the monitor flow, the
benchmarks and notebooks call the checks the same way.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from watchkeeper.config import MonitorConfig


def model_versions(config: MonitorConfig, frame: pd.DataFrame) -> tuple[str, ...]:
    col = config.columns.model_version
    if col is None or col not in frame.columns or frame.empty:
        return ()
    return tuple(sorted(str(v) for v in frame[col].dropna().unique()))


def window_is_empty(frame: pd.DataFrame) -> bool:
    return len(frame) == 0


__all__ = ["datetime", "model_versions", "window_is_empty"]
