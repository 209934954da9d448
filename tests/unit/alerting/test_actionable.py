"""Alerts people can act on (issue 25): since when, the numbers behind the rule, links, runbooks,
notices that are not alerts, and one severity per rule — in every channel.

Each case judges a window the way the monitor flow does (`judge_window`, then `evaluate_alerts`
with the judgement's finding sentences and rule evidence), takes the message a channel received and
renders it for every channel: console text, Slack (fallback text and Block Kit), the generic webhook,
PagerDuty and Alertmanager's annotations.
"""

from __future__ import annotations

import json
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from watchkeeper.alerting import AlertContext, AlertsConfig, AlertsReport, MemoryChannel, evaluate_alerts
from watchkeeper.alerting.alertmanager import alertmanager_alerts
from watchkeeper.alerting.config import AlertmanagerChannelConfig
from watchkeeper.alerting.defaults import DEFAULT_RULES
from watchkeeper.alerting.judge import judge_window
from watchkeeper.alerting.messages import AlertMessage
from watchkeeper.alerting.render import render_generic, render_pagerduty, render_slack, render_text
from watchkeeper.retraining import EVENT_PROMOTED, EVENT_RETRAIN_STARTED, build_lifecycle_message
from watchkeeper.state import StateStore
from watchkeeper.validation.report import ExpectationResult, ValidationReport
from watchkeeper.verdict import Finding, Severity

from .conftest import NOW, day

MODEL = "credit-risk"
BASE = "https://git.example/wk/blob/main/"
DASHBOARD = "https://grafana.example/d/wk?var-model=credit-risk"
MLFLOW = "http://mlflow.example/#/experiments/1/runs/abc"
PREFECT = "http://prefect.example/runs/flow-run/xyz"
CONFIG = AlertsConfig.model_validate(
    {"links": {"runbook_base_url": BASE, "dashboard_url": "https://grafana.example/d/wk?var-model={model}"}}
)
AM = AlertmanagerChannelConfig.model_validate({"type": "alertmanager", "url_env": "AM_URL"})


def judge_and_alert(
    store: StateStore,
    figures: dict[str, float],
    section_findings: dict[str, list[Finding]],
    n: int = 1,
) -> tuple[AlertMessage, AlertsReport]:
    """One window as the monitor flow judges it; the message the (only) channel got."""
    judgement = judge_window(
        figures, section_findings=section_findings, errors={}, rules=CONFIG.effective_rules(), model=MODEL
    )
    channel = MemoryChannel()
    report = evaluate_alerts(
        {**figures, **judgement.finding_figures},
        model=MODEL,
        window_end=day(n),
        config=CONFIG,
        store=store,
        findings=dict(judgement.finding_messages),
        evidence=dict(judgement.rule_evidence),
        context=AlertContext(
            model_version="3",
            window_start=day(n) - timedelta(days=1),
            mlflow_run_url=MLFLOW,
            prefect_flow_run_url=PREFECT,
            verdict=judgement.verdict.label,
        ),
        channels=[channel],
        now=NOW,
    )
    # A window that announces nothing (an alert between its repeats) gives an empty message.
    return (channel.messages[-1] if channel.messages else AlertMessage(MODEL, day(n), ())), report


def rendered(message: AlertMessage) -> dict[str, str]:
    """What each channel would send, as text to search."""
    text, blocks = render_slack(message)
    return {
        "console": render_text(message),
        "slack text": text,
        "slack blocks": json.dumps(blocks, ensure_ascii=False),
        "webhook": json.dumps(render_generic(message), ensure_ascii=False),
        "pagerduty": json.dumps(
            [render_pagerduty(e, message, "rk") for e in message.events], ensure_ascii=False
        ),
        "alertmanager": json.dumps(alertmanager_alerts(message, now=NOW, config=AM), ensure_ascii=False),
    }


def assert_everywhere(message: AlertMessage, *needles: str, but: tuple[str, ...] = ()) -> None:
    for channel, text in rendered(message).items():
        for needle in needles:
            assert needle in text, f"{channel} lacks {needle!r}:\n{text}"
        for needle in but:
            assert needle not in text, f"{channel} has {needle!r}:\n{text}"


def validation_findings() -> list[Finding]:
    results = (
        ExpectationResult(
            0,
            "expect_column_values_to_be_in_set",
            Severity.CRITICAL,
            False,
            "purpose",
            unexpected_count=157,
            unexpected_percent=15.7,
            unexpected_sample=("crypto",),
            message="'purpose': 157 rows (15.70%) with values outside the expected set, e.g. 'crypto'",
        ),
        ExpectationResult(1, "expect_column_values_to_not_be_null", Severity.WARNING, True, "income"),
    )
    return ValidationReport("credit-risk", 1000, results).findings()


