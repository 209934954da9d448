"""Process-level defaults for wherever Watchkeeper runs: telemetry opt-outs and the state directory.

These machines (and many production networks) reach no analytics endpoints, so every entry point
(CLI, flows, tests, CI) calls `apply_runtime_defaults()` before importing Prefect, MLflow, Evidently or
Great Expectations. Values already set by the user win.
"""

from __future__ import annotations

import os

TELEMETRY_OPT_OUTS = {
    "DO_NOT_TRACK": "true",  # MLflow accepts only "true"; Prefect and Evidently read it too
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "GX_ANALYTICS_ENABLED": "false",
}


def apply_runtime_defaults() -> None:
    for key, value in TELEMETRY_OPT_OUTS.items():
        os.environ.setdefault(key, value)
