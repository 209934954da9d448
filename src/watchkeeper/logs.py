"""Structured JSON logs with run context and secret redaction.

Every record of the ``watchkeeper`` loggers is also written as one JSON object per line to a rotating
file (``watchkeeper.jsonl`` under the log directory), ready for Fluent Bit / Fluentd / Logstash to
tail. Each line carries a fixed set of keys so that a shipper's parser needs no per-line logic::

    {"time": "2026-11-27T02:34:16.123+00:00", "level": "INFO", "logger": "watchkeeper.drift",
     "message": "...", "event": "drift_computed", "model": "churn",
     "window": "2026-11-26T00:00:00+00:00/2026-11-27T00:00:00+00:00", "flow_run_id": "...",
     "fields": {...}}

``event`` is the ``extra={"event": ...}`` of the call (None otherwise); ``fields`` holds every other
``extra`` key and the free keys of `log_context`. ``model``, ``window`` and ``flow_run_id`` come from
`log_context` (a contextvar, so concurrent flows in one process do not mix), and ``flow_run_id`` also
from the record itself: Prefect's run loggers (``prefect.flow_runs`` / ``prefect.task_runs``) put it
there, so the same handler can be attached to them with `attach_json_handler` while Prefect's own
handler keeps feeding the UI — nothing here removes a handler it did not add.

Redaction happens in the formatter (and in `RedactingFilter`, which can be put on any other handler),
with `watchkeeper.redaction`: Slack/Discord/Teams webhook URLs, the password of any
``scheme://user:password@host`` URL, Slack tokens, ``Bearer`` tokens, ``password=``-style parameters,
values under sensitive field names, and every value given to `register_secret` become ``***``.

Lines are whole or absent (`WholeLineFileHandler`): each record is one write of its full line, a
write that fails half-way (a full disk) is cut back, and a partial last line left by a crash is
truncated back to the last newline when the next process configures logging, with a note.

Stdlib only (and `watchkeeper.storage` for error messages): importing this module configures
nothing (configuration is `configure_json_logging`).
"""

from __future__ import annotations

import contextvars
import json
import logging
import logging.handlers
import os
import sys
import threading
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from watchkeeper.redaction import (
    RedactingFilter,
    redact_value,
)
from watchkeeper.storage import describe_os_error, storage_error

LOG_FILE_NAME = "watchkeeper.jsonl"
ROOT_LOGGER = "watchkeeper"
# Prefect's run loggers, for `attach_json_handler`; `get_run_logger()` returns adapters over these.
PREFECT_RUN_LOGGERS = ("prefect.flow_runs", "prefect.task_runs")

# No default (a shared mutable default is a trap): `_get_context` reads an unset var as empty.
_context: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar("watchkeeper_log_context")


def _get_context() -> Mapping[str, Any]:
    return _context.get({})


def _render_window(window: Any) -> Any:
    # An ISO-8601 time interval ("start/end") reads the same in every shipper and sorts as text.
    if isinstance(window, tuple | list) and len(window) == 2:
        return "/".join(_render_scalar(w) for w in window)
    return _render_scalar(window)


