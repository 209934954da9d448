"""Prefect's temporary local server, started by the `watchkeeper` CLI as its first step.

With no `PREFECT_API_URL`, Prefect runs a flow against a temporary local server: at the flow's first
API call its client imports Prefect's server module into the flow's process (3 s of CPU, only to
build the command line), starts `uvicorn` in a subprocess and waits for it to answer, then stops it at
exit. The CLI starts that same subprocess (Prefect's command, Prefect's environment for it) before it
does anything else, so the server boots (about 5 s of CPU) on the other core while this process checks
the config and imports the flow files. The flow then talks to it like to any server (`use`), and it is
stopped at exit, after Prefect's log and event workers have drained into it, as Prefect stops its own.

Here, not in `watchkeeper.cli`, because the library never imports Prefect.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import logging
import os
import random
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger("prefect")

_PORTS = range(8000, 9000)  # Prefect's range for its temporary server
_PORT_IN_USE = 3  # uvicorn's exit status when it cannot bind (Prefect retries on another port)
_LAUNCHES = 2  # attempts on status 3 (uvicorn's status for a port in use, and for a failed startup)
_WATCH_LIMIT_S = 300  # the watcher's own bound; `wait_ready` applies Prefect's startup timeout
_LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # 127.0.0.1: never via a proxy
_current: TemporaryServer | None = None


class TemporaryServer:
    """One `uvicorn` process serving Prefect's API from Prefect's database under `PREFECT_HOME`."""

    def __init__(self, *, settings: bool = True) -> None:
        self._env = _server_environment(settings)  # here: relaunches from the watcher use the same
        self.announced = False
        self.port = _free_port()
        self.process = self._launch()
        self._started = time.monotonic()
        self._ready = threading.Event()  # set once the watcher is done, however it ended
        self._healthy = False
        self._failure: str | None = None
        # Watched from a thread: the server is found ready, and its first request answered, while
        # this process is still importing.
        self._watcher = threading.Thread(target=self._watch, name="prefect-server-watch", daemon=True)
        self._watcher.start()

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.address}/api"

    def _launch(self) -> subprocess.Popen[bytes]:
        spec = importlib.util.find_spec("prefect")
        assert spec is not None and spec.origin is not None
        app_dir = str(Path(spec.origin).resolve().parent.parent)
        return subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--app-dir", app_dir, "--factory",
             "prefect.server.api.server:create_app", "--host", "127.0.0.1", "--port", str(self.port),
             "--log-level", "error", "--lifespan", "on"],
            env=self._env,
        )  # fmt: skip

    def _watch(self) -> None:
        """Poll the health endpoint until the server answers, then make its first API call (the
        server sets up its database session on the first one: half a second the flow then saves)."""
        launches = 1
        while not self._ready.is_set() and time.monotonic() - self._started < _WATCH_LIMIT_S:
            status = self.process.poll()
            if status == _PORT_IN_USE and launches < _LAUNCHES:  # the port was taken since it was
                self._failure = f"Prefect's temporary server exited with status {status} while starting"
                self.port = _free_port()  # chosen: another one, as Prefect does
                self.process = self._launch()
                launches += 1
                continue
            if status is not None:
                self._failure = f"Prefect's temporary server exited with status {status} while starting" + (
                    " (its port was taken, or its startup failed: see its output above)"
                    if status == 3
                    else ""
                )
                break
            try:
                with _LOCAL.open(f"{self.api_url}/health", timeout=5) as response:
                    healthy = response.status == 200
            except OSError:  # not listening yet
                healthy = False
            if healthy:
                with contextlib.suppress(OSError):
                    _LOCAL.open(f"{self.api_url}/admin/version", timeout=10).close()
                self._healthy = True
                self._ready.set()
                return
            time.sleep(0.05)
        self._ready.set()  # wait_ready reports the failure or the timeout

    def alive(self) -> bool:
        return self.process.poll() is None

    def wait_ready(self) -> None:
        """Block until the server answers (within Prefect's startup timeout, from its start)."""
        from prefect.settings import PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS

        timeout = PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value()
        self._ready.wait(max(0.0, self._started + timeout - time.monotonic()))
        if not self._healthy:  # timed out, or the server exited
            failure = self._failure or "Timed out while attempting to connect to Prefect's temporary server"
            if self._failure and not self._ready.is_set():
                failure += f", and its next start did not answer within {timeout} s"
            self.stop()
            raise RuntimeError(failure)

    @contextlib.contextmanager
    def use(self) -> Iterator[None]:
        """Prefect's settings pointed at this server for the block (and its subprocesses); no UI
        links, as with Prefect's own temporary server, which serves no UI and stops at exit."""
        from prefect.settings import PREFECT_API_URL, PREFECT_UI_URL, temporary_settings

        self.wait_ready()
        saved = os.environ.get("PREFECT_API_URL")
        os.environ["PREFECT_API_URL"] = self.api_url
        try:
            with temporary_settings(updates={PREFECT_API_URL: self.api_url, PREFECT_UI_URL: ""}):
                yield
        finally:
            if saved is None:
                os.environ.pop("PREFECT_API_URL", None)
            else:
                os.environ["PREFECT_API_URL"] = saved

    def stop(self) -> None:
        """Stop the server (Prefect's way: terminate, then kill after 5 s)."""
        global _current
        if _current is self:
            _current = None
        self._ready.set()  # ends the watcher
        if self.process.poll() is not None:
            return
        if self.announced:  # a flow may have used it (not when the command failed before one ran)
            _drain_prefect_workers()
            log.info("Stopping temporary server on %s", self.address)
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _server_environment(settings: bool) -> dict[str, str]:
    """The environment of Prefect's own temporary server (`SubprocessASGIServer`'s), with the
    settings this process changed in memory when `settings` (none yet at the CLI's first step: the
    server reads the environment and Prefect's files as this process does). Built in the caller's
    context: Prefect's settings context does not follow into other threads."""
    env = {
        **os.environ,
        "PREFECT_UI_ENABLED": "0",
        "PREFECT__SERVER_EPHEMERAL": "1",
        "PREFECT__SERVER_FINAL": "1",
    }
    if settings:
        from prefect.settings import get_current_settings

        env.update(get_current_settings().to_environment_variables(exclude_unset=True))
    env.pop("PREFECT_API_URL", None)
    return env


def _drain_prefect_workers() -> None:
    """Send what Prefect's log and event workers still hold while the server can take it (at exit
    they have drained already: Prefect drains them before the atexit handlers run)."""
    if "prefect.logging.handlers" in sys.modules:
        from prefect.logging.handlers import APILogWorker

        APILogWorker.drain_all(timeout=5)
    if "prefect.events.worker" in sys.modules:
        from prefect.events.worker import EventsWorker

        EventsWorker.drain_all(timeout=5)


def _free_port() -> int:
    for _ in range(20):
        port = random.choice(_PORTS)
        with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 8000-8999 for Prefect's temporary server")


def launch_early() -> TemporaryServer | None:
    """The CLI's first step, before Prefect is imported (a second): start the server now if the run
    may use one, which `start_temporary_server` confirms once Prefect's settings are read (or stops,
    when they name a server). `PREFECT_API_URL` in the environment names one: nothing starts then."""
    global _current
    if _current is None and not os.environ.get("PREFECT_API_URL"):
        _current = TemporaryServer(settings=False)
        atexit.register(_current.stop)
    return _current


def start_temporary_server() -> TemporaryServer | None:
    """Prefect's temporary local server, when the run will use one: no API URL is configured and
    Prefect's temporary server is enabled. The one already started is used (and reused).

    Stopped at exit: registered with atexit before Prefect's log and event workers register their
    drains (at the flow's first log line), so it stops after they have flushed (atexit is LIFO).
    """
    global _current
    from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_EPHEMERAL_ENABLED

    if PREFECT_API_URL.value() or not PREFECT_SERVER_EPHEMERAL_ENABLED.value():
        if _current is not None and not _current.announced:  # started early, not wanted after all
            _current.stop()
        return None
    if _current is None or not _current.alive():
        _current = TemporaryServer()
        atexit.register(_current.stop)
    if not _current.announced:
        # Prefect's logging is configured first (as importing a flow file would) so the line shows.
        import prefect.main  # noqa: F401

        log.info(
            "Starting temporary server on %s\nSee https://www.prefect.io/docs/v3/concepts/server#how-to-guides "
            "for more information on running a dedicated Prefect server.",
            _current.address,
        )
        _current.announced = True
    return _current


def in_use() -> bool:
    """Whether this process's flows run against the temporary server (it stops when the run ends)."""
    return _current is not None and _current.alive()
