"""Host health: CPU, memory, disk, network and GPU sampling, network probes, Pushgateway push.

`sample_health(config)` samples the host that serves the model over a short interval (rates need two
readings): CPU (total, per core, load average), memory and swap, disk usage and I/O, network I/O
(psutil); per GPU through NVML (nvidia-ml-py's ``pynvml``): utilization, memory, temperature, power,
ECC error counts and XID events seen during the interval. The network probes (HTTP GET of a health URL,
TCP connect to dependencies) run in threads during the same interval, so a run takes about
``max(interval, slowest probe timeout)``.

What NVML cannot give is not an error: a host without the NVML library or driver reports "no GPU"
and carries on; a metric one GPU does not support (``NVMLError_NotSupported``, typical under MIG or
vGPU) is left out of that GPU's figures and listed in its ``unsupported``.

The result is a frozen `HealthReport` (a `SectionReport`, section ``health``) whose figures follow the
project's names (``cpu.percent``, ``memory.percent``, ``gpu.max_util_pct``, ``probe.<name>.ok`` …) and
whose findings apply `HealthThresholds`. `push_to_gateway` sends the figures to a Prometheus
Pushgateway, best effort.

Dependencies stay light on purpose: psutil, pydantic and the stdlib at import time; ``pynvml`` and
``prometheus_client`` are imported only when used. `benchmarks/nvml_check.py` relies on this.
"""

from __future__ import annotations

import logging
import math
import os
import re
import socket
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import psutil
from pydantic import Field, field_validator, model_validator

from watchkeeper.configbase import StrictModel
from watchkeeper.logs import redact
from watchkeeper.verdict import Finding, Severity

logger = logging.getLogger(__name__)

SECTION = "health"
_MIB = 1024 * 1024
_GIB = 1024 * _MIB
_PROBE_NAME = r"^[a-z0-9][a-z0-9_-]*$"  # figure names are dotted: no dots in probe names


# -- configuration -------------------------------------------------------------------------------
class HttpProbeConfig(StrictModel):
    """HTTP GET of a health URL; up when the status is one of `ok_statuses` (any 2xx when empty)."""

    name: str = Field(pattern=_PROBE_NAME)
    url: str = Field(pattern=r"^https?://")
    timeout_s: float = Field(default=2.0, gt=0, le=60)
    ok_statuses: tuple[int, ...] = ()
    # Health URLs are internal: going through $HTTP_PROXY would measure the proxy, not the endpoint.
    use_env_proxy: bool = False
    severity: Literal["warning", "critical"] = "critical"  # of the finding when the probe is down
    latency_warning_ms: float | None = Field(default=None, gt=0)


class TcpProbeConfig(StrictModel):
    """TCP connect to a dependency (feature store, database, broker) given as ``host:port``."""

    name: str = Field(pattern=_PROBE_NAME)
    address: str
    timeout_s: float = Field(default=2.0, gt=0, le=60)
    severity: Literal["warning", "critical"] = "critical"
    latency_warning_ms: float | None = Field(default=None, gt=0)

    @field_validator("address")
    @classmethod
    def _host_port(cls, value: str) -> str:
        split_address(value)
        return value

    @property
    def host(self) -> str:
        return split_address(self.address)[0]

    @property
    def port(self) -> int:
        return split_address(self.address)[1]


def split_address(address: str) -> tuple[str, int]:
    """``"db.internal:5432"`` → ``("db.internal", 5432)``; IPv6 as ``"[::1]:5432"``."""
    match = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\]:(\d+)|([^:\s\[\]]+):(\d+)", address.strip())
    if not match:
        raise ValueError(f"expected host:port (IPv6 as [addr]:port), got {address!r}")
    host = match.group(1) or match.group(3)
    port = int(match.group(2) or match.group(4))
    if not 0 < port < 65536:
        raise ValueError(f"port out of range in {address!r}")
    return host, port


