"""Per-step footprint: wall and CPU time, and peak RSS with both peak methods."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import numpy as np
import pytest

from watchkeeper import footprint as fp
from watchkeeper.footprint import FootprintReport, StepFootprint, StepMeasurement, measure_step
from watchkeeper.verdict import SectionReport

MIB = 1024 * 1024


@pytest.fixture(params=["hwm", "sampled"])
def method(request, monkeypatch) -> Iterator[str]:
    if request.param == "hwm" and fp._detect_method() != "hwm":
        pytest.skip("kernel high-water mark reset not available here")
    monkeypatch.setattr(fp, "_tracker", fp._PeakTracker(request.param))
    yield request.param


def _hold(mib: int, seconds: float = 0.05) -> None:
    block = np.ones(mib * MIB // 8)  # ones, not empty: pages must be touched to count in RSS
    time.sleep(seconds)  # long enough for the sampler (10 ms) to see it
    del block


def test_peak_rss_sees_an_allocation_freed_inside_the_step(method: str) -> None:
    with measure_step("alloc") as handle:
        _hold(64)
    m = handle.result
    assert m is not None
    assert m.peak_rss_mb - m.start_rss_mb >= 60
    assert m.end_rss_mb - m.start_rss_mb < 32  # freed again before the step ended


def test_a_later_step_is_not_charged_an_earlier_peak(method: str) -> None:
    recorder = StepFootprint()
    with recorder.measure("big"):
        _hold(128)
    with recorder.measure("small"):
        _hold(16)
    report = recorder.report()
    big, small = report.step("big"), report.step("small")
    assert big.peak_rss_mb - big.start_rss_mb >= 120
    assert small.peak_rss_mb - small.start_rss_mb < 64
    assert report.method == method


def test_nested_steps_keep_their_own_peaks(method: str) -> None:
    recorder = StepFootprint()
    with recorder.measure("outer"):
        with recorder.measure("inner"):
            _hold(96)
        _hold(16)
    outer, inner = recorder.report().step("outer"), recorder.report().step("inner")
    # The inner step's reset of the high-water mark must not hide its peak from the outer step.
    assert outer.peak_rss_mb >= inner.peak_rss_mb
    assert inner.peak_rss_mb - inner.start_rss_mb >= 90


def test_wall_and_cpu_time() -> None:
    with measure_step("sleep") as sleeping:
        time.sleep(0.2)
    with measure_step("spin") as spinning:
        deadline = time.process_time() + 0.2
        while time.process_time() < deadline:
            pass
    s, c = sleeping.result, spinning.result
    assert s is not None and c is not None
    assert s.wall_s >= 0.2 and s.cpu_s < 0.1  # sleeping costs no CPU
    assert c.cpu_s >= 0.2 and c.wall_s >= c.cpu_s * 0.5


def test_repeated_steps_accumulate_and_failures_are_recorded() -> None:
    recorder = StepFootprint()
    for _ in range(2):
        with recorder.measure("window"):
            time.sleep(0.01)
    with pytest.raises(ZeroDivisionError), recorder.measure("broken"):
        1 / 0  # noqa: B018
    report = recorder.report()
    assert [s.name for s in report.steps] == ["window", "broken"]
    assert report.step("window").calls == 2
    assert report.step("window").wall_s >= 0.02
    assert report.step("broken").calls == 1


def test_merge_exact() -> None:
    a = StepMeasurement(
        "drift", wall_s=1.0, cpu_s=2.0, peak_rss_mb=300.0, start_rss_mb=100.0, end_rss_mb=110.0
    )
    b = StepMeasurement(
        "drift", wall_s=0.5, cpu_s=0.25, peak_rss_mb=200.0, start_rss_mb=110.0, end_rss_mb=120.0
    )
    assert a.merge(b) == StepMeasurement("drift", 1.5, 2.25, 300.0, 100.0, 120.0, calls=2)


def test_report_figures_and_shape() -> None:
    report = FootprintReport(
        steps=(
            StepMeasurement("load", 1.25, 2.5, 512.0, 100.0, 300.0),
            StepMeasurement("drift", 0.5, 0.75, 640.5, 300.0, 310.0, calls=3),
        ),
        method="hwm",
    )
    assert isinstance(report, SectionReport)
    assert report.figures() == {
        "load.wall_s": 1.25,
        "load.cpu_s": 2.5,
        "load.peak_rss_mb": 512.0,
        "drift.wall_s": 0.5,
        "drift.cpu_s": 0.75,
        "drift.peak_rss_mb": 640.5,
    }
    assert report.findings() == []
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert data["method"] == "hwm"
    assert data["steps"][1] == {
        "name": "drift",
        "wall_s": 0.5,
        "cpu_s": 0.75,
        "peak_rss_mb": 640.5,
        "start_rss_mb": 300.0,
        "end_rss_mb": 310.0,
        "calls": 3,
    }
    with pytest.raises(KeyError, match="measured: \\['load', 'drift'\\]"):
        report.step("validate")


@pytest.mark.parametrize("name", ["drift.engine", "", "two words"])
def test_step_names_must_be_figure_safe(name: str) -> None:
    with pytest.raises(ValueError, match="step name"), measure_step(name):
        pass