def test_a_validation_alert_names_the_expectation_its_share_and_examples(store: StateStore) -> None:
    figures = {"validation.critical_failures": 1.0, "validation.warning_failures": 0.0}
    message, _ = judge_and_alert(store, figures, {"validation": validation_findings()})
    (event,) = message.events
    assert (event.rule, event.severity) == ("validation_failure", "critical")
    assert_everywhere(
        message,
        "'purpose': 157 rows (15.70%) with values outside the expected set, e.g. 'crypto'",
        "firing since 2024-03-01 (1 window)",
        f"{BASE}docs/runbooks/validation_failure.md",
        DASHBOARD,
        but=("see the validation section",),
    )
    # Links the message carries beside the runbook (Alertmanager: generatorURL and annotations).
    for channel, text in rendered(message).items():
        assert MLFLOW in text and PREFECT in text, channel


def test_firing_since_counts_the_windows_it_held(store: StateStore) -> None:
    figures = {"serving.latency_p95_ms": 900.0}
    judge_and_alert(store, figures, {}, n=1)
    # Repeats are announced every `repeat_interval` (3 days): day 4 is the next announcement.
    for n in (2, 3):
        judge_and_alert(store, figures, {}, n=n)
    message, _ = judge_and_alert(store, figures, {}, n=4)
    (event,) = message.events
    assert event.repeat and event.windows == 4
    assert_everywhere(message, "firing since 2024-03-01 (4 windows)", "serving.latency_p95_ms = 900")


def test_a_concept_drift_alert_gives_realized_against_estimated(store: StateStore) -> None:
    figures = {
        "perf.concept_drift": 1.0,
        "perf.realized.roc_auc": 0.399,
        "perf.estimated.roc_auc": 0.838,
        "perf.estimated.roc_auc.lower": 0.80,
        "perf.estimated.roc_auc.upper": 0.87,
        "perf.band.roc_auc.lower": 0.79,
        "perf.band.roc_auc.upper": 0.86,
        "drift.impact.income.rank": 1.0,
        "drift.impact.age.rank": 2.0,
    }
    finding = Finding(
        "perf.concept",
        Severity.CRITICAL,
        "Concept drift: realized roc_auc 0.3990 is outside CBPE's expectation [0.8000, 0.8700] on the same rows.",
        rule="concept_drift",
    )
    message, _ = judge_and_alert(store, figures, {"perf.concept": [finding]})
    rules = {e.rule for e in message.events}
    assert "concept_drift" in rules
    concept = next(e for e in message.events if e.rule == "concept_drift")
    assert concept.evidence[:2] == (
        finding.message,
        "realized ROC AUC 0.399 against estimated 0.838 (expected 0.8–0.87 on the same rows)",
    )
    assert_everywhere(
        message,
        "realized ROC AUC 0.399 against estimated 0.838",
        "Most impact on the model: income (1), age (2)",
        f"{BASE}docs/runbooks/concept_drift.md",
        # A flag's figure (`perf.concept_drift = 1 (== 1)`) says nothing: the numbers above do.
        but=("perf.concept_drift = 1",),
    )


def test_a_target_drift_alert_gives_the_targets_score_not_feature_columns(store: StateStore) -> None:
    figures = {
        "drift.share": 0.1,
        "drift.n_drifted": 1.0,
        "drift.n_columns": 10.0,
        "drift.age.drifted": 1.0,
        "drift.age.score": 0.4,
        "drift.target.drifted": 1.0,
        "drift.target.score": 0.31,
    }
    finding = Finding(
        "drift", Severity.WARNING, "Target drift in default: chi2 0.31 (threshold 0.05).", rule="target_drift"
    )
    message, _ = judge_and_alert(store, figures, {"drift": [finding]})
    (event,) = message.events
    assert event.rule == "target_drift"
    assert event.details == ()
    assert_everywhere(
        message,
        "Target drift in default: chi2 0.31 (threshold 0.05).",
        "target drift score 0.31 against the reference",
        but=("Drifted feature columns", "age (0.4"),
    )


def test_a_promotion_is_a_notice_not_an_alert() -> None:
    config: Any = SimpleNamespace(model=SimpleNamespace(name=MODEL))
    message = build_lifecycle_message(
        config,
        event=EVENT_PROMOTED,
        version="4",
        summary="v4 beats v3 on roc_auc: 0.861 against 0.842",
        window_end=day(3),
        now=NOW,
    )
    assert message.firing == () and message.resolved == () and message.status == "notice"
    out = rendered(message)
    assert out["console"].splitlines()[0] == f"{MODEL} · notice · {EVENT_PROMOTED}"
    assert f"NOTICE {EVENT_PROMOTED}: v4 beats v3" in out["console"]
    for channel in ("console", "slack text", "slack blocks", "webhook"):
        text = out[channel]
        assert "FIRING" not in text and "WARNING" not in text and "firing since" not in text, channel
    assert "NOTICE" in out["slack blocks"] and ":information_source:" in out["slack text"]
    generic = render_generic(message)
    assert generic["status"] == "notice"
    assert generic["in_message"]["firing"] == 0 and generic["in_message"]["notices"] == 1
    assert generic["alerts"][0]["kind"] == "notice"
    # PagerDuty: a change event (no incident, nothing to resolve); Alertmanager: not an alert at all.
    (change,) = [render_pagerduty(e, message, "rk") for e in message.events]
    assert "event_action" not in change and "dedup_key" not in change
    assert change["payload"]["summary"].startswith(f"{MODEL}: {EVENT_PROMOTED}: v4 beats v3")
    assert alertmanager_alerts(message, now=NOW, config=AM) == []


