"""The monitor job's own footprint: wall time, CPU time and peak memory of each step.

    footprint = StepFootprint()
    with footprint.measure("load"):
        frame = load_inference_logs(...)
    with footprint.measure("drift"):
        report = detect_drift(...)
    section = footprint.report()   # FootprintReport: figures load.wall_s, load.cpu_s, load.peak_rss_mb …

How each number is taken, and why:

- **wall_s**: `time.perf_counter` around the block.
- **cpu_s**: `time.process_time` around the block: user + system time of the whole process, all
  threads (numpy/BLAS and pyarrow threads included, so cpu_s > wall_s means parallel work). Steps
  running concurrently in threads each see the others' CPU time too.
- **peak_rss_mb**: the highest resident set size of the process while the block ran (MiB). tracemalloc
  is not used: it slows allocation-heavy numpy/pandas work several-fold and misses memory that C
  libraries allocate outside Python's allocator (Arrow buffers). Two methods, chosen once per process:

  * ``hwm`` (Linux): the kernel's own high-water mark (``VmHWM`` in ``/proc/self/status``), reset at
    the start of each step by writing ``5`` to ``/proc/self/clear_refs``. Exact and free of overhead.
    Nested and concurrent steps stay exact: before each reset the current mark is folded into every
    step still open. Side effect: anything else in the process that reads VmHWM sees it reset.
  * ``sampled`` (elsewhere, or where clear_refs is not writable): ``getrusage`` ``ru_maxrss`` is the
    lifetime peak, so when it rose during the step it *is* the step's peak (exact); when it did not,
    a background thread's RSS samples every 10 ms give a lower bound (a spike shorter than that can
    be missed).

Repeated steps with the same name (one per window, say) accumulate: times add up, the peak is the
highest, and ``calls`` counts them.
"""

from __future__ import annotations

import itertools
import re
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import psutil

from watchkeeper.verdict import NOTHING_TO_PUBLISH, Finding, Publication

SECTION = "footprint"
_MIB = 1024 * 1024
_STEP_NAME = re.compile(r"^[A-Za-z0-9_-]+$")  # figures are dotted: a dot in a step name would split it
_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")
_SAMPLE_PERIOD_S = 0.01

PeakMethod = Literal["hwm", "sampled"]


def _read_status_kib(field: str) -> int | None:
    try:
        text = _STATUS.read_text()
    except OSError:
        return None
    match = re.search(rf"^{field}:\s+(\d+)\s+kB", text, re.M)
    return int(match.group(1)) if match else None


def _reset_hwm() -> bool:
    try:
        with _CLEAR_REFS.open("w") as fh:
            fh.write("5")
    except OSError:
        return False
    return True


def _ru_maxrss_bytes() -> int | None:
    try:
        import resource
    except ImportError:  # Windows
        return None
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(maxrss) if sys.platform == "darwin" else int(maxrss) * 1024  # bytes on macOS, KiB else


def _current_rss() -> int:
    return int(psutil.Process().memory_info().rss)


def _detect_method() -> PeakMethod:
    if sys.platform.startswith("linux") and _read_status_kib("VmHWM") is not None and _reset_hwm():
        return "hwm"
    return "sampled"


class _PeakTracker:
    """Keeps the running peak of every open step; one per process (the memory is the process's)."""

    def __init__(self, method: PeakMethod | None = None) -> None:
        self._method = method
        self._lock = threading.Lock()
        self._open: dict[int, list[int]] = {}  # step id -> [peak bytes, ru_maxrss at start]
        self._ids = itertools.count()
        self._sampler: threading.Thread | None = None
        self._wake = threading.Event()
        self._process = psutil.Process()

    @property
    def method(self) -> PeakMethod:
        if self._method is None:
            self._method = _detect_method()
        return self._method

    def _fold(self, value: int) -> None:
        for state in self._open.values():
            if value > state[0]:
                state[0] = value

    def _fold_hwm(self) -> None:
        hwm = _read_status_kib("VmHWM")
        if hwm is not None:
            self._fold(hwm * 1024)

    def start(self) -> tuple[int, int]:
        """Open a step; returns its id and the RSS at its start (bytes)."""
        with self._lock:
            if self.method == "hwm":
                # The mark so far belongs to the steps already open; then restart it from now.
                self._fold_hwm()
                _reset_hwm()
            rss = _current_rss()
            step = next(self._ids)
            self._open[step] = [rss, _ru_maxrss_bytes() or 0]
            if self.method == "sampled":
                self._ensure_sampler()
        return step, rss

    def stop(self, step: int) -> tuple[int, int]:
        """Close a step; returns its peak and the RSS at its end (bytes)."""
        with self._lock:
            rss = _current_rss()
            self._fold(rss)
            if self.method == "hwm":
                self._fold_hwm()
            else:
                maxrss = _ru_maxrss_bytes()
                start_max = self._open[step][1]
                if maxrss is not None and maxrss > start_max:
                    # The lifetime peak rose while this step ran, so the step reached it.
                    self._open[step][0] = max(self._open[step][0], maxrss)
            peak = self._open.pop(step)[0]
            if not self._open:
                self._wake.set()
        return peak, rss

    def _ensure_sampler(self) -> None:
        if self._sampler is not None and self._sampler.is_alive():
            return
        self._wake.clear()
        self._sampler = threading.Thread(target=self._sample_loop, name="wk-footprint", daemon=True)
        self._sampler.start()

    def _sample_loop(self) -> None:
        while not self._wake.wait(_SAMPLE_PERIOD_S):
            try:
                rss = int(self._process.memory_info().rss)
            except psutil.Error:
                return
            with self._lock:
                if not self._open:
                    return
                self._fold(rss)


