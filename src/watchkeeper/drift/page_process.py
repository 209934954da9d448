"""Evidently's page rendered in a process of its own, which imports Evidently as soon as it starts.

Importing Evidently costs about 3 s of CPU (it loads its legacy metrics, scikit-learn, NLTK, Plotly
and its UI service) and a page about 1 s more. In the monitor's process that is time on the run's
critical path; in a process started when the run begins, Evidently imports on another core while
the monitor runs the window's checks, and the page is ready soon after the samples are sent to it.

    start_page_process()        # the process starts importing Evidently now
    ...
    html = render_page(inputs)  # rendered there when the process runs; else in this process

A page the process cannot render (it died, or Evidently failed there) is rendered in this process
instead, so the page is never lost to the process, and Evidently's own errors surface as before.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import logging
import multiprocessing
import os
import threading
from multiprocessing.connection import Connection
from typing import Any

from watchkeeper.drift.html import EvidentlyInputs, render_evidently_html

log = logging.getLogger(__name__)

_NICE = 10
_lock = threading.Lock()
_current: PageProcess | None = None


class PageProcessError(RuntimeError):
    """The page process could not render a page (it stopped, or Evidently raised there)."""


class PageProcess:
    """One spawned process that imports Evidently, then renders the pages sent to it, one at a time."""

    def __init__(self) -> None:
        # spawn, not fork: by now this process has threads (Prefect's, Arrow's) a fork would copy mid-work.
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=_serve, args=(child,), name="watchkeeper-evidently-page", daemon=True
        )
        self._process.start()
        child.close()
        self._lock = threading.Lock()
        self._broken = False

    def render(self, inputs: EvidentlyInputs) -> str:
        with self._lock:
            if self._broken:
                raise PageProcessError("the page process stopped earlier")
            try:
                self._conn.send(inputs)
                ok, value = self._conn.recv()
            except Exception as exc:  # it died (EOF, broken pipe), or the samples did not pickle
                self._broken = True  # the pipe may be mid-message: not used again
                raise PageProcessError(f"the page process stopped ({type(exc).__name__}: {exc})") from exc
        if not ok:
            raise PageProcessError(value)
        return str(value)

    def stop(self) -> None:
        with self._lock:
            with contextlib.suppress(OSError):
                self._conn.send(None)
            self._conn.close()
        self._process.join(timeout=5)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join()


def _serve(conn: Connection) -> None:
    """The page process: import Evidently, then render each page sent until told to stop."""
    # Started while the monitor's own process and Prefect's server are still starting: a lower
    # priority leaves them the CPU they need, and this process takes what they leave.
    with contextlib.suppress(OSError):
        os.nice(_NICE)
    # No cyclic garbage collection while Evidently imports (its objects all live on), then frozen.
    gc.disable()
    import evidently.presets  # noqa: F401  (the seconds this process exists to spend early)

    gc.freeze()
    gc.enable()

    while True:
        try:
            inputs: Any = conn.recv()
        except EOFError:  # the monitor's process is gone
            break
        if inputs is None:
            break
        try:
            conn.send((True, render_evidently_html(inputs)))
        except Exception as exc:  # reported; the monitor renders the page itself and raises it there
            conn.send((False, f"{type(exc).__name__}: {exc}"))
    conn.close()
    # Nothing here to flush or close: skip the interpreter's teardown of Evidently's thousands of
    # modules, a second or more of the monitor's exit, which waits for this process.
    os._exit(0)


def start_page_process() -> None:
    """Start the page process now, once per process; every later page of the run is rendered there."""
    global _current
    with _lock:
        if _current is None:
            try:
                _current = PageProcess()
            except OSError as exc:  # no process to be had here: pages are rendered in this one
                log.warning(
                    "could not start the page process (%s); Evidently's pages render in this one", exc
                )
                return
            atexit.register(stop_page_process)


def stop_page_process() -> None:
    global _current
    with _lock:
        process, _current = _current, None
    if process is not None:
        process.stop()


def render_page(inputs: EvidentlyInputs) -> str:
    """Evidently's page from the samples: in the page process when one runs, else in this one."""
    process = _current
    if process is not None:
        try:
            return process.render(inputs)
        except PageProcessError as exc:
            log.warning("%s; rendering Evidently's page in this process", exc)
    return render_evidently_html(inputs)
