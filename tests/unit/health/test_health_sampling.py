"""Real psutil sampling, the CPU arithmetic, figures, findings and the report's shape."""

from __future__ import annotations

import json
import math
from collections import namedtuple
from dataclasses import replace
from datetime import UTC, datetime

import psutil
import pytest
from hypothesis import given
from hypothesis import strategies as st

from watchkeeper.health import (
    CpuSample,
    DiskSample,
    GpuStatus,
    HealthConfig,
    HealthReport,
    HealthThresholds,
    MemorySample,
    cpu_percent_between,
    sample_health,
)
from watchkeeper.verdict import SectionReport, Severity

# psutil's Linux cpu_times fields; guest time is already counted inside user/nice.
Times = namedtuple("Times", "user nice system idle iowait irq softirq steal guest guest_nice")


def test_real_sample_has_sane_figures() -> None:
    report = sample_health(HealthConfig(gpu=False), interval_s=0.2)
    f = report.figures()
    assert isinstance(report, SectionReport)
    assert 0 <= f["cpu.percent"] <= 100
    assert f["cpu.count"] == psutil.cpu_count() == len(report.cpu.per_core)
    assert all(0 <= f[f"cpu.{i}.percent"] <= 100 for i in range(int(f["cpu.count"])))
    assert f["cpu.max_core_percent"] == max(f[f"cpu.{i}.percent"] for i in range(int(f["cpu.count"])))
    assert 0 < f["memory.percent"] < 100
    assert f["memory.total_mb"] == pytest.approx(psutil.virtual_memory().total / 2**20, rel=1e-6)
    assert 0 <= f["swap.percent"] <= 100
    assert f["disk.percent"] == pytest.approx(psutil.disk_usage("/").percent, abs=1.0)
    assert f["cpu.load_1m"] >= 0
    for key in ("disk.read_mb_s", "disk.write_mb_s", "net.sent_mb_s", "net.recv_mb_s"):
        if key in f:  # counters can be absent in containers
            assert f[key] >= 0
    assert "gpu.count" not in f  # GPU sampling off
    assert all(math.isfinite(v) for v in f.values())
    assert report.interval_s == 0.2
    assert report.sampled_at.tzinfo is UTC
    text = json.dumps(report.to_dict(), allow_nan=False)
    assert json.loads(text)["figures"] == f


def test_cpu_percent_exact() -> None:
    before = Times(100, 0, 50, 800, 50, 0, 0, 0, 0, 0)
    # +30 user (10 of it guest), +10 system, +50 idle, +10 iowait: busy 40 of 100 (guest not twice).
    after = Times(130, 0, 60, 850, 60, 0, 0, 0, 10, 0)
    assert cpu_percent_between(before, after) == pytest.approx(40.0)
    assert cpu_percent_between(before, before) == 0.0  # no time passed: not a division by zero


@given(
    st.lists(st.integers(0, 10_000), min_size=10, max_size=10),
    st.lists(st.integers(0, 10_000), min_size=10, max_size=10),
)
def test_cpu_percent_in_range(a, b) -> None:
    # Counters may even go backwards (a CPU taken offline): the result still stays in [0, 100].
    assert 0.0 <= cpu_percent_between(Times(*a), Times(*b)) <= 100.0


def _report(**changes) -> HealthReport:
    base = HealthReport(
        host="serve-1",
        sampled_at=datetime(2026, 11, 27, 3, 0, tzinfo=UTC),
        interval_s=1.0,
        cpu=CpuSample(percent=20.0, per_core=(10.0, 30.0), count=2, load_1m=0.5, load_5m=0.4, load_15m=0.3),
        memory=MemorySample(
            total_mb=1000,
            used_mb=500,
            available_mb=500,
            percent=50.0,
            swap_total_mb=100,
            swap_used_mb=0,
            swap_percent=0.0,
        ),
        disks=(DiskSample("/", 100.0, 50.0, 50.0, 50.0), DiskSample("/data", 100.0, 70.0, 30.0, 70.0)),
        disk_io=None,
        net=None,
        gpu=GpuStatus("no GPU", "NVML Shared Library Not Found"),
    )
    return replace(base, **changes)


def _mem(percent: float) -> MemorySample:
    return MemorySample(1000, percent * 10, 1000 - percent * 10, percent, 100, 0, 0.0)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, []),  # a healthy host has no findings
        ({"memory": _mem(91.0)}, [(Severity.WARNING, "serve-1: memory 91.0% used (warning at 90%)")]),
        ({"memory": _mem(98.5)}, [(Severity.CRITICAL, "serve-1: memory 98.5% used (critical at 98%)")]),
        (
            {"disks": (DiskSample("/data", 100.0, 92.5, 7.5, 92.5),)},
            [(Severity.WARNING, "serve-1: disk /data 92.5% full, 7.5 GiB free")],
        ),
        (
            {"disks": (DiskSample("/", 100.0, 98.0, 2.0, 98.0),)},
            [(Severity.CRITICAL, "serve-1: disk / 98.0% full, 2.0 GiB free")],
        ),
        (
            {"memory": MemorySample(1000, 500, 500, 50.0, 100, 85, 85.0)},
            [(Severity.WARNING, "serve-1: swap 85.0% used (warning at 80%)")],
        ),
        (
            {"cpu": CpuSample(100.0, (100.0, 100.0), 2, 5.0, 3.0, 1.0)},
            [
                (
                    Severity.WARNING,
                    "serve-1: load average 5.0 on 2 cores (2.5 per core): requests are waiting for a CPU",
                )
            ],
        ),
    ],
)
def test_findings(changes, expected) -> None:
    report = _report(**changes)
    assert [(f.severity, f.message) for f in report.findings()] == expected
    assert all(f.check == "health" for f in report.findings())


def test_thresholds_configurable_and_disableable() -> None:
    report = _report(
        memory=_mem(91.0), thresholds=HealthThresholds(memory_warning_pct=None, cpu_warning_pct=15.0)
    )
    assert [f.message for f in report.findings()] == ["serve-1: CPU 20.0% busy over 1s"]


def test_figures_exact_for_fixed_report() -> None:
    f = _report().figures()
    assert f == {
        "cpu.percent": 20.0,
        "cpu.count": 2.0,
        "cpu.load_1m": 0.5,
        "cpu.load_5m": 0.4,
        "cpu.load_15m": 0.3,
        "cpu.max_core_percent": 30.0,
        "cpu.0.percent": 10.0,
        "cpu.1.percent": 30.0,
        "memory.percent": 50.0,
        "memory.used_mb": 500.0,
        "memory.available_mb": 500.0,
        "memory.total_mb": 1000.0,
        "swap.percent": 0.0,
        "swap.used_mb": 0.0,
        "disk.percent": 70.0,  # the fullest of the configured paths
        "gpu.count": 0.0,
    }


def test_config_defaults_and_strictness() -> None:
    config = HealthConfig()
    assert (config.interval_s, config.gpu, config.disk_paths, config.pushgateway) == (1.0, True, ("/",), None)
    with pytest.raises(ValueError, match="extra"):
        HealthConfig(intervall_s=2)  # a typo is an error, not a silent default
    with pytest.raises(ValueError):
        HealthConfig(interval_s=0)


def test_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="interval_s must be positive"):
        sample_health(HealthConfig(gpu=False), interval_s=0)
