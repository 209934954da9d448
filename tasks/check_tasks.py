"""The checks as Prefect tasks: `run_step` is the runner the monitor flow hands to
`watchkeeper.monitoring`, so each step of a window's evaluation is one task in the Prefect UI."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture

T = TypeVar("T")

# Task name and retries per runner step (see `watchkeeper.monitoring`); sources are remote in
# production, so reading is retried, a check is not (its failure is reported in the window).
_TASKS: dict[str, tuple[str, dict[str, Any]]] = {
    "load_window": ("load-window", {"retries": 2, "retry_delay_seconds": [5, 30]}),
    "fit-drift": ("fit-drift-reference", {}),
    "fit-perf": ("fit-performance-baseline", {}),
    "fit-validation": ("load-expectations", {}),
    "drift": ("detect-drift", {}),
    "fit-drift.multivariate": ("fit-multivariate-drift", {}),
    "drift.multivariate": ("detect-multivariate-drift", {}),
    "fit-drift.embeddings": ("read-reference-embeddings", {}),
    "drift.embeddings": ("detect-embedding-drift", {}),
    "perf": ("evaluate-performance", {}),
    "serving": ("compute-serving-metrics", {}),
    "fit-segments": ("fit-segments", {}),
    "segments": ("evaluate-segments", {}),
    "validation": ("validate-features", {}),
    "evidently_report": ("build-evidently-report", {}),
}


def submit_step(step: str, fn: Callable[..., T], *args: Any) -> PrefectFuture[T]:
    """Start one step as a concurrent Prefect task (on the flow's task runner); returns its future."""
    name, options = _TASKS[step]
    return task(fn, name=name, cache_policy=NO_CACHE, **options).submit(*args)  # type: ignore[no-any-return]


def run_step(step: str, fn: Callable[..., T], *args: Any) -> T:
    """Run one step of the check runner as a Prefect task (steps with nothing to do run inline)."""
    spec = _TASKS.get(step)
    if spec is None:
        return fn(*args)
    name, options = spec
    return task(fn, name=name, cache_policy=NO_CACHE, **options)(*args)  # type: ignore[no-any-return]
