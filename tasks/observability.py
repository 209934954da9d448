"""Run-level logging for flows: JSON lines under the state directory, run context, redaction."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from prefect.runtime import flow_run

from watchkeeper.logs import (
    PREFECT_RUN_LOGGERS,
    attach_json_handler,
    configure_json_logging,
    install_redaction,
    log_context,
    register_secret,
)
from watchkeeper.state import state_dir

# Environment variables whose values are secrets wherever they appear in a log line.
_SECRET_ENV_SUFFIXES = ("_TOKEN", "_WEBHOOK_URL", "_PASSWORD", "_SECRET", "_DB_URL", "_API_KEY")


@contextmanager
def run_logging(model: str, window: tuple[datetime, datetime] | None = None) -> Iterator[None]:
    """Every Watchkeeper and Prefect run log line also goes, as JSON, to `<state dir>/logs/`."""
    handler = configure_json_logging(state_dir() / "logs")
    for name in PREFECT_RUN_LOGGERS:
        attach_json_handler(handler, name)
    install_redaction()
    for key, value in os.environ.items():
        if key.endswith(_SECRET_ENV_SUFFIXES) and value:
            register_secret(value)
    with log_context(model=model, window=window, flow_run_id=flow_run.get_id()):
        yield
