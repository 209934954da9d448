"""A window judged in hindsight says so in every view; one judged as of its time says as of when."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from watchkeeper import tracking
from watchkeeper.dashboard import build_figures, collect_dashboard_data, render_dashboard
from watchkeeper.report import MonitoringReport
from watchkeeper.state import open_state

START = datetime(2026, 3, 1, tzinfo=UTC)
END = START + timedelta(days=1)


def _report(**kwargs: object) -> MonitoringReport:
    return replace(
        MonitoringReport(
            model="m",
            window_start=START,
            window_end=END,
            evaluated_at=END,
            model_versions=("1",),
            config_hash="h",
        ),
        **kwargs,
    )


def test_the_report_says_which_labels_judged_it() -> None:
    as_of, hindsight = _report(labels_as_of=END), _report(hindsight=True)
    assert as_of.to_dict()["labels_as_of"] == "2026-03-02T00:00:00+00:00"
    assert as_of.to_dict()["hindsight"] is False
    assert "Labels as of 2026-03-02 00:00 UTC." in as_of.to_markdown()
    assert hindsight.to_dict()["hindsight"] is True
    assert "**Hindsight**" in hindsight.to_markdown() and "Labels as of" not in hindsight.to_markdown()
    # Neither cut nor hindsight: labels without an arrival time (the window's notes say so).
    assert "Labels as of" not in _report().to_markdown()


def test_the_mlflow_run_says_which_labels_judged_it() -> None:
    assert tracking.run_tags(_report(labels_as_of=END))[tracking.TAG_LABELS] == "as_of 2026-03-02T00:00:00Z"
    assert tracking.run_tags(_report(hindsight=True))[tracking.TAG_LABELS] == "hindsight"
    assert tracking.run_tags(_report())[tracking.TAG_LABELS] == "all"

    def note(report: MonitoringReport) -> str:
        tags = tracking.presentation_tags(report.to_dict(), evaluation=1, previous={}, ui_base="", links={})
        return tags[tracking.TAG_NOTE]

    assert "**Hindsight**" in note(_report(hindsight=True))
    assert "Hindsight" not in note(_report(labels_as_of=END))


def test_the_dashboard_marks_windows_judged_in_hindsight() -> None:
    store = open_state("sqlite:///:memory:")
    for day, hindsight in ((0, False), (1, True)):
        start = START + timedelta(days=day)
        store.record_window(
            model="m",
            window_start=start,
            window_end=start + timedelta(days=1),
            n_rows=10,
            n_labeled=5,
            verdict="warning",
            usable_for_training=True,
            mlflow_run_id=None,
            summary={
                "figures": {},
                "reasons": ["[warning] why"],
                "model_versions": ["1"],
                "hindsight": hindsight,
            },
        )
    data = collect_dashboard_data(store, "m", now=START + timedelta(days=3))
    assert [w.hindsight for w in data.windows] == [False, True]
    bars = build_figures(data)["verdict"]["data"][0]
    assert bars["text"] == ["warning<br>v1", "warning (hindsight)<br>v1"]
    page = render_dashboard(data, plotly_js="/* plotly */")
    assert page.count("(hindsight)</td>") == 1