class PushgatewayConfig(StrictModel):
    """Where to push: the URL is read from an env var (it may carry basic-auth credentials)."""

    url_env: str = "WATCHKEEPER_PUSHGATEWAY_URL"
    job: str = Field(default="watchkeeper_health", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    instance: str | None = None  # default: this host's name
    timeout_s: float = Field(default=2.0, gt=0, le=30)

    def resolve_url(self) -> str | None:
        """The Pushgateway URL from the environment, None when unset or empty (push disabled)."""
        return os.environ.get(self.url_env) or None


class HealthThresholds(StrictModel):
    """When a sample is a warning or critical finding. None disables a check."""

    memory_warning_pct: float | None = 90.0
    memory_critical_pct: float | None = 98.0
    swap_warning_pct: float | None = 80.0
    disk_warning_pct: float | None = 90.0
    disk_critical_pct: float | None = 97.0
    # A busy CPU is normal on a serving host: off by default. A run queue well above the core
    # count means requests wait for a CPU, which is what hurts latency.
    cpu_warning_pct: float | None = None
    load_per_core_warning: float | None = 2.0
    gpu_memory_warning_pct: float | None = 95.0
    gpu_temperature_warning_c: float | None = 85.0
    gpu_temperature_critical_c: float | None = 95.0
    # Uncorrected ECC errors since the driver loaded: the GPU needs a reset or a replacement.
    gpu_ecc_uncorrected_critical: int | None = 1
    # XIDs that mean hardware trouble (double-bit ECC, fallen off the bus, NVLink, row-remap failure,
    # uncontained ECC). Any other XID during the interval is a warning.
    critical_xids: tuple[int, ...] = (48, 64, 74, 79, 92, 95)


class HealthConfig(StrictModel):
    """The ``health:`` section of a model config: what the system-health flow samples and probes."""

    enabled: bool = True
    interval_s: float = Field(default=1.0, gt=0, le=60)
    gpu: bool = True
    # How many GPUs the host must show; fewer (including "no GPU") is critical. None: no expectation.
    expected_gpus: int | None = Field(default=None, ge=0)
    disk_paths: tuple[str, ...] = ("/",)
    http_probes: tuple[HttpProbeConfig, ...] = ()
    tcp_probes: tuple[TcpProbeConfig, ...] = ()
    pushgateway: PushgatewayConfig | None = None
    thresholds: HealthThresholds = HealthThresholds()

    @model_validator(mode="after")
    def _unique_probe_names(self) -> HealthConfig:
        names = [p.name for p in self.http_probes] + [p.name for p in self.tcp_probes]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"probe names must be unique (they name figures): {duplicates}")
        return self


# -- results -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CpuSample:
    percent: float
    per_core: tuple[float, ...]
    count: int
    load_1m: float | None
    load_5m: float | None
    load_15m: float | None


@dataclass(frozen=True)
class MemorySample:
    total_mb: float
    used_mb: float
    available_mb: float
    percent: float
    swap_total_mb: float
    swap_used_mb: float
    swap_percent: float


@dataclass(frozen=True)
class DiskSample:
    path: str
    total_gb: float
    used_gb: float
    free_gb: float
    percent: float


@dataclass(frozen=True)
class DiskIoSample:
    read_mb_s: float
    write_mb_s: float
    read_iops: float
    write_iops: float


@dataclass(frozen=True)
class NetIoSample:
    sent_mb_s: float
    recv_mb_s: float
    errors: int  # errin + errout during the interval
    drops: int  # dropin + dropout during the interval


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


@dataclass(frozen=True)
class ProbeResult:
    name: str
    kind: Literal["http", "tcp"]
    target: str  # redacted URL or host:port
    ok: bool
    latency_ms: float | None  # None when no answer came (timeout, refused, DNS failure)
    status_code: int | None = None
    error: str | None = None
    severity: Literal["warning", "critical"] = "critical"
    latency_warning_ms: float | None = None


def _r(value: float | None, digits: int = 3) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), digits)


