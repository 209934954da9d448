"""Host health: CPU, memory, disk, network and GPU sampling, network probes, Pushgateway push.

`sample_health(config)` samples the host that serves the model over a short interval and returns
a frozen `HealthReport` (the ``health`` section); `push_to_gateway` sends its figures to a
Prometheus Pushgateway. The modules:

- `config`: the ``health:`` section of a model config (`HealthConfig` and its parts);
- `host`: CPU, memory, disk and network through psutil;
- `gpu`: NVIDIA GPUs through NVML ("no GPU" and unsupported metrics are not errors);
- `probes`: HTTP and TCP probes of the model's endpoint and dependencies;
- `report`: `HealthReport`, its figures and findings;
- `sampling`: `sample_health`, which runs the three above over one interval;
- `push`: the Pushgateway.

Dependencies stay light on purpose: psutil, pydantic and the stdlib at import time; ``pynvml`` and
``prometheus_client`` are imported only when used. `benchmarks/nvml_check.py` relies on this.
"""

from watchkeeper.health.config import (
    HealthConfig,
    HealthThresholds,
    HttpProbeConfig,
    PushgatewayConfig,
    TcpProbeConfig,
    split_address,
)
from watchkeeper.health.gpu import GpuSample, GpuStatus
from watchkeeper.health.host import (
    CpuSample,
    DiskIoSample,
    DiskSample,
    MemorySample,
    NetIoSample,
    cpu_percent_between,
)
from watchkeeper.health.probes import ProbeResult, probe_http, probe_tcp, run_probes
from watchkeeper.health.push import METRIC_PREFIX, prometheus_samples, push_to_gateway
from watchkeeper.health.report import SECTION, HealthReport
from watchkeeper.health.sampling import sample_health

__all__ = [
    "METRIC_PREFIX",
    "SECTION",
    "CpuSample",
    "DiskIoSample",
    "DiskSample",
    "GpuSample",
    "GpuStatus",
    "HealthConfig",
    "HealthReport",
    "HealthThresholds",
    "HttpProbeConfig",
    "MemorySample",
    "NetIoSample",
    "ProbeResult",
    "PushgatewayConfig",
    "TcpProbeConfig",
    "cpu_percent_between",
    "probe_http",
    "probe_tcp",
    "prometheus_samples",
    "push_to_gateway",
    "run_probes",
    "sample_health",
    "split_address",
]
