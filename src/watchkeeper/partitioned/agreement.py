"""Comparing a partitioned window's report with the same window's report in memory.

Exact figures must be equal, approximate ones (listed in the ``partitioned`` section) must hold the
in-memory value within their bound, and every decision must be the same. Used by the tests (partition
invariance, the Dask engine) and by `benchmarks/scale.py`.
"""

from __future__ import annotations

import math
from typing import Any

from watchkeeper.monitoring import WindowEvaluation, with_sections
from watchkeeper.performance import PerformanceReport, feed_pending_detectors
from watchkeeper.report import MonitoringReport
from watchkeeper.verdict import Severity


def feed_detectors(result: WindowEvaluation, state: dict[str, Any] | None) -> WindowEvaluation:
    """`result` with its pending detectors fed from `state`, as the monitor flow's
    `finish_evaluation` does (a report fed already is returned unchanged)."""
    perf = result.report.section("perf")
    if not isinstance(perf, PerformanceReport) or perf.pending is None:
        return result
    return with_sections(result, {"perf": feed_pending_detectors(perf, state)})


def _rows_only(key: str) -> bool:
    # What only the in-memory path computes (it keeps the rows): the row-based analyses without a
    # partitioned evaluation (embedding drift, the reset impact, drift impact). The partitioned
    # report names each of them in ``partitioned.not_evaluated``. The detectors are compared once
    # both reports are fed (`feed_detectors`).
    in_memory_only = (
        "drift.embeddings",
        "drift.reset",
        "drift.impact",
        "finding.drift.embeddings",
        "finding.drift.reset",
    )
    return key.startswith(in_memory_only)


def approximate_bounds(report: MonitoringReport) -> dict[str, tuple[float, float]]:
    section = report.section("partitioned")
    if section is None:
        return {}
    return {a.figure: (a.low, a.high) for a in section.approximate}


def compare_figures(
    exact: MonitoringReport, partitioned: MonitoringReport, *, rel: float = 1e-9, ignore: tuple[str, ...] = ()
) -> list[str]:
    """The figures that differ beyond `rel` (exact) or fall outside their bound (approximate);
    figures starting with one of `ignore` are skipped."""
    bounds = approximate_bounds(partitioned)
    fa, fb = exact.figures(), partitioned.figures()
    skipped = ["footprint.", "partitioned.", "verdict.level", *ignore]  # the verdict: see `decisions`
    problems: list[str] = []
    for key, value in fa.items():
        if key.startswith(tuple(skipped)) or _rows_only(key):
            continue
        if key not in fb:
            problems.append(f"{key}: missing from the partitioned report")
            continue
        got = fb[key]
        if key in bounds:
            low, high = bounds[key]
            if not low - 1e-12 <= value <= high + 1e-12:
                problems.append(f"{key}: exact {value} outside [{low}, {high}]")
        elif not math.isclose(value, got, rel_tol=rel, abs_tol=1e-12):
            problems.append(f"{key}: {value} != {got}")
    return problems


def decisions(report: MonitoringReport) -> dict[str, Any]:
    """Every decision a window's report takes: verdict, drifted columns, failed expectations."""
    # The verdict without the partitioned report's own finding (checks it could not evaluate).
    level = max((f.severity for f in report.findings if f.check != "partitioned"), default=Severity.OK)
    out: dict[str, Any] = {"verdict": level.label}
    drift = report.section("drift")
    if drift is not None:
        out["dataset_drift"] = drift.dataset_drift
        out["drifted"] = {c.column: (c.drifted, c.method, c.status) for c in drift.columns}
    validation = report.section("validation")
    if validation is not None:
        out["expectations"] = {r.index: (r.success, r.unexpected_count) for r in validation.results}
    window = report.section("window")
    out["window"] = (window.rows, window.labeled, window.duplicate_request_ids)
    return out


def strip_volatile(data: Any) -> Any:
    """A report's dict without what changes from run to run (times, footprint, partition count)."""
    if isinstance(data, dict):
        return {
            k: strip_volatile(v)
            for k, v in data.items()
            if k
            not in (
                "evaluated_at",
                "footprint",
                "partitions",
                "flow_run_id",
                "partitioned.partitions",
                "estimated_bytes",
                "memory_budget",
            )
            and not k.startswith("footprint.")
        }
    if isinstance(data, list):
        return [strip_volatile(v) for v in data]
    if isinstance(data, float):
        return round(data, 9)
    return data