@dataclass(frozen=True)
class HealthReport:
    """One health sample of one host; the ``health`` section of a report."""

    host: str
    sampled_at: datetime  # end of the interval, UTC
    interval_s: float
    cpu: CpuSample
    memory: MemorySample
    disks: tuple[DiskSample, ...]
    disk_io: DiskIoSample | None
    net: NetIoSample | None
    gpu: GpuStatus
    probes: tuple[ProbeResult, ...] = ()
    thresholds: HealthThresholds = field(default_factory=HealthThresholds)
    expected_gpus: int | None = None

    # -- SectionReport ---------------------------------------------------------------------------
    def figures(self) -> dict[str, float]:
        f: dict[str, float | None] = {
            "cpu.percent": self.cpu.percent,
            "cpu.count": float(self.cpu.count),
            "cpu.load_1m": self.cpu.load_1m,
            "cpu.load_5m": self.cpu.load_5m,
            "cpu.load_15m": self.cpu.load_15m,
            "cpu.max_core_percent": max(self.cpu.per_core, default=None),
            "memory.percent": self.memory.percent,
            "memory.used_mb": self.memory.used_mb,
            "memory.available_mb": self.memory.available_mb,
            "memory.total_mb": self.memory.total_mb,
            "swap.percent": self.memory.swap_percent,
            "swap.used_mb": self.memory.swap_used_mb,
            "disk.percent": max((d.percent for d in self.disks), default=None),
        }
        for i, pct in enumerate(self.cpu.per_core):
            f[f"cpu.{i}.percent"] = pct
        if self.disk_io is not None:
            f.update(
                {
                    "disk.read_mb_s": self.disk_io.read_mb_s,
                    "disk.write_mb_s": self.disk_io.write_mb_s,
                    "disk.read_iops": self.disk_io.read_iops,
                    "disk.write_iops": self.disk_io.write_iops,
                }
            )
        if self.net is not None:
            f.update(
                {
                    "net.sent_mb_s": self.net.sent_mb_s,
                    "net.recv_mb_s": self.net.recv_mb_s,
                    "net.errors": float(self.net.errors),
                    "net.drops": float(self.net.drops),
                }
            )
        if self.gpu.state != "disabled":
            devices = self.gpu.devices
            f["gpu.count"] = float(len(devices))
            f["gpu.max_util_pct"] = _max(g.util_pct for g in devices)
            f["gpu.max_memory_pct"] = _max(g.memory_pct for g in devices)
            f["gpu.max_temperature_c"] = _max(g.temperature_c for g in devices)
            for g in devices:
                p = f"gpu.{g.index}."
                f[p + "util_pct"] = g.util_pct
                f[p + "memory_util_pct"] = g.memory_util_pct
                f[p + "memory_used_mb"] = g.memory_used_mb
                f[p + "memory_total_mb"] = g.memory_total_mb
                f[p + "memory_pct"] = g.memory_pct
                f[p + "temperature_c"] = g.temperature_c
                f[p + "power_w"] = g.power_w
                f[p + "power_limit_w"] = g.power_limit_w
                f[p + "ecc_corrected"] = _float(g.ecc_corrected)
                f[p + "ecc_uncorrected"] = _float(g.ecc_uncorrected)
                f[p + "xid_events"] = None if g.xids is None else float(len(g.xids))
        for probe in self.probes:
            f[f"probe.{probe.name}.ok"] = 1.0 if probe.ok else 0.0
            f[f"probe.{probe.name}.latency_ms"] = probe.latency_ms
            if probe.status_code is not None:
                f[f"probe.{probe.name}.status_code"] = float(probe.status_code)
        # Missing metrics are left out, never NaN: alert rules and MLflow see only real readings.
        return {k: round(float(v), 4) for k, v in f.items() if v is not None and math.isfinite(v)}

    def findings(self) -> list[Finding]:
        t = self.thresholds
        out: list[Finding] = []

        def add(severity: Severity, message: str) -> None:
            out.append(Finding(SECTION, severity, f"{self.host}: {message}"))

        mem = self.memory.percent
        if t.memory_critical_pct is not None and mem >= t.memory_critical_pct:
            add(Severity.CRITICAL, f"memory {mem:.1f}% used (critical at {t.memory_critical_pct:g}%)")
        elif t.memory_warning_pct is not None and mem >= t.memory_warning_pct:
            add(Severity.WARNING, f"memory {mem:.1f}% used (warning at {t.memory_warning_pct:g}%)")
        swap = self.memory.swap_percent
        if t.swap_warning_pct is not None and self.memory.swap_total_mb > 0 and swap >= t.swap_warning_pct:
            add(Severity.WARNING, f"swap {swap:.1f}% used (warning at {t.swap_warning_pct:g}%)")
        for d in self.disks:
            if t.disk_critical_pct is not None and d.percent >= t.disk_critical_pct:
                add(Severity.CRITICAL, f"disk {d.path} {d.percent:.1f}% full, {d.free_gb:.1f} GiB free")
            elif t.disk_warning_pct is not None and d.percent >= t.disk_warning_pct:
                add(Severity.WARNING, f"disk {d.path} {d.percent:.1f}% full, {d.free_gb:.1f} GiB free")
        if t.cpu_warning_pct is not None and self.cpu.percent >= t.cpu_warning_pct:
            add(Severity.WARNING, f"CPU {self.cpu.percent:.1f}% busy over {self.interval_s:g}s")
        if t.load_per_core_warning is not None and self.cpu.load_1m is not None and self.cpu.count:
            per_core = self.cpu.load_1m / self.cpu.count
            if per_core >= t.load_per_core_warning:
                add(
                    Severity.WARNING,
                    f"load average {self.cpu.load_1m:.1f} on {self.cpu.count} cores "
                    f"({per_core:.1f} per core): requests are waiting for a CPU",
                )
        self._gpu_findings(add)
        for p in self.probes:
            if not p.ok:
                why = p.error or (f"HTTP {p.status_code}" if p.status_code is not None else "down")
                add(Severity.parse(p.severity), f"probe {p.name} ({p.target}) is down: {why}")
            elif (
                p.latency_warning_ms is not None
                and p.latency_ms is not None
                and p.latency_ms >= p.latency_warning_ms
            ):
                add(
                    Severity.WARNING,
                    f"probe {p.name} ({p.target}) answered in {p.latency_ms:.0f} ms "
                    f"(warning at {p.latency_warning_ms:g} ms)",
                )
        return out

    def _gpu_findings(self, add: Any) -> None:
        t = self.thresholds
        gpu = self.gpu
        if gpu.state == "disabled":
            return
        if self.expected_gpus is not None and len(gpu.devices) < self.expected_gpus:
            why = gpu.detail or gpu.state
            add(
                Severity.CRITICAL,
                f"expected {self.expected_gpus} GPU(s), NVML shows {len(gpu.devices)} ({why})",
            )
        if gpu.state == "error":
            add(Severity.WARNING, f"GPU metrics unavailable: {gpu.detail}")
        for g in gpu.devices:
            label = f"GPU {g.index}" + (f" ({g.name})" if g.name else "")
            mem = g.memory_pct
            if t.gpu_memory_warning_pct is not None and mem is not None and mem >= t.gpu_memory_warning_pct:
                add(Severity.WARNING, f"{label} memory {mem:.1f}% used")
            temp = g.temperature_c
            if temp is not None:
                if t.gpu_temperature_critical_c is not None and temp >= t.gpu_temperature_critical_c:
                    add(
                        Severity.CRITICAL,
                        f"{label} at {temp:.0f} °C (critical at {t.gpu_temperature_critical_c:g})",
                    )
                elif t.gpu_temperature_warning_c is not None and temp >= t.gpu_temperature_warning_c:
                    add(
                        Severity.WARNING,
                        f"{label} at {temp:.0f} °C (warning at {t.gpu_temperature_warning_c:g})",
                    )
            if (
                t.gpu_ecc_uncorrected_critical is not None
                and g.ecc_uncorrected is not None
                and g.ecc_uncorrected >= t.gpu_ecc_uncorrected_critical
            ):
                add(
                    Severity.CRITICAL,
                    f"{label} has {g.ecc_uncorrected} uncorrected ECC error(s) since the driver loaded",
                )
            if g.xids:
                critical = sorted(set(g.xids) & set(t.critical_xids))
                severity = Severity.CRITICAL if critical else Severity.WARNING
                add(severity, f"{label} raised XID event(s) {sorted(set(g.xids))} during the sample")
            if g.errors:
                add(Severity.WARNING, f"{label}: NVML errors reading {', '.join(g.errors)}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "sampled_at": self.sampled_at.isoformat(),
            "interval_s": self.interval_s,
            "cpu": {
                "percent": _r(self.cpu.percent, 2),
                "per_core": [_r(p, 2) for p in self.cpu.per_core],
                "count": self.cpu.count,
                "load_1m": _r(self.cpu.load_1m, 2),
                "load_5m": _r(self.cpu.load_5m, 2),
                "load_15m": _r(self.cpu.load_15m, 2),
            },
            "memory": {k: _r(v, 2) for k, v in vars(self.memory).items()},
            "disks": [
                {"path": d.path, **{k: _r(v, 3) for k, v in vars(d).items() if k != "path"}}
                for d in self.disks
            ],
            "disk_io": None if self.disk_io is None else {k: _r(v, 4) for k, v in vars(self.disk_io).items()},
            "net": None
            if self.net is None
            else {
                "sent_mb_s": _r(self.net.sent_mb_s, 4),
                "recv_mb_s": _r(self.net.recv_mb_s, 4),
                "errors": self.net.errors,
                "drops": self.net.drops,
            },
            "gpu": {
                "state": self.gpu.state,
                "detail": self.gpu.detail,
                "driver_version": self.gpu.driver_version,
                "devices": [_gpu_dict(g) for g in self.gpu.devices],
            },
            "probes": [
                {
                    "name": p.name,
                    "kind": p.kind,
                    "target": p.target,
                    "ok": p.ok,
                    "latency_ms": _r(p.latency_ms, 2),
                    "status_code": p.status_code,
                    "error": p.error,
                }
                for p in self.probes
            ],
            "figures": self.figures(),
            "findings": [f.to_dict() for f in self.findings()],
        }


