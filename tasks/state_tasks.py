"""Watchkeeper's state database from flows (the flow opens the store once and passes it in)."""

from __future__ import annotations

from datetime import datetime

from prefect import task
from prefect.cache_policies import NO_CACHE

from watchkeeper.report import MonitoringReport
from watchkeeper.state import StateStore


@task(name="record-window", cache_policy=NO_CACHE)
def record_window(
    store: StateStore, report: MonitoringReport, *, usable_for_training: bool, window_run_id: str | None
) -> None:
    """Remember the window's evaluation (labels seen, verdict, MLflow run, Prefect runs) for later runs.

    `window_run_id` is the flow run that monitored the window as its own (the current window's run,
    or — re-evaluated — the one recorded before), kept so a re-evaluation can note itself there;
    `flow_run_id` is the run of this evaluation.
    """
    window = report.section("window")
    store.record_window(
        model=report.model,
        window_start=report.window_start,
        window_end=report.window_end,
        n_rows=window.rows if window else 0,
        n_labeled=window.labeled if window else 0,
        verdict=report.verdict.label,
        usable_for_training=usable_for_training,
        mlflow_run_id=report.mlflow_run_id,
        summary={
            "figures": report.figures(),
            "reasons": report.reasons,
            "model_versions": list(report.model_versions),
            "flow_run_id": report.flow_run_id,
            "window_flow_run_id": window_run_id,
            # Which labels judged it: as of this time (None: not cut), or every label in hindsight.
            "labels_as_of": report.labels_as_of.isoformat() if report.labels_as_of else None,
            "hindsight": report.hindsight,
        },
    )


def windows_with_new_labels(
    known: dict[datetime, int], label_counts: dict[datetime, int], *, limit: int
) -> list[datetime]:
    """Past windows whose label count has grown since their last evaluation (newest last).

    `known` is each recorded window's labeled-row count at its last evaluation, by window end.
    """
    grown = [end for end, n in label_counts.items() if end in known and n > known[end]]
    return sorted(grown)[-limit:] if limit else []
