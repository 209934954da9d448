"""Prefect UI artifacts for a monitoring window: the summary, tables and the link to MLflow."""

from __future__ import annotations

import re
from typing import Any

from prefect import task
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE


def artifact_key(*parts: str) -> str:
    """Prefect artifact keys allow lowercase letters, digits and dashes only."""
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]", "-", "-".join(parts).lower())).strip("-")


@task(name="publish-artifacts", cache_policy=NO_CACHE)
def publish_artifacts(
    model: str,
    markdown: str,
    *,
    mlflow_url: str | None,
    tables: dict[str, list[dict[str, Any]]] | None = None,
    extra_markdown: dict[str, str] | None = None,
) -> None:
    """Publish the window summary, per-check tables and the MLflow run link to the Prefect UI."""
    create_markdown_artifact(
        key=artifact_key(model, "monitor-report"), markdown=markdown, description="Monitoring verdict"
    )
    if mlflow_url:
        create_link_artifact(
            key=artifact_key(model, "mlflow-run"), link=mlflow_url, link_text="MLflow run of this window"
        )
    for name, rows in (tables or {}).items():
        if rows:
            create_table_artifact(key=artifact_key(model, name), table=rows, description=name)
    for name, text in (extra_markdown or {}).items():
        create_markdown_artifact(key=artifact_key(model, name), markdown=text, description=name)