def _gpu_dict(g: GpuSample) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in vars(g).items():
        if isinstance(value, float):
            out[key] = _r(value, 3)
        elif isinstance(value, tuple):
            out[key] = list(value)
        else:
            out[key] = value
    out["memory_pct"] = _r(g.memory_pct, 3)
    return out


def _max(values: Any) -> float | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None


def _float(value: int | None) -> float | None:
    return None if value is None else float(value)


# -- psutil sampling -----------------------------------------------------------------------------
def _cpu_busy_total(times: Any) -> tuple[float, float]:
    """(busy, total) seconds from a `psutil.cpu_times()` tuple, as psutil's own cpu_percent counts.

    On Linux guest time is already inside user/nice, so it is taken out of the total; idle and
    iowait are the not-busy part.
    """
    total = sum(times)
    total -= getattr(times, "guest", 0.0) + getattr(times, "guest_nice", 0.0)
    idle = times.idle + getattr(times, "iowait", 0.0)
    return total - idle, total


def cpu_percent_between(before: Any, after: Any) -> float:
    """Busy percentage of one CPU (or all) between two `psutil.cpu_times()` readings, in [0, 100]."""
    busy0, total0 = _cpu_busy_total(before)
    busy1, total1 = _cpu_busy_total(after)
    d_total = total1 - total0
    if d_total <= 0:
        return 0.0
    return min(100.0, max(0.0, 100.0 * (busy1 - busy0) / d_total))


