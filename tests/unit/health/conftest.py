"""Shared fixtures for the health, footprint and log tests.

- `http_server`: a real HTTP server on 127.0.0.1 (port 0) that records every request. Routes:
  ``GET /healthz`` 200, ``GET /slow`` answers after ``server.slow_s``, ``GET /unavailable`` 503,
  ``GET /moved`` 302, and ``PUT``/``POST`` anywhere (the Pushgateway API) answers ``server.push_status`` after
  ``server.push_delay_s``.
- `closed_port`: a port on 127.0.0.1 where nothing listens (connection refused).
- `make_fake_nvml`: a module object standing in for ``pynvml`` where no GPU exists. It reuses the
  real binding's constants and error classes, so the code under test catches exactly what the real
  binding raises; only the calls into the driver are replaced.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import types
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pynvml
import pytest


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class RecordingServer:
    url: str
    requests: list[RecordedRequest] = field(default_factory=list)
    slow_s: float = 1.0
    push_status: int = 200
    push_delay_s: float = 0.0


class _Handler(BaseHTTPRequestHandler):
    server: Any

    def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
        pass

    def _record(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.state.requests.append(RecordedRequest(self.command, self.path, dict(self.headers), body))

    def _reply(self, status: int, body: bytes = b"ok", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._record()
        path = urlsplit(self.path).path
        if path == "/healthz":
            self._reply(200)
        elif path == "/slow":
            time.sleep(self.server.state.slow_s)
            with contextlib.suppress(OSError):  # the client gave up first, as intended
                self._reply(200)
        elif path == "/unavailable":
            self._reply(503, b"down")
        elif path == "/moved":
            self._reply(302, b"", {"Location": "/healthz"})
        else:
            self._reply(404, b"no")

    def do_PUT(self) -> None:
        self._record()
        time.sleep(self.server.state.push_delay_s)
        with contextlib.suppress(OSError):  # the client timed out first
            self._reply(self.server.state.push_status, b"")

    do_POST = do_PUT


@pytest.fixture
def http_server() -> Iterator[RecordingServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True  # a /slow handler still sleeping must not hold up teardown
    state = RecordingServer(url=f"http://127.0.0.1:{server.server_address[1]}")
    server.state = state  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- fake NVML -----------------------------------------------------------------------------------
NOT_SUPPORTED = pynvml.NVML_ERROR_NOT_SUPPORTED


def make_fake_nvml(
    devices: list[dict[str, Any]],
    *,
    init_error: int | None = None,
    xids: list[tuple[int, int]] = (),  # type: ignore[assignment]
    driver: str = "550.54.15",
) -> types.ModuleType:
    """A ``pynvml`` stand-in over `devices` (dicts of metric → value, an NVMLError to raise, or absent
    for NotSupported).

    Keys: name, uuid, util (gpu, memory), memory (used, total bytes), temperature, power_mw,
    power_limit_mw, ecc_corrected, ecc_uncorrected, events (supported event mask). `xids` are
    ``(device index, xid)`` pairs raised during the sample: delivered only to devices registered for
    XID events, as the driver does. ``module.calls`` counts init/shutdown.
    """
    mod = types.ModuleType("fake_pynvml")
    for name in dir(pynvml):
        if name.startswith(("NVML_", "NVMLError", "nvmlEventType")):
            setattr(mod, name, getattr(pynvml, name))
    mod.calls = {"init": 0, "shutdown": 0, "registered": []}  # type: ignore[attr-defined]
    pending = list(xids)

    def get(handle: int, key: str) -> Any:
        value = devices[handle].get(key)
        if value is None:
            raise pynvml.NVMLError(NOT_SUPPORTED)
        if isinstance(value, pynvml.NVMLError):
            raise pynvml.NVMLError(value.value)  # a fresh exception each call, as the binding does
        return value

    def nvmlInit() -> None:
        if init_error is not None:
            raise pynvml.NVMLError(init_error)
        mod.calls["init"] += 1  # type: ignore[attr-defined]

    def nvmlShutdown() -> None:
        mod.calls["shutdown"] += 1  # type: ignore[attr-defined]

    def nvmlEventSetWait(event_set: Any, timeout_ms: int) -> Any:
        while pending:
            index, xid = pending.pop(0)
            if index in mod.calls["registered"]:  # type: ignore[attr-defined]
                return types.SimpleNamespace(
                    device=index, eventType=pynvml.nvmlEventTypeXidCriticalError, eventData=xid
                )
        raise pynvml.NVMLError(pynvml.NVML_ERROR_TIMEOUT)

    def register(handle: int, event_types: int, event_set: Any) -> None:
        refusal = devices[handle].get("register")  # a device may refuse it (no permission, vGPU)
        if isinstance(refusal, pynvml.NVMLError):
            raise pynvml.NVMLError(refusal.value)
        mod.calls["registered"].append(handle)  # type: ignore[attr-defined]

    mod.nvmlInit = nvmlInit  # type: ignore[attr-defined]
    mod.nvmlShutdown = nvmlShutdown  # type: ignore[attr-defined]
    mod.nvmlSystemGetDriverVersion = lambda: driver  # type: ignore[attr-defined]
    mod.nvmlDeviceGetCount = lambda: len(devices)  # type: ignore[attr-defined]
    mod.nvmlDeviceGetHandleByIndex = lambda i: i  # type: ignore[attr-defined]
    mod.nvmlDeviceGetIndex = lambda h: h  # type: ignore[attr-defined]
    mod.nvmlDeviceGetName = lambda h: get(h, "name")  # type: ignore[attr-defined]
    mod.nvmlDeviceGetUUID = lambda h: get(h, "uuid")  # type: ignore[attr-defined]

    def utilization(h: int) -> Any:
        gpu, memory = get(h, "util")
        return types.SimpleNamespace(gpu=gpu, memory=memory)

    def memory_info(h: int) -> Any:
        used, total = get(h, "memory")
        return types.SimpleNamespace(used=used, total=total, free=total - used)

    def temperature(h: int, sensor: int) -> Any:
        assert sensor == pynvml.NVML_TEMPERATURE_GPU
        return get(h, "temperature")

    def ecc(h: int, error_type: int, counter_type: int) -> Any:
        assert counter_type == pynvml.NVML_VOLATILE_ECC
        key = (
            "ecc_uncorrected" if error_type == pynvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED else "ecc_corrected"
        )
        return get(h, key)

    mod.nvmlDeviceGetUtilizationRates = utilization  # type: ignore[attr-defined]
    mod.nvmlDeviceGetMemoryInfo = memory_info  # type: ignore[attr-defined]
    mod.nvmlDeviceGetTemperature = temperature  # type: ignore[attr-defined]
    mod.nvmlDeviceGetPowerUsage = lambda h: get(h, "power_mw")  # type: ignore[attr-defined]
    mod.nvmlDeviceGetEnforcedPowerLimit = lambda h: get(h, "power_limit_mw")  # type: ignore[attr-defined]
    mod.nvmlDeviceGetTotalEccErrors = ecc  # type: ignore[attr-defined]
    mod.nvmlEventSetCreate = lambda: object()  # type: ignore[attr-defined]
    mod.nvmlDeviceGetSupportedEventTypes = lambda h: devices[h].get("events", pynvml.nvmlEventTypeAll)  # type: ignore[attr-defined]
    mod.nvmlDeviceRegisterEvents = register  # type: ignore[attr-defined]
    mod.nvmlEventSetWait = nvmlEventSetWait  # type: ignore[attr-defined]
    mod.nvmlEventSetFree = lambda s: None  # type: ignore[attr-defined]
    return mod


@pytest.fixture(name="make_fake_nvml")
def _make_fake_nvml() -> Any:
    return make_fake_nvml
