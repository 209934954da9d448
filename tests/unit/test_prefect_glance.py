"""What the Prefect UI shows of a run at a glance, as plain strings and levels (no Prefect server)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from tasks.artifact_tasks import add_card_link, card_markdown
from watchkeeper.presentation import (
    WindowVerdict,
    critical_windows,
    lifecycle_tags,
    markdown_table,
    verdict_log_level,
)
from watchkeeper.report import MonitoringReport
from watchkeeper.verdict import Severity

END = datetime(2026, 3, 6, tzinfo=UTC)


def _window(day: int, verdict: Severity, was: str | None = None) -> WindowVerdict:
    end = datetime(2026, 3, day + 1, tzinfo=UTC)
    return WindowVerdict(end - timedelta(days=1), end, verdict, was=was)


def test_the_verdict_line_is_logged_at_the_verdicts_level() -> None:
    # A log view filtered to warnings shows the windows that need a look; errors the critical ones.
    assert [verdict_log_level(s) for s in Severity] == [logging.INFO, logging.WARNING, logging.ERROR]


def test_critical_windows_are_the_run_window_and_re_evaluated_windows_that_turned_critical() -> None:
    current = _window(10, Severity.CRITICAL)
    reevaluated = [
        _window(7, Severity.CRITICAL, was="warning"),  # turned critical: marked
        _window(8, Severity.CRITICAL, was="critical"),  # was critical already: announced before
        _window(9, Severity.OK, was="critical"),  # recovered: not critical
    ]
    assert [w.end.day for w in critical_windows(current, reevaluated)] == [8, 11]
    assert critical_windows(_window(10, Severity.WARNING), reevaluated[1:]) == []


def test_lifecycle_runs_are_tagged_with_model_window_and_versions() -> None:
    window = (END - timedelta(days=1), END)
    tags = lifecycle_tags("credit-risk", window=window, from_version="1", to_version="2")
    assert tags[0] == "credit-risk"
    assert tags[1].startswith("window:2026-03-05")
    assert tags[2:] == ["from:1", "to:2"]
    # A rollback has no window; a retraining before its version is registered has no versions.
    assert lifecycle_tags("m", from_version="2", to_version="1") == ["m", "from:2", "to:1"]
    assert lifecycle_tags("m", window=window)[1:] == tags[1:2]


def test_markdown_table_rounds_and_escapes() -> None:
    rows = [{"column": "a|b", "score": 0.123456789, "drifted": "yes"}, {"column": "c", "score": None}]
    assert markdown_table(rows) == (
        "| column | score | drifted |\n|---|---|---|\n| a\\|b | 0.1235 | yes |\n| c |  |  |\n"
    )


def test_the_card_says_the_verdict_first_then_a_reevaluation_links_and_alerts_before_tables() -> None:
    report = MonitoringReport("m", END - timedelta(days=1), END, END, ("1",), "h")
    text = card_markdown(
        report,
        links={"MLflow run": "http://mlflow/run"},
        tables={"drift": [{"column": "age"}], "empty": []},
        extra_markdown={"notes": "a note", "alerts": "1 firing"},
        preface="# re-evaluated",
    )
    headings = [line for line in text.splitlines() if line.startswith("#")]
    assert headings == [
        "# m 2026-03-05 → 03-06: OK",
        "## re-evaluated",
        "## Links",
        "## alerts",
        "## drift",
        "## notes",
    ]


def test_a_link_added_later_joins_the_cards_links(monkeypatch) -> None:
    import tasks.artifact_tasks as artifact_tasks

    updated: list[str] = []

    class Client:
        def __enter__(self) -> Client:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

        def update_artifact(self, artifact_id: object, update: artifact_tasks.ArtifactUpdate) -> None:
            updated.append(update.data)

    monkeypatch.setattr(artifact_tasks, "get_client", lambda sync_client: Client())
    card = artifact_tasks.WindowCard(
        artifact_id=None,  # type: ignore[arg-type]
        key="k",
        markdown="# m: OK\n\n## Links\n\n- [MLflow run](u)\n\n## drift\n\n| a |\n",
        description="d",
    )
    added = add_card_link(card, "Dashboard", "file:///d.html")
    assert added is not None and updated == [added.markdown]
    assert added.markdown == (
        "# m: OK\n\n## Links\n\n- [MLflow run](u)\n- [Dashboard](file:///d.html)\n\n## drift\n\n| a |\n"
    )