@dataclass
class _Readings:
    at: float
    cpu: Any
    per_core: list[Any]
    disk: Any
    net: Any


def _read_counters() -> _Readings:
    # Counters may be absent (containers without /proc/diskstats): None, and the rate is skipped.
    try:
        disk = psutil.disk_io_counters()
    except (OSError, RuntimeError):
        disk = None
    try:
        net = psutil.net_io_counters()
    except (OSError, RuntimeError):
        net = None
    return _Readings(time.monotonic(), psutil.cpu_times(), psutil.cpu_times(percpu=True), disk, net)


def _rates(before: _Readings, after: _Readings) -> tuple[DiskIoSample | None, NetIoSample | None]:
    dt = max(after.at - before.at, 1e-9)
    disk_io = None
    if before.disk is not None and after.disk is not None:
        disk_io = DiskIoSample(
            read_mb_s=max(0, after.disk.read_bytes - before.disk.read_bytes) / _MIB / dt,
            write_mb_s=max(0, after.disk.write_bytes - before.disk.write_bytes) / _MIB / dt,
            read_iops=max(0, after.disk.read_count - before.disk.read_count) / dt,
            write_iops=max(0, after.disk.write_count - before.disk.write_count) / dt,
        )
    net = None
    if before.net is not None and after.net is not None:
        a, b = after.net, before.net
        net = NetIoSample(
            sent_mb_s=max(0, a.bytes_sent - b.bytes_sent) / _MIB / dt,
            recv_mb_s=max(0, a.bytes_recv - b.bytes_recv) / _MIB / dt,
            errors=max(0, (a.errin + a.errout) - (b.errin + b.errout)),
            drops=max(0, (a.dropin + a.dropout) - (b.dropin + b.dropout)),
        )
    return disk_io, net


