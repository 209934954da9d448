"""`execution:` in the model config: which engine evaluates a window, and the memory budget.

    execution:
      engine: local            # local (default) or dask
      memory_budget: 1GiB      # a window estimated above this is evaluated in bounded memory
      partition_rows: 1000000  # rows per partition (Parquet: whole row groups)
      workers: 2               # local engine: threads (default: CPU count)
      dask:
        address: tcp://scheduler:8786     # an existing cluster; or, without it, a LocalCluster:
        cluster_kwargs: {n_workers: 2, threads_per_worker: 1}

A window whose estimated size (rows × bytes per row of the columns read) fits the budget is read
whole and evaluated in memory: every figure exact. Above it, the window is cut into partitions whose
small states merge (`watchkeeper.partitioned`): counts stay exact, order statistics come from
sketches with a stated bound. `WATCHKEEPER_ENGINE`, `WATCHKEEPER_DASK_ADDRESS` and
`WATCHKEEPER_MEMORY_BUDGET` override the file (one deployment may run on a cluster, a laptop not),
applied by `resolve_execution` at the composition root.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, field_validator

from watchkeeper.configbase import StrictModel

_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "kib": 2**10, "mib": 2**20, "gib": 2**30}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


def parse_size(value: str | int | float) -> int:
    """Bytes from ``1GiB``, ``512MB``, ``2e9`` or a number."""
    if isinstance(value, int | float):
        return int(value)
    match = _SIZE.match(value)
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in _UNITS:
        raise ValueError(f"invalid size {value!r}; expected e.g. 1GiB, 512MB or a number of bytes")
    return int(float(match.group(1)) * _UNITS[unit])


class DaskConfig(StrictModel):
    address: str | None = None  # an existing scheduler; None: a LocalCluster from `cluster_kwargs`
    cluster_kwargs: dict[str, Any] = Field(default_factory=lambda: {"n_workers": 2, "threads_per_worker": 1})


class ExecutionConfig(StrictModel):
    engine: Literal["local", "dask"] = "local"
    memory_budget: int = 1 * 2**30
    partition_rows: int = Field(default=1_000_000, ge=1)
    workers: int | None = Field(default=None, ge=1)
    dask: DaskConfig = DaskConfig()

    @field_validator("memory_budget", mode="before")
    @classmethod
    def _size(cls, value: Any) -> int:
        return parse_size(value)


def resolve_execution(config: ExecutionConfig, environ: Mapping[str, str] | None = None) -> ExecutionConfig:
    """`config` with the environment's overrides applied (see the module docstring)."""
    env = os.environ if environ is None else environ
    update: dict[str, Any] = {}
    engine = env.get("WATCHKEEPER_ENGINE")
    if engine:
        if engine not in ("local", "dask"):
            raise ValueError(f"WATCHKEEPER_ENGINE={engine!r}: expected local or dask")
        update["engine"] = engine
    if env.get("WATCHKEEPER_MEMORY_BUDGET"):
        update["memory_budget"] = parse_size(env["WATCHKEEPER_MEMORY_BUDGET"])
    if env.get("WATCHKEEPER_DASK_ADDRESS"):
        update["dask"] = config.dask.model_copy(update={"address": env["WATCHKEEPER_DASK_ADDRESS"]})
        update.setdefault("engine", "dask")
    return config.model_copy(update=update) if update else config
