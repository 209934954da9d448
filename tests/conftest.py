"""Shared test setup: telemetry off, state and MLflow in temporary directories."""

from __future__ import annotations

import os

from watchkeeper.runtime import TELEMETRY_OPT_OUTS

# Before any test module imports Prefect, MLflow, Evidently or Great Expectations.
for _key, _value in TELEMETRY_OPT_OUTS.items():
    os.environ.setdefault(_key, _value)
os.environ.setdefault("MLFLOW_TRACKING_URI", "sqlite:///:memory:")
os.environ.pop("PREFECT_API_URL", None)
