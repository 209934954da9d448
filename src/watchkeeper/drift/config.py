"""Configuration of the drift engine (the `drift:` section of a model config)."""

from __future__ import annotations

from watchkeeper.configbase import StrictModel


class DriftConfig(StrictModel):
    enabled: bool = True