def _memory() -> MemorySample:
    vm = psutil.virtual_memory()
    sw = psutil.swap_memory()
    return MemorySample(
        total_mb=vm.total / _MIB,
        used_mb=(vm.total - vm.available) / _MIB,  # what applications hold; cache counts as free
        available_mb=vm.available / _MIB,
        percent=float(vm.percent),
        swap_total_mb=sw.total / _MIB,
        swap_used_mb=sw.used / _MIB,
        swap_percent=float(sw.percent),
    )


def _disks(paths: tuple[str, ...]) -> tuple[DiskSample, ...]:
    out = []
    for path in paths:
        try:
            u = psutil.disk_usage(path)
        except OSError as exc:
            logger.warning("cannot read disk usage of %s: %s", path, exc)
            continue
        out.append(DiskSample(path, u.total / _GIB, u.used / _GIB, u.free / _GIB, float(u.percent)))
    return tuple(out)


def _load_average() -> tuple[float | None, float | None, float | None]:
    try:
        one, five, fifteen = psutil.getloadavg()
    except (OSError, AttributeError):
        return None, None, None
    return one, five, fifteen


# -- NVML ----------------------------------------------------------------------------------------
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


class _GpuSampler:
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


# -- probes --------------------------------------------------------------------------------------
class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # A health endpoint that redirects (to a login page, say) is reported as its own status.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _down(
    probe: HttpProbeConfig | TcpProbeConfig, kind: Literal["http", "tcp"], target: str, error: str
) -> ProbeResult:
    return ProbeResult(
        probe.name, kind, target, ok=False, latency_ms=None, error=error, severity=probe.severity
    )


def probe_http(probe: HttpProbeConfig) -> ProbeResult:
    """GET `probe.url` once; latency is the time to the response headers plus a short body read.

    The timeout applies to each socket operation (connect, each read), as urllib does; a server that
    sends nothing within it is reported down with "timed out".
    """
    handlers: list[Any] = [_NoRedirect()]
    if not probe.use_env_proxy:
        handlers.append(urllib.request.ProxyHandler({}))
    opener = urllib.request.build_opener(*handlers)
    request = urllib.request.Request(probe.url, method="GET", headers={"User-Agent": "watchkeeper-health"})
    target = redact(probe.url)
    timed_out = f"timed out after {probe.timeout_s:g}s"
    start = time.perf_counter()
    try:
        with opener.open(request, timeout=probe.timeout_s) as response:
            status = int(response.status)
            response.read(65536)  # a little of the body, so the server sees a clean close
    except urllib.error.HTTPError as exc:  # 4xx/5xx (and 3xx, redirects being off) still answered
        status = int(exc.code)
        exc.close()
    except TimeoutError:
        return _down(probe, "http", target, timed_out)
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            return _down(probe, "http", target, timed_out)
        return _down(probe, "http", target, redact(_describe(exc.reason)))
    except (OSError, ValueError) as exc:
        return _down(probe, "http", target, redact(_describe(exc)))
    latency_ms = (time.perf_counter() - start) * 1000.0
    ok = status in probe.ok_statuses if probe.ok_statuses else 200 <= status < 300
    return ProbeResult(
        probe.name,
        "http",
        target,
        ok=ok,
        latency_ms=latency_ms,
        status_code=status,
        error=None if ok else f"HTTP {status}",
        severity=probe.severity,
        latency_warning_ms=probe.latency_warning_ms,
    )


