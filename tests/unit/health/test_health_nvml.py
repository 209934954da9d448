"""NVML sampling against a stand-in ``pynvml`` (no GPU here) and the real binding's no-GPU path."""

from __future__ import annotations

import ctypes.util
import json

import pynvml
import pytest

from watchkeeper.health import HealthConfig, HealthThresholds, sample_health
from watchkeeper.verdict import Severity

MIB = 1024 * 1024

# Three GPUs: a full-featured one, one without a temperature sensor or ECC (NotSupported), and one
# that raises a real error on power and refuses XID registration.
THREE_GPUS = [
    {
        "name": b"NVIDIA H100 80GB HBM3",
        "uuid": "GPU-0000",
        "util": (35, 12),
        "memory": (10240 * MIB, 81920 * MIB),
        "temperature": 61,
        "power_mw": 250_000,
        "power_limit_mw": 700_000,
        "ecc_corrected": 3,
        "ecc_uncorrected": 0,
    },
    {
        "name": "NVIDIA A10G",
        "uuid": "GPU-0001",
        "util": (90, 40),
        "memory": (40960 * MIB, 81920 * MIB),
        "power_mw": 300_000,
        "power_limit_mw": 300_000,
        # temperature, ecc_*: absent, so NotSupported
    },
    {
        "name": "NVIDIA T4",
        "uuid": "GPU-0002",
        "util": (5, 1),
        "memory": (512 * MIB, 16384 * MIB),
        "temperature": 40,
        "power_mw": pynvml.NVMLError(pynvml.NVML_ERROR_NO_PERMISSION),
        "power_limit_mw": 70_000,
        "ecc_corrected": 0,
        "ecc_uncorrected": 0,
        "register": pynvml.NVMLError(pynvml.NVML_ERROR_NO_PERMISSION),
    },
]


def _sample(nvml, **config):
    return sample_health(HealthConfig(**config), interval_s=0.05, nvml=nvml)


def test_several_gpus_figures_and_skipped_metrics(make_fake_nvml) -> None:
    nvml = make_fake_nvml(THREE_GPUS)
    report = _sample(nvml)
    f = report.figures()
    assert report.gpu.state == "ok"
    assert report.gpu.driver_version == "550.54.15"
    assert f["gpu.count"] == 3
    # Maxima over the GPUs that report the metric: GPU 1 has no temperature sensor.
    assert f["gpu.max_util_pct"] == 90
    assert f["gpu.max_memory_pct"] == 50
    assert f["gpu.max_temperature_c"] == 61
    assert f["gpu.0.util_pct"] == 35
    assert f["gpu.0.memory_util_pct"] == 12
    assert f["gpu.0.memory_used_mb"] == 10240
    assert f["gpu.0.memory_total_mb"] == 81920
    assert f["gpu.0.memory_pct"] == 12.5
    assert f["gpu.0.power_w"] == 250
    assert f["gpu.0.power_limit_w"] == 700
    assert f["gpu.0.ecc_corrected"] == 3
    assert f["gpu.0.ecc_uncorrected"] == 0
    assert f["gpu.0.xid_events"] == 0
    # NotSupported metrics are absent, not NaN and not zero.
    assert "gpu.1.temperature_c" not in f
    assert "gpu.1.ecc_corrected" not in f
    assert report.gpu.devices[1].unsupported == ("temperature", "ecc_corrected", "ecc_uncorrected")
    assert report.gpu.devices[1].errors == ()
    # A real error on one metric skips that metric and is reported; XID not observable there.
    assert "gpu.2.power_w" not in f
    assert "gpu.2.xid_events" not in f
    assert f["gpu.2.power_limit_w"] == 70
    assert [e.split(":")[0] for e in report.gpu.devices[2].errors] == ["power", "xid_events"]
    assert report.gpu.devices[0].name == "NVIDIA H100 80GB HBM3"  # bytes from old drivers decoded
    assert nvml.calls["init"] == 1 and nvml.calls["shutdown"] == 1
    json.dumps(report.to_dict(), allow_nan=False)


def test_gpu_findings(make_fake_nvml) -> None:
    report = _sample(make_fake_nvml(THREE_GPUS))
    messages = [(f.severity, f.message) for f in report.findings()]
    # Only GPU 2's errors are findings: NotSupported on GPU 1 is not a problem.
    gpu_findings = [m for m in messages if "GPU" in m[1]]
    assert len(gpu_findings) == 1
    severity, message = gpu_findings[0]
    assert severity is Severity.WARNING
    assert "GPU 2 (NVIDIA T4): NVML errors reading power" in message


