"""Names, keys, rounding and MLflow presentation tags: the exact strings people see."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from watchkeeper import tracking
from watchkeeper.presentation import (
    mlflow_run_name,
    monitor_run_name,
    reevaluation_tag,
    round_figure,
    round_table,
    verdict_state_name,
    verdict_tags,
    window_artifact_key,
    window_label,
    window_range,
)
from watchkeeper.verdict import Severity

DAY = datetime(2026, 3, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "end", "label"),
    [
        (DAY, DAY + timedelta(days=1), "2026-03-05"),  # a calendar day: the date alone
        (DAY + timedelta(hours=6), DAY + timedelta(hours=12), "2026-03-05 06:00–12:00"),  # hours of one day
        (DAY + timedelta(hours=18), DAY + timedelta(days=1), "2026-03-05 18:00–00:00"),  # ends at midnight
        (DAY, DAY + timedelta(days=7), "2026-03-05 00:00–2026-03-12 00:00"),  # a week: both dates
    ],
)
def test_window_label(start: datetime, end: datetime, label: str) -> None:
    assert window_label(start, end) == label


def test_run_names_state_names_and_tags() -> None:
    end = DAY + timedelta(days=1)
    assert monitor_run_name("credit-risk", DAY, end) == "credit-risk 2026-03-05"
    assert window_range(DAY, end) == "2026-03-05–03-06"
    assert window_range(DAY + timedelta(hours=6), DAY + timedelta(hours=12)) == "2026-03-05 06:00–03-05 12:00"
    assert mlflow_run_name(DAY, end, Severity.CRITICAL) == "2026-03-05–03-06 critical"
    assert [verdict_state_name(s) for s in Severity] == ["OK", "Warning", "Critical"]
    assert verdict_tags("credit-risk", Severity.WARNING) == ["credit-risk", "verdict:warning"]
    assert reevaluation_tag(DAY, end, "warning", Severity.CRITICAL) == "2026-03-05 warning→critical"
    assert reevaluation_tag(DAY, end, "critical", Severity.CRITICAL) is None
    # Lowercase letters, digits and dashes only; one key per model, window and card.
    assert window_artifact_key("Credit_Risk", DAY, end, "verdict") == "credit-risk-2026-03-05-verdict"
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
    assert tags[tracking.TAG_RUN_NAME] == "2026-03-10–03-11 critical"
    assert tags[tracking.TAG_FLOW_RUN_ID] == "run-1"  # the first evaluation's, not overwritten
    assert tags[tracking.evaluation_tag(2)] == "run-2"
    version_url = "http://mlflow:5000/#/models/credit-risk/versions/1?workflowType=machine_learning"
    assert tags[tracking.TAG_MODEL_VERSION_URL] == version_url
    assert tags[tracking.TAG_NOTE] == "\n".join(
        [
            "**CRITICAL** — window 2026-03-10 00:00 → 2026-03-11 00:00 UTC",
            "",
            f"Scored by [credit-risk version 1]({version_url}).",
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