def probe_tcp(probe: TcpProbeConfig) -> ProbeResult:
    """Open (and close) a TCP connection; latency is the connect time, DNS lookup included."""
    start = time.perf_counter()
    try:
        with socket.create_connection((probe.host, probe.port), timeout=probe.timeout_s):
            latency_ms = (time.perf_counter() - start) * 1000.0
    except TimeoutError:
        return _down(probe, "tcp", probe.address, f"timed out after {probe.timeout_s:g}s")
    except OSError as exc:
        return _down(probe, "tcp", probe.address, _describe(exc))
    return ProbeResult(
        probe.name,
        "tcp",
        probe.address,
        ok=True,
        latency_ms=latency_ms,
        severity=probe.severity,
        latency_warning_ms=probe.latency_warning_ms,
    )


def _describe(exc: Any) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return f"name resolution failed: {exc.strerror or exc}"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def run_probes(config: HealthConfig) -> tuple[ProbeResult, ...]:
    """Run every configured probe concurrently; results in config order (HTTP first, then TCP)."""
    jobs: list[Any] = [(probe_http, p) for p in config.http_probes] + [
        (probe_tcp, p) for p in config.tcp_probes
    ]
    if not jobs:
        return ()
    with ThreadPoolExecutor(max_workers=min(16, len(jobs)), thread_name_prefix="wk-probe") as pool:
        futures = [pool.submit(fn, p) for fn, p in jobs]
        return tuple(f.result() for f in futures)


# -- the sample ----------------------------------------------------------------------------------
def sample_health(config: HealthConfig, *, interval_s: float | None = None, nvml: Any = None) -> HealthReport:
    """Sample this host over `interval_s` (default `config.interval_s`) and run the probes meanwhile.

    `nvml` is the NVML module to use (default: ``import pynvml`` when `config.gpu` is on); tests pass
    a double. Never raises for a missing GPU, an unsupported metric or a probe that is down: those
    are figures and findings of the report.
    """
    interval = config.interval_s if interval_s is None else float(interval_s)
    if interval <= 0:
        raise ValueError(f"interval_s must be positive, got {interval}")
    gpus = _GpuSampler(nvml, config.gpu)
    before = _read_counters()
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wk-probes")
    try:
        probes_future = pool.submit(run_probes, config)
        time.sleep(interval)
        after = _read_counters()
        memory = _memory()
        disks = _disks(config.disk_paths)
        load = _load_average()
        gpu = gpus.finish()
        probes = probes_future.result()
    finally:
        pool.shutdown(wait=True)
    per_core = tuple(cpu_percent_between(b, a) for b, a in zip(before.per_core, after.per_core, strict=False))
    cpu = CpuSample(
        percent=cpu_percent_between(before.cpu, after.cpu),
        per_core=per_core,
        count=len(per_core) or (psutil.cpu_count() or 0),
        load_1m=load[0],
        load_5m=load[1],
        load_15m=load[2],
    )
    disk_io, net = _rates(before, after)
    return HealthReport(
        host=socket.gethostname(),
        sampled_at=datetime.now(UTC),
        interval_s=interval,
        cpu=cpu,
        memory=memory,
        disks=disks,
        disk_io=disk_io,
        net=net,
        gpu=gpu,
        probes=probes,
        thresholds=config.thresholds,
        expected_gpus=config.expected_gpus,
    )


# -- Pushgateway ---------------------------------------------------------------------------------
METRIC_PREFIX = "watchkeeper_health_"


