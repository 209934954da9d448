"""Names, keys, rounding and MLflow presentation tags: the exact strings people see."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from watchkeeper import tracking
from watchkeeper.presentation import (
    RunVerdict,
    WindowVerdict,
    mlflow_run_name,
    monitor_run_name,
    reevaluation_note,
    reevaluation_tag,
    round_figure,
    round_table,
    run_verdict,
    verdict_state_name,
    verdict_tags,
    version_label,
    versions_label,
    window_artifact_key,
    window_span,
)
from watchkeeper.report import MonitoringReport
from watchkeeper.verdict import Severity

DAY = datetime(2026, 3, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "end", "timezone", "span"),
    [
        (DAY, DAY + timedelta(days=1), "UTC", "2026-03-05 → 03-06"),  # a calendar day: two dates
        (DAY, DAY + timedelta(days=7), "UTC", "2026-03-05 → 03-12"),  # a week: the same
        (DAY, datetime(2026, 4, 5, tzinfo=UTC), "UTC", "2026-03-05 → 04-05"),  # a month
        # across new year the end keeps its year
        (
            datetime(2025, 12, 31, tzinfo=UTC),
            datetime(2026, 1, 1, tzinfo=UTC),
            "UTC",
            "2025-12-31 → 2026-01-01",
        ),
        (
            DAY + timedelta(hours=6),
            DAY + timedelta(hours=12),
            "UTC",
            "2026-03-05 06:00 → 12:00",
        ),  # hours of one day
        (
            DAY + timedelta(hours=23),
            DAY + timedelta(days=1),
            "UTC",
            "2026-03-05 23:00 → 03-06 00:00",
        ),  # to midnight
        (DAY + timedelta(hours=6), DAY + timedelta(days=1, hours=6), "UTC", "2026-03-05 06:00 → 03-06 06:00"),
        (DAY, DAY + timedelta(seconds=30), "UTC", "2026-03-05 00:00 → 00:00:30"),  # seconds only when there
        # The model's calendar: a Berlin day is 23:00 → 23:00 UTC, named by its local dates.
        (DAY - timedelta(hours=1), DAY + timedelta(hours=23), "Europe/Berlin", "2026-03-05 → 03-06"),
        (DAY + timedelta(hours=5), DAY + timedelta(hours=6), "Europe/Berlin", "2026-03-05 06:00 → 07:00 CET"),
        # The hour repeated when clocks go back: 15 minutes of each 02:00 keep their own names.
        (
            datetime(2026, 10, 25, 0, tzinfo=UTC),
            datetime(2026, 10, 25, 0, 15, tzinfo=UTC),
            "Europe/Berlin",
            "2026-10-25 02:00 → 02:15 CEST",
        ),
        (
            datetime(2026, 10, 25, 1, tzinfo=UTC),
            datetime(2026, 10, 25, 1, 15, tzinfo=UTC),
            "Europe/Berlin",
            "2026-10-25 02:00 → 02:15 CET",
        ),
        (
            datetime(2026, 10, 25, 0, tzinfo=UTC),
            datetime(2026, 10, 25, 1, tzinfo=UTC),
            "Europe/Berlin",
            "2026-10-25 02:00 CEST → 02:00 CET",
        ),
    ],
)
def test_window_span(start: datetime, end: datetime, timezone: str, span: str) -> None:
    assert window_span(start, end, timezone) == span


@pytest.mark.parametrize(
    ("versions", "label"),
    [
        (("1",), "v1"),
        (("1", "2"), "v1, v2"),  # a window scored by two versions
        ("1,2", "v1, v2"),  # as an alert message carries them
        (("v3",), "v3"),  # already a label
        (("canary",), "canary"),  # a name, not a number
        ((), "unknown"),
        (None, "unknown"),
    ],
)
def test_versions_label(versions: tuple[str, ...] | str | None, label: str) -> None:
    assert versions_label(versions) == label


def test_run_names_state_names_and_tags() -> None:
    end = DAY + timedelta(days=1)
    assert monitor_run_name("credit-risk", DAY, end) == "credit-risk 2026-03-05 → 03-06"
    assert (
        mlflow_run_name("credit-risk", DAY, end, Severity.CRITICAL)
        == "credit-risk 2026-03-05 → 03-06 · critical"
    )
    assert version_label("1") == "v1"
    assert [verdict_state_name(s) for s in Severity] == ["OK", "Warning", "Critical"]
    assert verdict_tags("credit-risk", Severity.WARNING) == ["credit-risk", "verdict:warning"]
    assert reevaluation_tag(DAY, end, "warning", Severity.CRITICAL) == "2026-03-05 → 03-06: warning→critical"
    assert reevaluation_tag(DAY, end, "critical", Severity.CRITICAL) is None
    # Lowercase letters, digits and dashes only; one key per model, window and card.
    assert window_artifact_key("Credit_Risk", DAY, end, "verdict") == "credit-risk-2026-03-05-03-06-verdict"
    assert (
        window_artifact_key("m", DAY + timedelta(hours=6), DAY + timedelta(hours=12), "drift")
        == "m-2026-03-05-06-00-12-00-drift"
    )


@pytest.mark.parametrize(
    ("value", "rounded"),
    [
        (0.123456789, 0.1235),
        (1234.5678, 1235.0),  # large: no decimals left, still a float
        (0.000123456, 0.0001235),  # small: significant digits, not decimals
        (-2.718281828, -2.718),
        (0.0, 0.0),
        (float("nan"), None),  # NaN cannot pass as a number in a table
        (3, 3),  # integers, text and booleans pass through
        ("x", "x"),
        (True, True),
    ],
)
def test_round_figure(value: object, rounded: object) -> None:
    assert round_figure(value) == rounded


def test_round_table_rounds_every_float_cell() -> None:
    rows = [{"column": "age", "score": 0.0275944255, "n": 2000, "p": None}]
    assert round_table(rows) == [{"column": "age", "score": 0.02759, "n": 2000, "p": None}]


def _report(verdict: str = "critical", flow_run_id: str | None = "run-2") -> dict:
    return {
        "model": "credit-risk",
        "window": {"start": "2026-03-10T00:00:00+00:00", "end": "2026-03-11T00:00:00+00:00"},
        "verdict": verdict,
        "reasons": ["[critical] Concept drift: realized roc_auc 0.3989 is outside CBPE's expectation."],
        "model_versions": ["1"],
        "figures": {"drift.share": 0.5, "perf.realized.roc_auc": 0.39891, "serving.latency_p95_ms": 62.7},
        "flow_run_id": flow_run_id,
    }


def test_presentation_tags_keep_every_evaluation_and_link_the_model_version() -> None:
    previous = {
        tracking.TAG_FLOW_RUN_ID: "run-1",
        tracking.evaluation_tag(1): "run-1",
        tracking.evaluation_url_tag(1): "http://prefect/flow-runs/flow-run/run-1",
    }
    tags = tracking.presentation_tags(
        _report(),
        evaluation=2,
        previous=previous,
        ui_base="http://mlflow:5000/",
        links={
            "registered_model": "credit-risk",
            "prefect_flow_run_url": "http://prefect/flow-runs/flow-run/run-2",
        },
    )
    assert tags[tracking.TAG_RUN_NAME] == "credit-risk 2026-03-10 → 03-11 · critical"
    assert tags[tracking.TAG_FLOW_RUN_ID] == "run-1"  # the first evaluation's, not overwritten
    assert tags[tracking.evaluation_tag(2)] == "run-2"
    version_url = "http://mlflow:5000/#/models/credit-risk/versions/1?workflowType=machine_learning"
    assert tags[tracking.TAG_MODEL_VERSION_URL] == version_url
    assert tags[tracking.TAG_NOTE] == "\n".join(
        [
            "**CRITICAL** — credit-risk 2026-03-10 → 03-11",
            "",
            f"Scored by [credit-risk v1]({version_url}).",
            "",
            "**Why**",
            "",
            "- [critical] Concept drift: realized roc_auc 0.3989 is outside CBPE's expectation.",
            "",
            "**Key figures**: drift share 50% · realized roc_auc 0.399 · p95 latency 63 ms",
            "",
            "**Evaluations** (Prefect flow runs; later ones saw later labels)",
            "",
            "1. [run-1](http://prefect/flow-runs/flow-run/run-1)",
            "2. [run-2](http://prefect/flow-runs/flow-run/run-2)",
        ]
    )


def test_links_open_the_classic_mlflow_view() -> None:
    assert (
        tracking.run_url("http://m/", "2", "abc", "/artifacts/dashboard.html")
        == "http://m/#/experiments/2/runs/abc/artifacts/dashboard.html?workflowType=machine_learning"
    )
    assert (
        tracking.experiment_url("http://m", "2") == "http://m/#/experiments/2?workflowType=machine_learning"
    )


def test_ui_url_setting_wins_then_env_then_tracking_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(tracking.UI_URL_ENV, raising=False)
    assert (
        tracking.ui_base_url("https://mlflow.example.com/", "sqlite:///x.db") == "https://mlflow.example.com"
    )
    assert tracking.ui_base_url(None, "https://mlflow.internal:5000") == "https://mlflow.internal:5000"
    assert tracking.ui_base_url(None, "sqlite:///x.db") == tracking.LOCAL_UI_URL
    monkeypatch.setenv(tracking.UI_URL_ENV, "http://10.0.0.5:5000/")
    assert tracking.ui_base_url(None, "https://mlflow.internal:5000") == "http://10.0.0.5:5000"


def _window(day: int, verdict: Severity, *rules: str, was: str | None = None) -> WindowVerdict:
    start = datetime(2026, 3, day, tzinfo=UTC)
    reasons = tuple(f"[{verdict.label}] {rule}: {rule} holds" for rule in rules)
    return WindowVerdict(start, start + timedelta(days=1), verdict, rules, reasons, was)


CURRENT_OK = _window(10, Severity.OK)


@pytest.mark.parametrize(
    ("reevaluated", "expected"),
    [
        # No re-evaluation: the window's own verdict and message, as before.
        ((), RunVerdict(Severity.OK, "credit-risk 2026-03-10 → 03-11: ok — no check raised anything")),
        # The reported fault: late labels make an earlier window critical while the new one is ok.
        (
            (_window(7, Severity.CRITICAL, "concept_drift", "performance_drop", was="warning"),),
            RunVerdict(
                Severity.CRITICAL,
                "credit-risk: Critical — 2026-03-07 → 03-08 re-evaluated with late labels: critical "
                "(concept_drift, performance_drop), was warning; current window 2026-03-10 → 03-11: ok",
            ),
        ),
        # Re-evaluated but unchanged: an earlier run announced that verdict already.
        ((_window(7, Severity.CRITICAL, "concept_drift", was="critical"),), None),
        # Changed for the better: still the worst the run produced, and named.
        (
            (_window(7, Severity.WARNING, "data_drift", was="critical"),),
            RunVerdict(
                Severity.WARNING,
                "credit-risk: Warning — 2026-03-07 → 03-08 re-evaluated with late labels: warning (data_drift), "
                "was critical; current window 2026-03-10 → 03-11: ok",
            ),
        ),
        # Two changed windows, one past the rule list's length: both named, oldest first.
        (
            (
                _window(6, Severity.WARNING, "a", "b", "c", "d", was="ok"),
                _window(7, Severity.CRITICAL, "concept_drift", was="ok"),
            ),
            RunVerdict(
                Severity.CRITICAL,
                "credit-risk: Critical — 2026-03-06 → 03-07 re-evaluated with late labels: warning (a, b, c, …), "
                "was ok; 2026-03-07 → 03-08 re-evaluated with late labels: critical (concept_drift), was ok; "
                "current window 2026-03-10 → 03-11: ok",
            ),
        ),
    ],
)
def test_run_verdict_is_the_worst_the_run_produced(
    reevaluated: tuple[WindowVerdict, ...], expected: RunVerdict | None
) -> None:
    outcome = run_verdict("credit-risk", CURRENT_OK, reevaluated)
    assert outcome == (expected or run_verdict("credit-risk", CURRENT_OK))


def test_run_verdict_keeps_a_worse_current_window_and_fits_a_state_message() -> None:
    current = _window(10, Severity.CRITICAL, "no_data")
    outcome = run_verdict("m" * 900, current, [_window(7, Severity.WARNING, "x" * 400, was="ok")])
    assert outcome.verdict == Severity.CRITICAL and outcome.state_name == "Critical"
    assert len(outcome.message) == 1000 and outcome.message.startswith("m" * 900 + ": Critical — 2026-03-07")


def test_window_verdict_of_a_report() -> None:
    end = datetime(2026, 3, 8, tzinfo=UTC)
    report = MonitoringReport(
        "m", end - timedelta(days=1), end, end, ("1",), "h", errors={"drift": "ValueError: boom"}
    )
    window = WindowVerdict.of(report, was="ok")
    assert window == WindowVerdict(
        end - timedelta(days=1),
        end,
        Severity.WARNING,
        ("check_failed",),
        ("[warning] check_failed: drift check failed: ValueError: boom",),
        "ok",
    )
    assert window.changed and window.label == "2026-03-07 → 03-08"
    assert not WindowVerdict.of(report).changed  # the run's own window


def test_reevaluation_note() -> None:
    window = _window(7, Severity.CRITICAL, "concept_drift", was="warning")
    when = datetime(2026, 3, 10, 0, 5, tzinfo=UTC)
    description, markdown = reevaluation_note(
        window,
        model="credit-risk",
        when=when,
        run_name="credit-risk 2026-03-09 → 03-10",
        run_url="http://prefect/runs/flow-run/abc",
        labeled=420,
        rows=600,
    )
    assert description == (
        "Re-evaluated on 2026-03-10 00:05 UTC by run credit-risk 2026-03-09 → 03-10: verdict now critical "
        "(was warning), label coverage 70% (420 of 600 rows)"
    )
    assert markdown == (
        "# credit-risk 2026-03-07 → 03-08: re-evaluated with late labels\n\n"
        "Re-evaluated on 2026-03-10 00:05 UTC by run [credit-risk 2026-03-09 → 03-10](http://prefect/runs/flow-run/abc): "
        "verdict now **CRITICAL** (was warning), label coverage 70% (420 of 600 rows).\n\n"
        "- [critical] concept_drift: concept_drift holds\n"
    )
    # Unchanged, no UI to link to, an empty window.
    same = _window(7, Severity.OK, was="ok")
    description, markdown = reevaluation_note(
        same, model="m", when=when, run_name="m 2026-03-09", run_url=None, labeled=0, rows=0
    )
    assert description.endswith("by run m 2026-03-09: verdict still ok, label coverage no rows")
    assert "by run **m 2026-03-09**: verdict still **OK**, label coverage no rows.\n" in markdown


def test_a_card_that_cannot_be_written_is_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    # Best effort: a window run id the state database holds garbage for costs the card, not the run.
    from tasks.artifact_tasks import publish_window_artifacts

    end = datetime(2026, 3, 8, tzinfo=UTC)
    report = MonitoringReport("m", end - timedelta(days=1), end, end, ("1",), "h")
    with caplog.at_level("WARNING", logger="watchkeeper.presentation"):
        card = publish_window_artifacts(report, mlflow_url=None, flow_run_id="not-a-run")
    assert card is None
    (message,) = [r.getMessage() for r in caplog.records]
    assert message.startswith("could not publish the card of m ")
    assert message.endswith(" on flow run not-a-run: badly formed hexadecimal UUID string")
