"""The ``health:`` section of a model config: what to sample, what to probe, where to push, when to warn.

Plain frozen models (checked when the model config loads, so a bad probe address fails there, not
in the middle of a run); the samplers, probes and push in the sibling modules only read them.
"""

from __future__ import annotations

import os
import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from watchkeeper.configbase import StrictModel

_PROBE_NAME = r"^[a-z0-9][a-z0-9_-]*$"  # figure names are dotted: no dots in probe names


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
