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


# Prefect's temporary local server gets 20 s to start by default; a busy 2-core machine needs more.
# Tasks called outside a flow (the demo's model registration) log locally without a warning.
PREFECT_DEFAULTS = {
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    "PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW": "ignore",
}


def apply_runtime_defaults() -> None:
    for key, value in {**TELEMETRY_OPT_OUTS, **PREFECT_DEFAULTS}.items():
        os.environ.setdefault(key, value)
