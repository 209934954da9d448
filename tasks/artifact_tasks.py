"""Prefect UI artifacts for a monitoring window: one card per window, the verdict first.

Prefect lists a flow run's artifacts by their random ids (`ID_DESC` over uuid4), so the order of
several cards is chance (the demo's critical window had 17, its verdict 14th).
A window therefore gets one markdown card — the verdict, the reasons and key figures, the links
(MLflow run, dashboard), then every check's table — keyed per model and window
(`watchkeeper.presentation.window_artifact_key`, ``credit-risk-2026-03-05-verdict``).

A window re-evaluated by a later run gets its new card on its own flow run (the one that monitored
it), as a new version of its key with the re-evaluation said under the verdict; the re-evaluating run's page
holds only its own window's card. Cards are created from the flow body, not from a task.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import ArtifactCreate, ArtifactUpdate
from prefect.runtime import flow_run

from watchkeeper.presentation import markdown_table, window_artifact_key
from watchkeeper.report import MonitoringReport

log = logging.getLogger("watchkeeper.presentation")

# The card's sections (tables and markdown) in this order: the alerts, then what they are about;
# any other section after them, in publication order.
CARD_SECTION_ORDER = ("alerts", "drift", "perf", "validation", "serving")


def artifact_key(*parts: str) -> str:
    """Prefect artifact keys allow lowercase letters, digits and dashes only."""
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]", "-", "-".join(parts).lower())).strip("-")


@dataclass(frozen=True)
class WindowCard:
    """A window's card as published: its artifact id (to add a link later) and its text."""

    artifact_id: UUID
    key: str
    markdown: str
    description: str


class CurrentRun:
    """Where a card goes by default: the flow run publishing it."""


CURRENT_RUN = CurrentRun()


def card_markdown(
    report: MonitoringReport,
    *,
    links: dict[str, str],
    tables: dict[str, list[dict[str, Any]]],
    extra_markdown: dict[str, str],
    preface: str | None = None,
) -> str:
    """The card: the verdict's title, the re-evaluation note (`preface`), the rest of the verdict
    (`report.to_markdown`), the links,
    then each section's table (rounded) and markdown, alerts first (`CARD_SECTION_ORDER`)."""
    title, _, body = report.to_markdown().partition("\n")
    parts = [title + "\n"]
    if preface:  # under the verdict's title, its headings one level down
        parts.append(re.sub(r"^#", "##", preface.rstrip(), flags=re.MULTILINE) + "\n")
    parts.append(body.strip() + "\n")
    if links:
        parts.append("## Links\n\n" + "\n".join(f"- [{text}]({url})" for text, url in links.items()) + "\n")
    sections: dict[str, list[str]] = {}
    for name, rows in tables.items():
        if rows:
            sections.setdefault(name, []).append(markdown_table(rows))
    for name, text in extra_markdown.items():
        sections.setdefault(name, []).append(text.rstrip() + "\n")
    order = {name: i for i, name in enumerate(CARD_SECTION_ORDER)}
    for name in sorted(sections, key=lambda n: order.get(n, len(order))):
        parts.append(f"## {name}\n\n" + "\n".join(sections[name]))
    return "\n".join(parts)


def card_description(report: MonitoringReport) -> str:
    """``CRITICAL — credit-risk 2026-03-05: <first two reasons> (+3 more)``, at most 500 characters."""
    label = report.window_name
    reasons = "; ".join(r.split("] ", 1)[-1] for r in report.reasons[:2])
    more = f" (+{len(report.reasons) - 2} more)" if len(report.reasons) > 2 else ""
    return (f"{report.verdict.label.upper()} — {label}" + (f": {reasons}{more}" if reasons else ""))[:500]


def publish_window_artifacts(
    report: MonitoringReport,
    *,
    mlflow_url: str | None,
    tables: dict[str, list[dict[str, Any]]] | None = None,
    extra_markdown: dict[str, str] | None = None,
    links: dict[str, str] | None = None,
    flow_run_id: str | CurrentRun | None = CURRENT_RUN,
    preface: tuple[str, str] | None = None,
) -> WindowCard | None:
    """Publish the window's card (verdict, links — `links`: text → URL —, tables, markdown) to
    `flow_run_id` (default: the current flow run; None: to no run, only under its key). `preface`
    is a re-evaluation's (description, markdown), said under the verdict's title.

    Best effort: a card that cannot be written is a warning, never a failed monitoring run.
    """
    key = window_artifact_key(
        report.model, report.window_start, report.window_end, "verdict", report.timezone
    )
    label = report.window_name
    all_links = {f"MLflow run of {label}": mlflow_url} if mlflow_url else {}
    all_links.update(links or {})
    markdown = card_markdown(
        report,
        links=all_links,
        tables=tables or {},
        extra_markdown=extra_markdown or {},
        preface=preface[1] if preface else None,
    )
    description = preface[0][:500] if preface else card_description(report)
    target = flow_run.get_id() if isinstance(flow_run_id, CurrentRun) else flow_run_id
    try:
        card = ArtifactCreate(
            flow_run_id=UUID(target) if target else None,
            type="markdown",
            key=key,
            data=markdown,
            description=description,
        )
        with get_client(sync_client=True) as client:
            created = client.create_artifact(card)
    except Exception as exc:
        log.warning("could not publish the card of %s on flow run %s: %s", label, target, exc)
        return None
    return WindowCard(created.id, key, markdown, description)


def add_card_link(card: WindowCard | None, text: str, url: str) -> WindowCard | None:
    """Add a link to a published card in place (e.g. the model's dashboard, regenerated after the
    window was published): the same artifact, so the run still holds one card. Best effort."""
    if card is None:
        return None
    line = f"- [{text}]({url})"
    if "\n## Links\n\n" in card.markdown:
        head, tail = card.markdown.split("\n## Links\n\n", 1)
        links, sep, rest = tail.partition("\n\n")
        markdown = f"{head}\n## Links\n\n{links}\n{line}{sep}{rest}"
    else:
        markdown = card.markdown.rstrip() + f"\n\n## Links\n\n{line}\n"
    try:
        with get_client(sync_client=True) as client:
            client.update_artifact(card.artifact_id, ArtifactUpdate(data=markdown))
    except Exception as exc:
        log.warning("could not add the %s link to card %s: %s", text, card.key, exc)
        return card
    return WindowCard(card.artifact_id, card.key, markdown, card.description)