def prometheus_samples(report: HealthReport) -> list[tuple[str, dict[str, str], float]]:
    """The report's figures as (metric name, labels, value), indexes and names turned into labels.

    ``cpu.3.percent`` → ``cpu_core_percent{core="3"}``, ``gpu.0.util_pct`` →
    ``gpu_util_pct{gpu="0"}``, ``probe.api.ok`` → ``probe_ok{probe="api"}``, ``disk.percent`` →
    ``disk_percent``; all prefixed with ``watchkeeper_health_``. One metric name has one label set.
    """
    out: list[tuple[str, dict[str, str], float]] = []
    for key, value in report.figures().items():
        parts = key.split(".")
        labels: dict[str, str] = {}
        if parts[0] == "cpu" and len(parts) == 3 and parts[1].isdigit():
            name, labels = f"cpu_core_{parts[2]}", {"core": parts[1]}
        elif parts[0] == "gpu" and len(parts) == 3 and parts[1].isdigit():
            name, labels = f"gpu_{parts[2]}", {"gpu": parts[1]}
        elif parts[0] == "probe" and len(parts) == 3:
            name, labels = f"probe_{parts[2]}", {"probe": parts[1]}
        else:
            name = "_".join(parts)
        out.append((METRIC_PREFIX + re.sub(r"[^A-Za-z0-9_]", "_", name), labels, value))
    return out


def push_to_gateway(
    report: HealthReport, *, url: str, job: str, instance: str | None = None, timeout_s: float = 2.0
) -> bool:
    """Push the report to a Prometheus Pushgateway; best effort, never raises.

    Uses a dedicated registry (nothing else of the process leaks into the push), replaces the group
    ``job/instance`` (HTTP PUT: a metric that disappeared, such as a removed probe, disappears there
    too), and sets ``watchkeeper_health_last_success_timestamp_seconds`` so dashboards can alert on a
    stale push. Credentials in the URL (``https://user:pass@host``) are sent as basic auth. Returns
    True when the gateway accepted the push, False (with a warning logged) otherwise.
    """
    instance = instance or report.host
    try:
        from prometheus_client import CollectorRegistry, Gauge
        from prometheus_client import push_to_gateway as prometheus_push
        from prometheus_client.exposition import basic_auth_handler, default_handler

        registry = CollectorRegistry()
        gauges: dict[str, Gauge] = {}
        for name, labels, value in prometheus_samples(report):
            gauge = gauges.get(name)
            if gauge is None:
                gauge = gauges[name] = Gauge(
                    name, f"Watchkeeper health figure {name}", list(labels), registry=registry
                )
            (gauge.labels(**labels) if labels else gauge).set(value)
        verdict = Gauge(
            METRIC_PREFIX + "verdict_level", "Worst finding: 0 ok, 1 warning, 2 critical", registry=registry
        )
        verdict.set(float(max((f.severity for f in report.findings()), default=Severity.OK)))
        last = Gauge(
            METRIC_PREFIX + "last_success_timestamp_seconds",
            "Unix time of the last health sample pushed successfully",
            registry=registry,
        )
        last.set(report.sampled_at.timestamp())

        gateway, username, password = _split_credentials(url)

        def handler(url: str, method: str, timeout: float | None, headers: Any, data: bytes) -> Any:
            if username is not None:
                return basic_auth_handler(url, method, timeout, headers, data, username, password)
            return default_handler(url, method, timeout, headers, data)

        prometheus_push(
            gateway,
            job=job,
            registry=registry,
            grouping_key={"instance": instance},
            timeout=timeout_s,
            handler=handler,
        )
    except Exception as exc:  # best effort by contract: monitoring must not fail on its dashboard
        logger.warning("push to Pushgateway %s failed: %s", redact(url), redact(str(exc)))
        return False
    logger.info("pushed health sample to Pushgateway %s (job=%s, instance=%s)", redact(url), job, instance)
    return True


def _split_credentials(url: str) -> tuple[str, str | None, str | None]:
    from urllib.parse import unquote, urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.username is None:
        return url, None, None
    netloc = parts.hostname or ""
    if ":" in netloc:  # IPv6 literal
        netloc = f"[{netloc}]"
    if parts.port is not None:
        netloc = f"{netloc}:{parts.port}"
    clean = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return clean, unquote(parts.username), unquote(parts.password or "")
