"""Configuration of alert rules and channels (the `alerts:` section of a model config)."""

from __future__ import annotations

from watchkeeper.configbase import StrictModel


class AlertsConfig(StrictModel):
    enabled: bool = True