def _render_scalar(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


@contextmanager
def log_context(
    *, model: str | None = None, window: Any = None, flow_run_id: str | None = None, **fields: Any
) -> Iterator[None]:
    """Add run context to every log line written inside the block (nested blocks add to it).

    `window` may be a ``(start, end)`` pair of datetimes (written as an ISO-8601 interval
    ``start/end``), a datetime or a string. Other keyword arguments land in the line's ``fields``.
    Arguments left as None keep the value of an enclosing block.
    """
    current = dict(_get_context())
    updates: dict[str, Any] = {"model": model, "window": _render_window(window), "flow_run_id": flow_run_id}
    updates.update(fields)
    current.update({k: v for k, v in updates.items() if v is not None})
    token = _context.set(current)
    try:
        yield
    finally:
        _context.reset(token)


def current_log_context() -> dict[str, Any]:
    """A copy of the context that `log_context` blocks have set in this thread / task."""
    return dict(_get_context())


# Attributes every LogRecord has; anything else on a record came from `extra=`.
_RECORD_ATTRS = frozenset(vars(logging.LogRecord("x", logging.INFO, "x", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}
_TOP_LEVEL = ("model", "window", "flow_run_id")


def _safe_json(value: Any) -> Any:
    """Anything `json.dumps` cannot take becomes its str (after redaction, in `format`)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


class JsonFormatter(logging.Formatter):
    """One JSON object per record, keys fixed (see the module docstring), secrets redacted."""

    def format(self, record: logging.LogRecord) -> str:
        context = _get_context()
        extras = {k: v for k, v in vars(record).items() if k not in _RECORD_ATTRS and not k.startswith("_")}
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "event": extras.pop("event", None),
        }
        for key in _TOP_LEVEL:
            # A value on the record (Prefect's adapters set flow_run_id) wins over the context.
            value = extras.pop(key, None)
            line[key] = _render_window(value) if value is not None else context.get(key)
        fields = {k: v for k, v in context.items() if k not in _TOP_LEVEL}
        fields.update(extras)
        line["fields"] = fields
        if record.exc_info:
            line["exception"] = "".join(traceback.format_exception(*record.exc_info))
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = record.stack_info
        # Round-trip through JSON first so objects become their str, then redact the strings.
        plain = json.loads(json.dumps(line, default=_safe_json))
        return json.dumps(redact_value(plain), ensure_ascii=False)


@contextmanager
def _locked(fd: int) -> Iterator[None]:
    """An exclusive advisory lock on the open file (where the platform has ``flock``)."""
    if sys.platform == "win32":
        yield
        return
    import fcntl

    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


class WholeLineFileHandler(logging.handlers.RotatingFileHandler):
    """A rotating file handler whose lines are whole or absent, and whose failures are named.

    The file is opened unbuffered in append mode and each record goes out as one ``write`` of its
    whole line, under an advisory lock (``flock``), so a crash never leaves half a record glued to
    the next one. When the disk fills
    half-way through a line, what was written of it is cut back (``ftruncate``) and the record is
    dropped. A failure prints one line to stderr naming the file and the problem, once until a
    write succeeds again (a full disk would otherwise print a traceback per record).
    """

    # The problem last reported on stderr (None: the last write succeeded).
    _failing: str | None = None

    def _open(self) -> Any:
        return open(self.baseFilename, "ab", buffering=0)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            data = (self.format(record) + "\n").encode("utf-8")
            if self.stream is None:
                self.stream = self._open()
            size = os.fstat(self.stream.fileno()).st_size
            if self.maxBytes > 0 and size > 0 and size + len(data) >= self.maxBytes:
                self.doRollover()
                if self.stream is None:
                    self.stream = self._open()
            fd = self.stream.fileno()
            # Held from the size to the end of the write: a cut-back or another process's repair
            # (`truncate_partial_line`) never takes a line that another writer appended meanwhile.
            with _locked(fd):
                self._write_whole(fd, data, os.fstat(fd).st_size)
            self._failing = None
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)

    @staticmethod
    def _write_whole(fd: int, data: bytes, size: int) -> None:
        done = 0
        try:
            # One write in practice; a short one (the disk filled up meanwhile) is followed by a
            # write of the rest, which reports the error.
            while done < len(data):
                done += os.write(fd, data[done:])
        except OSError:
            if done:
                os.ftruncate(fd, size)
            raise

    def handleError(self, record: logging.LogRecord) -> None:
        exc = sys.exc_info()[1]
        if not isinstance(exc, OSError):
            super().handleError(record)
            return
        problem = describe_os_error(exc)
        if problem != self._failing:
            self._failing = problem
            error = storage_error("writing the JSON log", self.baseFilename, exc)
            print(f"watchkeeper: {error} (log records are dropped until it can be written)", file=sys.stderr)


def truncate_partial_line(path: Path) -> int:
    """Cut a partial last line (no final newline: a crash or a full disk mid-write) back to the
    last newline; returns the number of bytes removed (0: the file ends with a whole line)."""
    try:
        with open(path, "r+b") as f, _locked(f.fileno()):
            end = f.seek(0, os.SEEK_END)
            if end == 0:
                return 0
            f.seek(end - 1)
            if f.read(1) == b"\n":
                return 0
            keep, position = 0, end
            while position > 0:
                step = min(64 * 1024, position)
                position -= step
                f.seek(position)
                found = f.read(step).rfind(b"\n")
                if found >= 0:
                    keep = position + found + 1
                    break
            f.truncate(keep)
            return end - keep
    except FileNotFoundError:
        return 0
    except OSError as exc:
        raise storage_error("repairing the JSON log", path, exc) from exc


def install_redaction(*logger_names: str) -> None:
    """Redact the records of these loggers for every handler, Prefect's UI handler included.

    Default: Prefect's run loggers (``prefect.flow_runs``, ``prefect.task_runs``), whose records
    `get_run_logger()` emits directly on them. A logger's filter sees only records logged on that
    very logger, not those propagated from its children: for a whole tree, put a `RedactingFilter`
    on the handlers instead. Idempotent.
    """
    for name in logger_names or PREFECT_RUN_LOGGERS:
        target = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in target.filters):
            target.addFilter(RedactingFilter())


_HANDLER_MARK = "_watchkeeper_json_handler"
_setup_lock = threading.Lock()
# Loggers `attach_json_handler` added a handler to, so replacing or removing it detaches it there too.
_attached: set[str] = set()


def _ours(handler: logging.Handler) -> bool:
    return bool(getattr(handler, _HANDLER_MARK, False))


def configure_json_logging(
    log_dir: Path | str,
    *,
    max_bytes: int = 10 * 1024 * 1024,
    backups: int = 5,
    level: int | str = logging.INFO,
    logger_name: str = ROOT_LOGGER,
) -> logging.Handler:
    """Write the records of `logger_name` and its children as JSON lines to ``log_dir/watchkeeper.jsonl``.

    Idempotent: a second call with the same directory returns the handler already installed; with
    another directory it replaces the handler this function installed earlier (only that one).
    Other handlers are left alone. The logger's level is set to `level` only when it has none, so
    INFO records reach the file without overriding a level someone chose.

    A partial last line in the file (a crash or a full disk mid-write) is truncated back to the last
    newline first, and a warning says so. The file rotates at `max_bytes` keeping `backups` old files. Rotation is per process: run one
    writing process per log directory (one flow-run process per host), as concurrent writers to the
    same file may interleave rotations.
    """
    path = (Path(log_dir) / LOG_FILE_NAME).resolve()
    logger = logging.getLogger(logger_name)
    with _setup_lock:
        for existing in list(logger.handlers):
            if not _ours(existing):
                continue
            if isinstance(existing, logging.FileHandler) and Path(existing.baseFilename) == path:
                return existing
            _detach(existing, logger)
        path.parent.mkdir(parents=True, exist_ok=True)
        cut = truncate_partial_line(path)
        handler = WholeLineFileHandler(path, maxBytes=max_bytes, backupCount=backups, delay=True)
        handler.setFormatter(JsonFormatter())
        setattr(handler, _HANDLER_MARK, True)
        logger.addHandler(handler)
        if logger.level == logging.NOTSET:
            logger.setLevel(level)
    if cut:
        logging.getLogger(f"{logger_name}.logs").warning(
            "the JSON log %s ended with a partial line (%d bytes, left by a crash or a full disk): "
            "truncated back to the last whole line",
            path,
            cut,
            extra={"event": "log_partial_line_truncated", "bytes": cut},
        )
    return handler


def attach_json_handler(
    handler: logging.Handler, logger: str | logging.Logger | logging.LoggerAdapter[Any]
) -> None:
    """Also send `logger`'s records to `handler` (e.g. Prefect's ``prefect.flow_runs``); idempotent.

    Accepts a name, a logger or an adapter such as the one `prefect.get_run_logger()` returns. The
    logger's other handlers (Prefect's API handler that feeds the UI) are kept.
    """
    if isinstance(logger, logging.LoggerAdapter):
        target = logger.logger
    elif isinstance(logger, logging.Logger):
        target = logger
    else:
        target = logging.getLogger(logger)
    with _setup_lock:
        if handler not in target.handlers:
            target.addHandler(handler)
        _attached.add(target.name)


def _detach(handler: logging.Handler, logger: logging.Logger) -> None:
    logger.removeHandler(handler)
    for name in _attached:
        logging.getLogger(name).removeHandler(handler)
    handler.close()


def remove_json_logging(logger_name: str = ROOT_LOGGER) -> None:
    """Remove and close the handler `configure_json_logging` installed on `logger_name`, if any."""
    logger = logging.getLogger(logger_name)
    with _setup_lock:
        for existing in list(logger.handlers):
            if _ours(existing):
                _detach(existing, logger)
