"""Run-level logging for flows: JSON lines under the state directory, run context, redaction."""

from __future__ import annotations

import functools
import logging
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from prefect import get_run_logger
from prefect.runtime import flow_run

from watchkeeper import __version__
from watchkeeper.logs import (
    PREFECT_RUN_LOGGERS,
    attach_json_handler,
    configure_json_logging,
    install_redaction,
    log_context,
)
from watchkeeper.redaction import register_secret
from watchkeeper.state import audit_context, state_dir

# Environment variables whose values are secrets wherever they appear in a log line.
_SECRET_ENV_SUFFIXES = ("_TOKEN", "_WEBHOOK_URL", "_PASSWORD", "_SECRET", "_DB_URL", "_API_KEY")


@functools.cache
def code_version() -> str:
    """Watchkeeper's version and, in a git checkout, the commit: recorded with every decision."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).resolve().parents[1],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        sha = ""
    return f"{__version__}+{sha}" if sha else __version__


@contextmanager
def run_logging(
    model: str,
    window: tuple[datetime, datetime] | None = None,
    *,
    config_hash: str | None = None,
    window_name: str | None = None,
) -> Iterator[None]:
    """Every Watchkeeper and Prefect run log line also goes, as JSON, to `<state dir>/logs/` (with
    the window's name, `presentation.window_name`, in its fields beside the ISO interval); every
    decision audited in the block records the config hash (of the run's loaded config) and the code
    version."""
    handler = configure_json_logging(state_dir() / "logs")
    for name in PREFECT_RUN_LOGGERS:
        attach_json_handler(handler, name)
    install_redaction()
    for key, value in os.environ.items():
        if key.endswith(_SECRET_ENV_SUFFIXES) and value:
            register_secret(value)
    with (
        log_context(model=model, window=window, flow_run_id=flow_run.get_id(), window_name=window_name),
        audit_context(config_hash=config_hash, code_version=code_version()),
    ):
        yield


def run_logger(fallback: str) -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    """The current Prefect run's logger (its lines reach the UI), or the `fallback` logger outside a run."""
    try:
        return get_run_logger()
    except Exception:  # called outside a flow or task run (unit use)
        return logging.getLogger(fallback)