_tracker = _PeakTracker()


def peak_method() -> PeakMethod:
    """How peaks are measured in this process: ``hwm`` (kernel high-water mark) or ``sampled``."""
    return _tracker.method


@dataclass(frozen=True)
class StepMeasurement:
    """One step's footprint (or several calls of the same step, accumulated)."""

    name: str
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    start_rss_mb: float
    end_rss_mb: float
    calls: int = 1

    def merge(self, other: StepMeasurement) -> StepMeasurement:
        return replace(
            self,
            wall_s=self.wall_s + other.wall_s,
            cpu_s=self.cpu_s + other.cpu_s,
            peak_rss_mb=max(self.peak_rss_mb, other.peak_rss_mb),
            end_rss_mb=other.end_rss_mb,
            calls=self.calls + other.calls,
        )


@dataclass(frozen=True)
class FootprintReport:
    """The ``footprint`` section: per step ``<step>.wall_s``, ``<step>.cpu_s``, ``<step>.peak_rss_mb``."""

    steps: tuple[StepMeasurement, ...]
    method: PeakMethod

    def figures(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for s in self.steps:
            out[f"{s.name}.wall_s"] = round(s.wall_s, 6)
            out[f"{s.name}.cpu_s"] = round(s.cpu_s, 6)
            out[f"{s.name}.peak_rss_mb"] = round(s.peak_rss_mb, 3)
        return out

    def findings(self) -> list[Finding]:
        # The job's own cost is information for capacity planning, not a verdict on the model.
        return []

    def publish(self) -> Publication:
        return NOTHING_TO_PUBLISH

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "steps": [
                {
                    "name": s.name,
                    "wall_s": round(s.wall_s, 6),
                    "cpu_s": round(s.cpu_s, 6),
                    "peak_rss_mb": round(s.peak_rss_mb, 3),
                    "start_rss_mb": round(s.start_rss_mb, 3),
                    "end_rss_mb": round(s.end_rss_mb, 3),
                    "calls": s.calls,
                }
                for s in self.steps
            ],
        }

    def step(self, name: str) -> StepMeasurement:
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(f"no step {name!r}; measured: {[s.name for s in self.steps]}")


class StepHandle:
    """What `measure_step` yields: `result` is filled in when the block exits (even on error)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.result: StepMeasurement | None = None


def _check_name(name: str) -> None:
    if not _STEP_NAME.match(name):
        raise ValueError(f"step name {name!r} must be letters, digits, '_' or '-' (it names figures)")


@contextmanager
def measure_step(name: str, recorder: StepFootprint | None = None) -> Iterator[StepHandle]:
    """Measure the block as step `name`; adds the result to `recorder` when given.

    The measurement is recorded even when the block raises (a failed step still cost something).
    """
    _check_name(name)
    handle = StepHandle(name)
    step, start_rss = _tracker.start()
    wall0 = time.perf_counter()
    cpu0 = time.process_time()
    try:
        yield handle
    finally:
        wall = time.perf_counter() - wall0
        cpu = time.process_time() - cpu0
        peak, end_rss = _tracker.stop(step)
        handle.result = StepMeasurement(
            name=name,
            wall_s=wall,
            cpu_s=cpu,
            peak_rss_mb=peak / _MIB,
            start_rss_mb=start_rss / _MIB,
            end_rss_mb=end_rss / _MIB,
        )
        if recorder is not None:
            recorder.add(handle.result)


class StepFootprint:
    """Collects the steps of one run, in the order they first finished; thread-safe."""

    def __init__(self) -> None:
        self._steps: dict[str, StepMeasurement] = {}
        self._lock = threading.Lock()

    def measure(self, name: str) -> Any:
        """Context manager measuring the block as step `name` into this recorder."""
        return measure_step(name, self)

    def add(self, measurement: StepMeasurement) -> None:
        with self._lock:
            previous = self._steps.get(measurement.name)
            self._steps[measurement.name] = measurement if previous is None else previous.merge(measurement)

    def report(self) -> FootprintReport:
        with self._lock:
            return FootprintReport(tuple(self._steps.values()), _tracker.method)
