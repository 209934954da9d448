"""CPU, memory, disk and network of this host, read with psutil.

Rates (CPU busy time, disk and network throughput) need two readings: `HostSampler` takes the first
when it is created and the second in `finish`, so the caller decides how long the interval is and
what else runs during it (the GPU readings and the probes, see `watchkeeper.health.sampling`).
Counters a container does not expose are left out, never guessed.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import psutil

# One logger name for the whole package (as `watchkeeper.alerting` does): a log line names the
# subsystem, and filters on "watchkeeper.health" keep working whichever module logged.
logger = logging.getLogger("watchkeeper.health")

_MIB = 1024 * 1024
_GIB = 1024 * _MIB


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
class HostSample:
    """Everything psutil gave over one interval."""

    cpu: CpuSample
    memory: MemorySample
    disks: tuple[DiskSample, ...]
    disk_io: DiskIoSample | None
    net: NetIoSample | None


class HostSampler:
    """Reads the counters now; `finish` reads them again and turns the difference into rates."""

    def __init__(self) -> None:
        self._before = _read_counters()

    def finish(self, disk_paths: tuple[str, ...]) -> HostSample:
        before = self._before
        after = _read_counters()
        memory = _memory()
        disks = _disks(disk_paths)
        load = _load_average()
        per_core = tuple(
            cpu_percent_between(b, a) for b, a in zip(before.per_core, after.per_core, strict=False)
        )
        cpu = CpuSample(
            percent=cpu_percent_between(before.cpu, after.cpu),
            per_core=per_core,
            count=len(per_core) or (psutil.cpu_count() or 0),
            load_1m=load[0],
            load_5m=load[1],
            load_15m=load[2],
        )
        disk_io, net = _rates(before, after)
        return HostSample(cpu, memory, disks, disk_io, net)


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
