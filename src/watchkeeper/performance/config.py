"""Configuration of performance monitoring (the `performance:` section of a model config)."""

from __future__ import annotations

from watchkeeper.configbase import StrictModel


class PerformanceConfig(StrictModel):
    enabled: bool = True