def test_hot_gpu_ecc_and_xid_findings(make_fake_nvml) -> None:
    hot = dict(THREE_GPUS[0], temperature=88, memory=(80000 * MIB, 81920 * MIB), ecc_uncorrected=2)
    cool = dict(THREE_GPUS[0], uuid="GPU-0001", temperature=96)
    nvml = make_fake_nvml([hot, cool], xids=[(0, 13), (1, 79), (0, 31)])
    report = _sample(nvml)
    f = report.figures()
    assert f["gpu.0.xid_events"] == 2
    assert f["gpu.1.xid_events"] == 1
    assert report.gpu.devices[0].xids == (13, 31)
    by_text = {f.message.split(": ", 1)[1]: f.severity for f in report.findings()}
    name = "NVIDIA H100 80GB HBM3"
    assert by_text[f"GPU 0 ({name}) memory 97.7% used"] is Severity.WARNING
    assert by_text[f"GPU 0 ({name}) at 88 °C (warning at 85)"] is Severity.WARNING
    assert by_text[f"GPU 1 ({name}) at 96 °C (critical at 95)"] is Severity.CRITICAL
    assert (
        by_text[f"GPU 0 ({name}) has 2 uncorrected ECC error(s) since the driver loaded"] is Severity.CRITICAL
    )
    # XID 13 / 31 are application errors (warning); 79 is "fallen off the bus" (critical).
    assert by_text[f"GPU 0 ({name}) raised XID event(s) [13, 31] during the sample"] is Severity.WARNING
    assert by_text[f"GPU 1 ({name}) raised XID event(s) [79] during the sample"] is Severity.CRITICAL


def test_thresholds_are_configurable(make_fake_nvml) -> None:
    hot = dict(THREE_GPUS[0], temperature=88)
    thresholds = HealthThresholds(gpu_temperature_warning_c=None, gpu_temperature_critical_c=None)
    report = _sample(make_fake_nvml([hot]), thresholds=thresholds)
    assert not [f for f in report.findings() if "°C" in f.message]


@pytest.mark.parametrize(
    "code",
    [
        pynvml.NVML_ERROR_LIBRARY_NOT_FOUND,  # no driver installed at all (CPU hosts)
        pynvml.NVML_ERROR_DRIVER_NOT_LOADED,  # driver package present, kernel module not loaded
    ],
)
def test_no_gpu_carries_on(make_fake_nvml, code: int) -> None:
    report = _sample(make_fake_nvml([], init_error=code))
    assert report.gpu.state == "no GPU"
    assert report.figures()["gpu.count"] == 0
    assert "gpu.max_util_pct" not in report.figures()
    assert not [f for f in report.findings() if "GPU" in f.message]
    assert report.figures()["memory.percent"] > 0  # the rest of the sample is there


def test_missing_gpu_is_critical_when_expected(make_fake_nvml) -> None:
    report = _sample(make_fake_nvml([], init_error=pynvml.NVML_ERROR_DRIVER_NOT_LOADED), expected_gpus=1)
    [finding] = [f for f in report.findings() if "GPU" in f.message]
    assert finding.severity is Severity.CRITICAL
    assert finding.message.endswith("expected 1 GPU(s), NVML shows 0 (Driver Not Loaded)")


def test_other_init_error_is_a_warning(make_fake_nvml) -> None:
    # A driver/library version mismatch on a GPU host is a real problem, unlike "no GPU".
    report = _sample(make_fake_nvml([], init_error=pynvml.NVML_ERROR_LIB_RM_VERSION_MISMATCH))
    assert report.gpu.state == "error"
    [finding] = [f for f in report.findings() if "GPU" in f.message]
    assert finding.severity is Severity.WARNING
    assert "GPU metrics unavailable: nvmlInit:" in finding.message


def test_gpu_disabled_reports_no_gpu_figures(make_fake_nvml) -> None:
    nvml = make_fake_nvml(THREE_GPUS)
    report = _sample(nvml, gpu=False)
    assert report.gpu.state == "disabled"
    assert not [k for k in report.figures() if k.startswith("gpu.")]
    assert nvml.calls["init"] == 0


@pytest.mark.skipif(ctypes.util.find_library("nvidia-ml") is not None, reason="this host has NVML")
def test_real_binding_without_gpu_reports_no_gpu() -> None:
    # The real nvidia-ml-py on a host without libnvidia-ml: NVMLError_LibraryNotFound → "no GPU".
    report = sample_health(HealthConfig(), interval_s=0.05)
    assert report.gpu.state == "no GPU"
    assert report.gpu.detail == "NVML Shared Library Not Found"
    assert report.figures()["gpu.count"] == 0
