"""`HealthReport`: one health sample of one host, the ``health`` section of a monitoring report.

It is a `SectionReport`: its figures follow the project's names (``cpu.percent``,
``memory.percent``, ``gpu.max_util_pct``, ``probe.<name>.ok`` …) and leave out what was not
measured, and its findings apply `HealthThresholds`. The readings it holds come from `host`, `gpu`
and `probes`; `sampling.sample_health` takes them and builds the report.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from watchkeeper.health.config import HealthThresholds
from watchkeeper.health.gpu import GpuSample, GpuStatus
from watchkeeper.health.host import CpuSample, DiskIoSample, DiskSample, MemorySample, NetIoSample
from watchkeeper.health.probes import ProbeResult
from watchkeeper.verdict import Finding, Publication, Severity

SECTION = "health"


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
            out.append(Finding(SECTION, severity, f"{self.host}: {message}", rule="host_health"))

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

    def to_markdown(self) -> str:
        """The sample's findings and figures, for the health run's page in the Prefect UI."""
        rows = "\n".join(f"| `{k}` | {v:.4g} |" for k, v in sorted(self.figures().items()))
        findings = "\n".join(f"- [{f.severity.label}] {f.message}" for f in self.findings()) or "- all clear"
        return f"# Health of {self.host}\n\n{findings}\n\n| figure | value |\n|---|---|\n{rows}\n"

    def publish(self) -> Publication:
        return Publication(markdown={"system-health": self.to_markdown()})

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
