"""The partitioned evaluation of a window beyond the memory budget, as one Prefect task.

The engine (`execution.engine`: a thread pool here, or a Dask cluster) is opened for the task and
closed after it; the task hands partition descriptions to it, never frames
(`watchkeeper.partitioned.engine`). With a `DaskTaskRunner` the flow's own cluster can serve: set
`execution.dask.address` to its scheduler.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from watchkeeper.checks import Check
from watchkeeper.config import MonitorConfig
from watchkeeper.execution import ExecutionConfig
from watchkeeper.monitoring import FittedChecks, WindowEvaluation
from watchkeeper.partitioned.engine import PartitionedSource, evaluate_partitioned, open_mapper
from watchkeeper.verdict import SectionReport
from watchkeeper.windows import Labels


@task(name="evaluate-partitioned-window", cache_policy=NO_CACHE)
def evaluate_partitioned_window(
    fitted: FittedChecks,
    source: PartitionedSource,
    execution: ExecutionConfig,
    *,
    config: MonitorConfig,
    config_hash: str,
    start: datetime,
    end: datetime,
    labels: Labels | None,
    labels_complete: bool,
    state: dict[str, Any],
    extra_sections: dict[str, SectionReport],
    flow_run_id: str | None,
    checks: Sequence[Check] = (),
) -> WindowEvaluation:
    """Evaluate a window too large for memory: partitions mapped on the configured engine, their
    states merged; the report says which figures are approximate and by how much at most."""
    with open_mapper(execution) as mapper:
        return evaluate_partitioned(
            fitted,
            source,
            mapper,
            config=config,
            config_hash=config_hash,
            start=start,
            end=end,
            labels=labels,
            labels_complete=labels_complete,
            memory_budget=execution.memory_budget,
            state=state,
            extra_sections=extra_sections,
            flow_run_id=flow_run_id,
            checks=checks,
        )