def test_only_the_highest_severity_of_a_rule_is_shown_and_counted(store: StateStore) -> None:
    figures = {
        "drift.share": 0.62,
        "drift.n_drifted": 5.0,
        "drift.n_columns": 8.0,
        "drift.income.drifted": 1.0,
        "drift.income.score": 0.4,
        "drift.income.effect_size": 0.9,
        "drift.impact.income.rank": 1.0,
    }
    judgement = judge_window(
        figures, section_findings={}, errors={}, rules=CONFIG.effective_rules(), model=MODEL
    )
    assert [(f.rule, f.severity) for f in judgement.findings] == [("data_drift", Severity.CRITICAL)]
    message, report = judge_and_alert(store, figures, {})
    assert [(e.rule, e.severity) for e in message.events] == [("data_drift", "critical")]
    assert message.window_firing == 1
    assert report.figures()["firing"] == 1.0
    # Both lines still have their state (the warning one inhibited), the artifact lists one.
    assert sorted((a.rule, a.severity, a.state) for a in report.alerts if a.rule == "data_drift") == [
        ("data_drift", "critical", "firing"),
        ("data_drift", "warning", "firing"),
    ]
    table = [line for line in report.to_markdown().splitlines() if "| data_drift |" in line]
    assert len(table) == 1 and "| critical |" in table[0]
    assert_everywhere(
        message,
        "income (0.4, effect 0.9, impact rank 1)",
        f"{BASE}docs/runbooks/data_drift.md",
        but=("WARNING · data_drift", "- WARNING data_drift"),
    )
    assert " · 1 firing" in render_text(message).splitlines()[0]


@pytest.mark.parametrize("rule", DEFAULT_RULES, ids=lambda r: f"{r.name}/{r.severity}")
def test_every_built_in_rule_links_its_runbook(rule: Any) -> None:
    # Each built-in rule links docs/runbooks/<rule>.md, and that runbook exists.
    from pathlib import Path

    assert rule.annotations.runbook_url == f"docs/runbooks/{rule.name}.md"
    assert (Path(__file__).parents[3] / rule.annotations.runbook_url).is_file()


def test_links_must_be_http_urls() -> None:
    with pytest.raises(ValueError, match=r"alerts\.links\.dashboard_url"):
        AlertsConfig.model_validate({"links": {"dashboard_url": "file:///tmp/x.html"}})
    assert AlertsConfig().links.runbook("docs/runbooks/no_data.md") == "docs/runbooks/no_data.md"
    assert CONFIG.links.runbook("https://runbooks.example/x") == "https://runbooks.example/x"


def test_a_retraining_started_is_a_notice_without_a_version() -> None:
    config: Any = SimpleNamespace(model=SimpleNamespace(name=MODEL))

    def started(run_id: str) -> AlertMessage:
        return build_lifecycle_message(
            config,
            event=EVENT_RETRAIN_STARTED,
            version=None,
            summary=f"retraining {MODEL} (concept drift)",
            window_end=day(3),
            now=NOW,
            instance=run_id,
        )

    message = started("run-1")
    (event,) = message.events
    assert event.is_notice and "version" not in event.labels
    # Two retrainings of one window are two notices; a retried run (same id) is one.
    assert started("run-2").events[0].fingerprint != event.fingerprint
    assert started("run-1").events[0].fingerprint == event.fingerprint
    assert render_text(message).splitlines()[0] == f"{MODEL} · notice · {EVENT_RETRAIN_STARTED}"


def test_a_resolved_alert_says_where_its_rule_fires_not_that_it_still_holds() -> None:
    from datetime import UTC, datetime

    from watchkeeper.alerting.messages import AlertEvent
    from watchkeeper.alerting.render import metric_line

    def event(status: str, value: float) -> AlertEvent:
        return AlertEvent(
            fingerprint="f",
            rule="high_error_rate",
            status=status,
            severity="warning",
            labels={"model": "m"},
            summary="",
            condition="serving.error_rate > 0.01",
            metric="serving.error_rate",
            value=value,
            op=">",
            threshold=0.01,
            window_end=datetime(2026, 3, 10, tzinfo=UTC),
        )

    assert metric_line(event("firing", 0.02)) == "serving.error_rate = 0.02 (> 0.01)"
    assert metric_line(event("resolved", 0.005)) == "serving.error_rate = 0.005 (fires at > 0.01)"
