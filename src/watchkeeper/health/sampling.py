"""`sample_health`: one health sample of this host, its GPUs and its probes over one interval.

Rates need two readings, so the host and GPU samplers start before the interval and finish after
it; the network probes run in threads during the same interval, so a run takes about
``max(interval, slowest probe timeout)``.
"""

from __future__ import annotations

import socket
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from watchkeeper.health.config import HealthConfig
from watchkeeper.health.gpu import GpuSampler
from watchkeeper.health.host import HostSampler
from watchkeeper.health.probes import run_probes
from watchkeeper.health.report import HealthReport
from watchkeeper.timeutil import utcnow


def sample_health(config: HealthConfig, *, interval_s: float | None = None, nvml: Any = None) -> HealthReport:
    """Sample this host over `interval_s` (default `config.interval_s`) and run the probes meanwhile.

    `nvml` is the NVML module to use (default: ``import pynvml`` when `config.gpu` is on); tests pass
    a double. Never raises for a missing GPU, an unsupported metric or a probe that is down: those
    are figures and findings of the report.
    """
    interval = config.interval_s if interval_s is None else float(interval_s)
    if interval <= 0:
        raise ValueError(f"interval_s must be positive, got {interval}")
    gpus = GpuSampler(nvml, config.gpu)
    host = HostSampler()
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wk-probes")
    try:
        probes_future = pool.submit(run_probes, config)
        time.sleep(interval)
        readings = host.finish(config.disk_paths)
        gpu = gpus.finish()
        probes = probes_future.result()
    finally:
        pool.shutdown(wait=True)
    return HealthReport(
        host=socket.gethostname(),
        sampled_at=utcnow(),
        interval_s=interval,
        cpu=readings.cpu,
        memory=readings.memory,
        disks=readings.disks,
        disk_io=readings.disk_io,
        net=readings.net,
        gpu=gpu,
        probes=probes,
        thresholds=config.thresholds,
        expected_gpus=config.expected_gpus,
    )
