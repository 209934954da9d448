"""Prefect UI artifacts for a monitoring window: the verdict card, tables and links to MLflow.

Artifacts are created from the flow body, not from a task, so they belong to the flow run (the
run's Artifacts tab, "Flow run: credit-risk 2026-03-05 → 03-06"). Keys name the model and the window
(`watchkeeper.presentation.window_artifact_key`): a window re-evaluated by a later run adds a version
to its own cards instead of overwriting the current window's, and the verdict card comes first.
"""

from __future__ import annotations

import re
from typing import Any

from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact

from watchkeeper.presentation import round_table, window_artifact_key
from watchkeeper.report import MonitoringReport


def artifact_key(*parts: str) -> str:
    """Prefect artifact keys allow lowercase letters, digits and dashes only."""
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]", "-", "-".join(parts).lower())).strip("-")


def publish_window_artifacts(
    report: MonitoringReport,
    *,
    mlflow_url: str | None,
    tables: dict[str, list[dict[str, Any]]] | None = None,
    extra_markdown: dict[str, str] | None = None,
    links: dict[str, str] | None = None,
) -> list[str]:
    """Publish the window's verdict card, its MLflow link, other links (`links`: text → URL),
    per-check tables (rounded) and markdown to the current flow run; returns the keys used."""

    def key(name: str) -> str:
        return window_artifact_key(
            report.model, report.window_start, report.window_end, name, report.timezone
        )

    label = report.window_name
    reasons = "; ".join(r.split("] ", 1)[-1] for r in report.reasons[:2])
    more = f" (+{len(report.reasons) - 2} more)" if len(report.reasons) > 2 else ""
    description = f"{report.verdict.label.upper()} — {label}" + (f": {reasons}{more}" if reasons else "")
    keys = [key("verdict")]
    create_markdown_artifact(key=keys[0], markdown=report.to_markdown(), description=description[:500])
    if mlflow_url:
        keys.append(key("mlflow-run"))
        create_link_artifact(
            key=keys[-1], link=mlflow_url, link_text=f"MLflow run of {label}", description="MLflow run"
        )
    for text, url in (links or {}).items():
        keys.append(key(text))
        create_link_artifact(key=keys[-1], link=url, link_text=f"{text} of {report.model}", description=text)
    for name, rows in (tables or {}).items():
        if rows:
            keys.append(key(name))
            create_table_artifact(key=keys[-1], table=round_table(rows), description=f"{name} — {label}")
    for name, text in (extra_markdown or {}).items():
        keys.append(key(name))
        create_markdown_artifact(key=keys[-1], markdown=text, description=f"{name} — {label}")
    return keys


def publish_window_link(report: MonitoringReport, name: str, url: str, text: str) -> str:
    """One more link card of the window (e.g. the model's dashboard, regenerated after the window)."""
    key = window_artifact_key(report.model, report.window_start, report.window_end, name, report.timezone)
    create_link_artifact(key=key, link=url, link_text=text, description=text)
    return key
