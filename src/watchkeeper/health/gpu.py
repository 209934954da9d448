"""NVIDIA GPUs through NVML (nvidia-ml-py's ``pynvml``): utilization, memory, temperature, power,
ECC error counts and the XID events raised during the sampling interval.

The only module that imports ``pynvml``, and only when a sample asks for GPUs, so importing the
package stays light (`benchmarks/nvml_check.py` checks that). What NVML cannot give is not an
error: a host without the NVML library or driver reports "no GPU" and carries on; a metric one GPU
does not support (``NVMLError_NotSupported``, typical under MIG or vGPU) is left out of that GPU's
figures and listed in its ``unsupported``. Tests pass a stand-in module instead of ``pynvml``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

logger = logging.getLogger("watchkeeper.health")  # one name for the package, see host.py

_MIB = 1024 * 1024


@dataclass(frozen=True)
class GpuSample:
    """One GPU; None means NVML did not give that metric (see `unsupported` and `errors`)."""

    index: int
    name: str | None = None
    uuid: str | None = None
    util_pct: float | None = None
    memory_util_pct: float | None = None  # memory controller busy time, not memory used
    memory_used_mb: float | None = None
    memory_total_mb: float | None = None
    temperature_c: float | None = None
    power_w: float | None = None
    power_limit_w: float | None = None
    ecc_corrected: int | None = None  # volatile: since the driver loaded
    ecc_uncorrected: int | None = None
    xids: tuple[int, ...] | None = None  # XID codes seen during the interval; None: not observable
    unsupported: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()

    @property
    def memory_pct(self) -> float | None:
        if self.memory_used_mb is None or not self.memory_total_mb:
            return None
        return 100.0 * self.memory_used_mb / self.memory_total_mb


@dataclass(frozen=True)
class GpuStatus:
    """`state`: ``ok``, ``no GPU`` (no NVML library or driver), ``disabled`` (config) or ``error``."""

    state: Literal["ok", "no GPU", "disabled", "error"]
    detail: str | None = None
    driver_version: str | None = None
    devices: tuple[GpuSample, ...] = ()


class _Nvml:
    """Calls into an NVML module (the real ``pynvml`` or a test double) with per-metric tolerance."""

    def __init__(self, nvml: Any) -> None:
        self.nvml = nvml
        # Error codes meaning "this GPU / driver does not offer that": skip the metric quietly.
        self.unsupported_codes = {
            getattr(nvml, name)
            for name in ("NVML_ERROR_NOT_SUPPORTED", "NVML_ERROR_FUNCTION_NOT_FOUND")
            if hasattr(nvml, name)
        }
        self.no_gpu_codes = {
            getattr(nvml, name)
            for name in ("NVML_ERROR_LIBRARY_NOT_FOUND", "NVML_ERROR_DRIVER_NOT_LOADED")
            if hasattr(nvml, name)
        }

    def code(self, exc: BaseException) -> Any:
        return getattr(exc, "value", None)


def _load_pynvml() -> Any | None:
    try:
        import pynvml
    except ImportError:
        return None
    return pynvml


class _XidWatch:
    """XID events are delivered only to event sets registered before they happen: register at the
    start of the interval and drain at its end, so the sample shows the XIDs raised during it."""

    def __init__(self, api: _Nvml, handles: list[Any]) -> None:
        self.api = api
        self.nvml = api.nvml
        self.event_set: Any = None
        self.watched: set[int] = set()
        self.failed: dict[int, str] = {}
        xid_type = getattr(self.nvml, "nvmlEventTypeXidCriticalError", None)
        if xid_type is None:
            return
        try:
            self.event_set = self.nvml.nvmlEventSetCreate()
        except self.nvml.NVMLError as exc:
            self.failed = {i: self._why(exc) for i in range(len(handles))}
            return
        for index, handle in enumerate(handles):
            try:
                supported = self.nvml.nvmlDeviceGetSupportedEventTypes(handle)
                if not supported & xid_type:
                    self.failed[index] = "unsupported"
                    continue
                self.nvml.nvmlDeviceRegisterEvents(handle, xid_type, self.event_set)
                self.watched.add(index)
            except self.nvml.NVMLError as exc:
                self.failed[index] = self._why(exc)

    def _why(self, exc: BaseException) -> str:
        return "unsupported" if self.api.code(exc) in self.api.unsupported_codes else str(exc)

    def drain(self) -> dict[int, list[int]]:
        seen: dict[int, list[int]] = {i: [] for i in self.watched}
        if self.event_set is None:
            return seen
        try:
            for _ in range(10_000):  # bounded: a storm of events must not hang the sample
                try:
                    data = self.nvml.nvmlEventSetWait(self.event_set, 0)
                except self.nvml.NVMLError as exc:
                    if self.api.code(exc) != getattr(self.nvml, "NVML_ERROR_TIMEOUT", object()):
                        logger.warning("reading NVML XID events failed: %s", exc)
                    break
                try:
                    index = int(self.nvml.nvmlDeviceGetIndex(data.device))
                except self.nvml.NVMLError:
                    continue
                seen.setdefault(index, []).append(int(data.eventData))
        finally:
            try:
                self.nvml.nvmlEventSetFree(self.event_set)
            except self.nvml.NVMLError as exc:
                logger.debug("nvmlEventSetFree failed: %s", exc)
        return seen


def _decode(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _read_gpu(api: _Nvml, index: int, handle: Any) -> tuple[dict[str, Any], list[str], list[str]]:
    nvml = api.nvml
    values: dict[str, Any] = {}
    unsupported: list[str] = []
    errors: list[str] = []

    def read(metric: str, fn: Any) -> None:
        try:
            values.update(fn())
        except nvml.NVMLError as exc:
            if api.code(exc) in api.unsupported_codes:
                unsupported.append(metric)
            else:
                errors.append(f"{metric}: {exc}")
                logger.warning("NVML GPU %d %s: %s", index, metric, exc)

    read("name", lambda: {"name": _decode(nvml.nvmlDeviceGetName(handle))})
    read("uuid", lambda: {"uuid": _decode(nvml.nvmlDeviceGetUUID(handle))})

    def util() -> dict[str, Any]:
        u = nvml.nvmlDeviceGetUtilizationRates(handle)
        return {"util_pct": float(u.gpu), "memory_util_pct": float(u.memory)}

    def memory() -> dict[str, Any]:
        m = nvml.nvmlDeviceGetMemoryInfo(handle)
        return {"memory_used_mb": m.used / _MIB, "memory_total_mb": m.total / _MIB}

    read("utilization", util)
    read("memory", memory)
    read(
        "temperature",
        lambda: {"temperature_c": float(nvml.nvmlDeviceGetTemperature(handle, nvml.NVML_TEMPERATURE_GPU))},
    )
    read("power", lambda: {"power_w": nvml.nvmlDeviceGetPowerUsage(handle) / 1000.0})  # milliwatts
    read("power_limit", lambda: {"power_limit_w": nvml.nvmlDeviceGetEnforcedPowerLimit(handle) / 1000.0})

    def ecc(kind: str, error_type: int) -> Any:
        return lambda: {
            kind: int(nvml.nvmlDeviceGetTotalEccErrors(handle, error_type, nvml.NVML_VOLATILE_ECC))
        }

    read("ecc_corrected", ecc("ecc_corrected", nvml.NVML_MEMORY_ERROR_TYPE_CORRECTED))
    read("ecc_uncorrected", ecc("ecc_uncorrected", nvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED))
    return values, unsupported, errors


class GpuSampler:
    """Opens NVML at the start of the interval (so XID events can be watched) and reads at the end."""

    def __init__(self, nvml: Any | None, enabled: bool) -> None:
        self.status: GpuStatus | None = None
        self.api: _Nvml | None = None
        self.handles: list[Any] = []
        self.xids: _XidWatch | None = None
        self.driver: str | None = None
        if not enabled:
            self.status = GpuStatus("disabled")
            return
        module = nvml if nvml is not None else _load_pynvml()
        if module is None:
            self.status = GpuStatus("no GPU", "nvidia-ml-py (pynvml) is not installed")
            return
        api = _Nvml(module)
        try:
            module.nvmlInit()
        except module.NVMLError as exc:
            if api.code(exc) in api.no_gpu_codes:
                self.status = GpuStatus("no GPU", str(exc))
            else:
                logger.warning("NVML init failed: %s", exc)
                self.status = GpuStatus("error", f"nvmlInit: {exc}")
            return
        self.api = api
        try:
            self.driver = _decode(module.nvmlSystemGetDriverVersion())
        except module.NVMLError:
            self.driver = None
        try:
            count = int(module.nvmlDeviceGetCount())
            self.handles = [module.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
        except module.NVMLError as exc:
            logger.warning("NVML device enumeration failed: %s", exc)
            self.status = GpuStatus("error", f"device enumeration: {exc}", self.driver)
            self._shutdown()
            return
        if not self.handles:
            self.status = GpuStatus("no GPU", "NVML found no devices", self.driver)
            self._shutdown()
            return
        self.xids = _XidWatch(api, self.handles)

    def _shutdown(self) -> None:
        if self.api is None:
            return
        try:
            self.api.nvml.nvmlShutdown()
        except self.api.nvml.NVMLError as exc:
            logger.debug("nvmlShutdown failed: %s", exc)
        self.api = None

    def finish(self) -> GpuStatus:
        if self.status is not None:
            return self.status
        assert self.api is not None and self.xids is not None
        try:
            seen = self.xids.drain()
            devices = []
            for index, handle in enumerate(self.handles):
                values, unsupported, errors = _read_gpu(self.api, index, handle)
                xids: tuple[int, ...] | None = None
                if index in self.xids.watched:
                    xids = tuple(seen.get(index, ()))
                elif self.xids.failed.get(index, "unsupported") == "unsupported":
                    unsupported.append("xid_events")
                else:
                    errors.append(f"xid_events: {self.xids.failed[index]}")
                devices.append(
                    GpuSample(
                        index=index, xids=xids, unsupported=tuple(unsupported), errors=tuple(errors), **values
                    )
                )
        finally:
            self._shutdown()
        return GpuStatus("ok", None, self.driver, tuple(devices))
