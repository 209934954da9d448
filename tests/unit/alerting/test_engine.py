"""Engine semantics: pending → firing → resolved, repeat, unknown, re-runs, inhibition, silences."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from watchkeeper.alerting import (
    AlertContext,
    AlertsConfig,
    AlertsReport,
    MemoryChannel,
    add_silence,
    evaluate_alerts,
    expire_silence,
    list_silences,
    parse_matchers,
)
from watchkeeper.alerting import store as db
from watchkeeper.state import StateStore, open_state
from watchkeeper.timegrid import FutureWindowError
from watchkeeper.verdict import SectionReport, Severity

from .conftest import NOW, day

LAT = {"name": "lat", "condition": "serving.latency_p95_ms > 250"}
HOT = {"serving.latency_p95_ms": 300.0}


def config(*rules: dict[str, Any], **extra: Any) -> AlertsConfig:
    return AlertsConfig.model_validate({"default_rules": False, "rules": list(rules), **extra})


def run(
    store: StateStore,
    cfg: AlertsConfig,
    figures: dict[str, float],
    n: int,
    *channels: MemoryChannel,
    now: datetime = NOW,
    awaiting: bool = False,
) -> AlertsReport:
    return evaluate_alerts(
        figures,
        model="churn",
        window_end=day(n),
        config=cfg,
        store=store,
        context=AlertContext(model_version="7", window_start=day(n) - timedelta(days=1)),
        channels=list(channels),
        now=now,
        # awaiting: the window is inside a week-long label lag
        labels_complete_until=day(n) - timedelta(days=7) if awaiting else None,
    )


def states(report: AlertsReport) -> list[str]:
    return [a.state for a in report.alerts]


def sent(channel: MemoryChannel) -> list[list[tuple[str, str]]]:
    """(rule/severity, status) of each event of each message the channel received."""
    return [[(f"{e.rule}/{e.severity}", e.status) for e in m.events] for m in channel.messages]


def test_fires_after_for_windows_and_resolves(store: StateStore) -> None:
    cfg = config({**LAT, "for": 3})
    ch = MemoryChannel()
    seen = [states(run(store, cfg, {"serving.latency_p95_ms": 300}, n, ch)) for n in (1, 2, 3)]
    assert seen == [["pending"], ["pending"], ["firing"]]
    assert sent(ch) == [[("lat/warning", "firing")]]
    event = ch.messages[0].events[0]
    assert (event.metric, event.value, event.op, event.threshold) == ("serving.latency_p95_ms", 300, ">", 250)
    assert event.fired_at == day(3)

    report = run(store, cfg, {"serving.latency_p95_ms": 100}, 4, ch)
    assert states(report) == ["resolved"] and report.alerts[0].notified == "resolved"
    assert sent(ch)[-1] == [("lat/warning", "resolved")]
    assert states(run(store, cfg, {"serving.latency_p95_ms": 100}, 5, ch)) == ["inactive"]
    assert len(ch.messages) == 2


def test_pending_resets_when_the_condition_breaks(store: StateStore) -> None:
    cfg = config({**LAT, "for": 2})
    ch = MemoryChannel()
    values = [300, 100, 300, 300]
    seen = [states(run(store, cfg, {"serving.latency_p95_ms": v}, n + 1, ch)) for n, v in enumerate(values)]
    # a pending alert that clears goes back to inactive silently: nothing was announced
    assert seen == [["pending"], ["inactive"], ["pending"], ["firing"]]
    assert sent(ch) == [[("lat/warning", "firing")]]


def test_repeat_interval_in_window_time(store: StateStore) -> None:
    cfg = config({**LAT, "repeat_interval": "2d"})
    ch = MemoryChannel()
    notified = []
    for n in range(1, 7):
        report = run(store, cfg, {"serving.latency_p95_ms": 300}, n, ch)
        notified.append(report.alerts[0].notified)
    # announced on day 1, then again once 2 days of *windows* have passed (days 3 and 5)
    assert notified == ["firing", None, "firing", None, "firing", None]
    assert [m.events[0].repeat for m in ch.messages] == [False, True, True]


def test_default_repeat_interval_is_three_days(store: StateStore) -> None:
    ch = MemoryChannel()
    cfg = config(LAT)
    for n in range(1, 5):
        run(store, cfg, {"serving.latency_p95_ms": 300}, n, ch)
    assert [m.window_end for m in ch.messages] == [day(1), day(4)]


def test_send_resolved_false(store: StateStore) -> None:
    cfg = config({**LAT, "send_resolved": False})
    ch = MemoryChannel()
    run(store, cfg, {"serving.latency_p95_ms": 300}, 1, ch)
    report = run(store, cfg, {"serving.latency_p95_ms": 100}, 2, ch)
    assert states(report) == ["resolved"]
    assert sent(ch) == [[("lat/warning", "firing")]]


def test_a_firing_alert_not_judged_resolves_as_no_longer_evaluated(store: StateStore) -> None:
    cfg = config(LAT)
    ch = MemoryChannel()
    run(store, cfg, {"serving.latency_p95_ms": 300}, 1, ch)
    # the window has no serving figures: the rule is not judged; after `resolve_after` (1) such
    # window the episode is over, with the reason, announced and audited once
    report = run(store, cfg, {"drift.share": 0.1}, 2, ch)
    assert states(report) == ["resolved"] and report.alerts[0].outcome == "unknown"
    assert report.alerts[0].reason == "no longer evaluated"
    assert report.figures()["firing"] == 0 and report.figures()["unknown"] == 1
    assert sent(ch) == [[("lat/warning", "firing")], [("lat/warning", "resolved")]]
    assert (
        ch.messages[1].events[0].summary == "lat is no longer evaluated (no serving.latency_p95_ms): resolved"
    )
    audit = [(e["event"], e["evidence"]["reason"]) for e in store.read_audit(model="churn")]
    assert audit == [("alert.fired", None), ("alert.resolved", "no longer evaluated")]
    # judged again later: a new episode
    assert states(run(store, cfg, {"serving.latency_p95_ms": 300}, 3, ch)) == ["firing"]
    assert len(ch.messages) == 3


def test_unknown_keeps_state_until_resolve_after(store: StateStore) -> None:
    cfg = config(LAT, resolve_after=2)
    ch = MemoryChannel()
    run(store, cfg, {"serving.latency_p95_ms": 300}, 1, ch)
    # one window without serving figures: not judged here (so not firing in it), memory carried on
    report = run(store, cfg, {"drift.share": 0.1}, 2, ch)
    assert states(report) == ["unknown"] and report.alerts[0].outcome == "unknown"
    assert report.figures()["firing"] == 0
    report = run(store, cfg, {"serving.latency_p95_ms": 10}, 3, ch)
    assert states(report) == ["resolved"] and report.alerts[0].reason == "the condition no longer holds"
    assert sent(ch) == [[("lat/warning", "firing")], [("lat/warning", "resolved")]]


def test_a_rule_awaiting_its_labels_keeps_its_state(store: StateStore) -> None:
    """Inside the label lag a realized rule is not unjudged but awaiting: nothing is decided."""
    cfg = config({"name": "auc", "condition": "perf.realized.roc_auc < 0.8", "severity": "critical"})
    ch = MemoryChannel()
    run(store, cfg, {"perf.realized.roc_auc": 0.7}, 1, ch)
    for n in (2, 3):
        report = evaluate_alerts(
            {"drift.share": 0.1},
            model="churn",
            window_end=day(n),
            config=cfg,
            store=store,
            channels=[ch],
            now=NOW,
            labels_complete_until=day(n) - timedelta(days=7),
        )
        assert states(report) == ["unknown"] and report.alerts[0].awaiting_labels
    assert sent(ch) == [[("auc/critical", "firing")]]
    # once the lag has passed without the figure, it is no longer evaluated
    assert states(run(store, cfg, {"drift.share": 0.1}, 4, ch)) == ["resolved"]


def test_rerunning_a_window_does_not_notify_again(store: StateStore) -> None:
    cfg = config({**LAT, "for": 2})
    ch = MemoryChannel()
    run(store, cfg, {"serving.latency_p95_ms": 300}, 1, ch)
    first = run(store, cfg, {"serving.latency_p95_ms": 300}, 2, ch)
    again = run(store, cfg, {"serving.latency_p95_ms": 300}, 2, ch)
    # same state (computed from the state before day 2, not advanced twice), nothing re-sent
    assert states(first) == states(again) == ["firing"]
    assert again.alerts[0].consecutive == 2
    assert [n.status for n in first.notifications] == ["sent"]
    assert [n.status for n in again.notifications] == ["duplicate"]
    assert len(ch.messages) == 1
    # re-running with different figures recomputes that window from the same starting state
    # (late data); the firing it announced no longer holds, so it is retracted as resolved
    changed = run(store, cfg, {"serving.latency_p95_ms": 100}, 2, ch)
    assert states(changed) == ["resolved"] and changed.alerts[0].consecutive == 0
    assert sent(ch) == [[("lat/warning", "firing")], [("lat/warning", "resolved")]]
    assert [e["event"] for e in store.read_audit(model="churn")] == ["alert.fired", "alert.resolved"]
    # and the next window starts from scratch
    assert states(run(store, cfg, {"serving.latency_p95_ms": 300}, 3, ch)) == ["pending"]


def test_an_older_window_reads_the_state_as_of_itself(store: StateStore) -> None:
    """Alert state follows window time: an old window starts from the state before it, and what
    later windows saw (and were sent) stays as it was."""
    cfg = config(LAT)
    ch = MemoryChannel()
    run(store, cfg, {"serving.latency_p95_ms": 300}, 3, ch)
    old = run(store, cfg, {"serving.latency_p95_ms": 100}, 1, ch)
    assert states(old) == ["inactive"] and old.alerts[0].outcome == "false"
    assert old.notifications == ()
    # day 4 continues from day 3, not from day 1: still firing, nothing new to send
    assert states(run(store, cfg, {"serving.latency_p95_ms": 300}, 4, ch)) == ["firing"]
    assert len(ch.messages) == 1
    # re-running day 3 after day 4 reproduces it: firing, already sent
    again = run(store, cfg, {"serving.latency_p95_ms": 300}, 3, ch)
    assert states(again) == ["firing"] and [n.status for n in again.notifications] == ["duplicate"]
    assert len(ch.messages) == 1


def test_a_rerun_reproduces_even_after_an_earlier_window_was_re_evaluated(store: StateStore) -> None:
    cfg = config({"name": "auc", "condition": "perf.realized.roc_auc < 0.8", "severity": "critical"}, LAT)
    ch = MemoryChannel()
    run(store, cfg, {"serving.latency_p95_ms": 100}, 1, ch, awaiting=True)
    first = run(store, cfg, {"serving.latency_p95_ms": 300}, 2, ch, awaiting=True)
    # day 1's labels land: re-evaluated, the realized rule fires there
    run(store, cfg, {"serving.latency_p95_ms": 100, "perf.realized.roc_auc": 0.7}, 1, ch)
    sent_before = len(ch.messages)
    again = run(store, cfg, {"serving.latency_p95_ms": 300}, 2, ch, awaiting=True)
    # the re-run reproduces day 2 as it was; its row keeps what is known now (day 1's firing,
    # carried into day 2, which awaited its labels), and nothing is sent
    assert [a.to_dict() for a in again.alerts] == [a.to_dict() for a in first.alerts]
    assert len(ch.messages) == sent_before
    fp = again.alerts[0].fingerprint
    assert db.load_states_as_of(store, "churn", day(2))[1][fp].state["status"] == "firing"
    # day 2's labels land: now day 2 continues from day 1's re-evaluation and resolves the alert
    late = run(store, cfg, {"serving.latency_p95_ms": 300, "perf.realized.roc_auc": 0.9}, 2, ch)
    assert [(a.rule, a.state) for a in late.alerts] == [("auc", "resolved"), ("lat", "firing")]


def test_a_window_in_the_future_is_refused_without_touching_state(store: StateStore) -> None:
    cfg = config(LAT)
    with pytest.raises(FutureWindowError, match="in the future"):
        evaluate_alerts(
            HOT, model="churn", window_end=NOW + timedelta(days=1), config=cfg, store=store, now=NOW
        )
    assert db.load_states_as_of(store, "churn", NOW + timedelta(days=30)) == ({}, {})


def test_grouping_and_min_severity(store: StateStore) -> None:
    cfg = config(
        LAT,
        {"name": "errors", "condition": "serving.error_rate > 0.05", "severity": "critical"},
    )
    everything, critical = MemoryChannel("all"), MemoryChannel("oncall", min_severity="critical")
    report = run(
        store, cfg, {"serving.latency_p95_ms": 300, "serving.error_rate": 0.1}, 1, everything, critical
    )
    # one message per model and run, holding both alerts; the critical channel only gets its share
    assert sent(everything) == [[("lat/warning", "firing"), ("errors/critical", "firing")]]
    assert sent(critical) == [[("errors/critical", "firing")]]
    assert everything.messages[0].severity is Severity.CRITICAL
    assert sorted(n.channel for n in report.notifications) == ["all", "oncall"]


def test_critical_inhibits_warning_of_same_rule(store: StateStore) -> None:
    cfg = config(LAT, {**LAT, "condition": "serving.latency_p95_ms > 1000", "severity": "critical"})
    ch = MemoryChannel()
    report = run(store, cfg, {"serving.latency_p95_ms": 1500}, 1, ch)
    assert states(report) == ["firing", "firing"]
    assert [a.muted_by for a in report.alerts] == ["inhibited:lat/critical", None]
    assert report.figures()["inhibited"] == 1
    assert sent(ch) == [[("lat/critical", "firing")]]
    # the critical clears while the warning still holds: now the warning is announced
    run(store, cfg, {"serving.latency_p95_ms": 400}, 2, ch)
    assert sent(ch)[-1] == [("lat/warning", "firing"), ("lat/critical", "resolved")]


def test_no_data_inhibits_drift_and_performance(store: StateStore) -> None:
    cfg = config(
        {"name": "no_data", "condition": "window.no_data == 1", "severity": "critical"},
        {"name": "drift", "condition": "drift.share > 0.3"},
        {"name": "perf", "condition": "perf.estimated.roc_auc < 0.7"},
        LAT,
    )
    ch = MemoryChannel()
    figures = {
        "window.no_data": 1,
        "drift.share": 0.9,
        "perf.estimated.roc_auc": 0.5,
        "serving.latency_p95_ms": 900,
    }
    report = run(store, cfg, figures, 1, ch)
    muted = {a.rule: a.muted_by for a in report.alerts}
    assert muted == {
        "no_data": None,
        "drift": "inhibited:no_data/critical",
        "perf": "inhibited:no_data/critical",
        "lat": None,  # serving figures are not muted by no data
    }
    assert sent(ch) == [[("no_data/critical", "firing"), ("lat/warning", "firing")]]


def test_default_rules_on_a_no_data_window(store: StateStore) -> None:
    ch = MemoryChannel()
    report = run(store, AlertsConfig(), {"window.no_data": 1, "window.rows": 0}, 1, ch)
    firing = [a.rule for a in report.alerts if a.state == "firing"]
    assert firing == ["no_data"]
    # every other built-in rule lacks its figures: unknown, not firing, not resolved
    assert report.figures()["unknown"] == len(report.alerts) - 1
    assert sent(ch) == [[("no_data/critical", "firing")]]
    assert ch.messages[0].events[0].summary == "No inference logs in the window"


def test_silence_mutes_until_expired(store: StateStore) -> None:
    cfg = config(LAT, {"name": "errors", "condition": "serving.error_rate > 0.05"})
    ch = MemoryChannel()
    sid = add_silence(
        store, "churn", {"alertname": "l*"}, NOW + timedelta(hours=4), "deploy in progress", "ana", now=NOW
    )
    assert [s.id for s in list_silences(store, "churn", now=NOW)] == [sid]
    figures = {"serving.latency_p95_ms": 300, "serving.error_rate": 0.1}
    report = run(store, cfg, figures, 1, ch)
    assert [a.muted_by for a in report.alerts] == [f"silence:{sid}", None]
    assert report.figures()["silenced"] == 1
    assert sent(ch) == [[("errors/warning", "firing")]]

    assert expire_silence(store, sid, now=NOW + timedelta(hours=1))
    assert not expire_silence(store, sid, now=NOW + timedelta(hours=1))  # already ended
    assert list_silences(store, "churn", now=NOW + timedelta(hours=2)) == []
    assert len(list_silences(store, "churn", include_expired=True, now=NOW + timedelta(hours=2))) == 1
    # still firing after the silence ended: it is announced now (it never was)
    run(store, cfg, figures, 2, ch, now=NOW + timedelta(hours=2))
    assert sent(ch)[-1] == [("lat/warning", "firing")]
    events = [e["event"] for e in store.read_audit(model="churn")]
    assert events == [
        "alert.silence_added",
        "alert.silenced",
        "alert.fired",
        "alert.silence_expired",
    ]


def test_silence_expires_on_its_own_and_wildcard_model(store: StateStore) -> None:
    cfg = config(LAT)
    ch = MemoryChannel()
    add_silence(store, "*", {}, NOW + timedelta(minutes=30), "maintenance", "ops", now=NOW)
    run(store, cfg, {"serving.latency_p95_ms": 300}, 1, ch)
    assert ch.messages == []
    run(store, cfg, {"serving.latency_p95_ms": 300}, 2, ch, now=NOW + timedelta(hours=1))
    assert sent(ch) == [[("lat/warning", "firing")]]


def test_silence_validation(store: StateStore) -> None:
    with pytest.raises(ValueError, match="before it starts"):
        add_silence(store, "churn", {}, NOW - timedelta(hours=1), "x", "a", now=NOW)
    with pytest.raises(ValueError, match="comment"):
        add_silence(store, "churn", {}, NOW + timedelta(hours=1), " ", "a", now=NOW)
    with pytest.raises(ValueError, match="timezone-aware"):
        add_silence(store, "churn", {}, datetime(2030, 1, 1), "x", "a", now=NOW)


def test_templates_and_drift_details(store: StateStore) -> None:
    cfg = config(
        {
            "name": "drift",
            "condition": "drift.share >= 0.5",
            "annotations": {
                "summary": "{value:.0%} drifted ({drift.n_drifted:.0f}/{drift.n_columns:.0f}) on {model} v{version}",
                "description": "missing: {perf.realized.roc_auc}",
            },
        }
    )
    ch = MemoryChannel()
    figures = {
        "drift.share": 2 / 3,
        "drift.n_drifted": 2,
        "drift.n_columns": 3,
        "drift.age.drifted": 1,
        "drift.age.score": 0.2,
        "drift.income.drifted": 1,
        "drift.income.score": 0.7,
        "drift.city.drifted": 0,
        "drift.city.score": 0.01,
    }
    run(store, cfg, figures, 1, ch)
    event = ch.messages[0].events[0]
    assert event.summary == "67% drifted (2/3) on churn v7"
    assert event.description == "missing: n/a"
    assert event.details == ("Drifted feature columns (2):", "income (0.7)", "age (0.2)")


def test_labels_make_identity(store: StateStore) -> None:
    cfg = config({**LAT, "labels": {"team": "a"}})
    cfg_b = config({**LAT, "labels": {"team": "b"}})
    ch = MemoryChannel()
    a = run(store, cfg, {"serving.latency_p95_ms": 300}, 1, ch)
    b = run(store, cfg_b, {"serving.latency_p95_ms": 300}, 2, ch)
    assert a.alerts[0].fingerprint != b.alerts[0].fingerprint
    assert a.alerts[0].labels == {"team": "a", "alertname": "lat", "severity": "warning", "model": "churn"}
    # a different identity is a different alert: announced on its own
    assert len(ch.messages) == 2


def test_console_is_the_default_channel(store: StateStore, capsys: pytest.CaptureFixture[str]) -> None:
    report = evaluate_alerts(
        {"serving.latency_p95_ms": 300},
        model="churn",
        window_end=day(1),
        config=config(LAT),
        store=store,
        now=NOW,
    )
    out = capsys.readouterr().out
    # No verdict in the context (none given): the header still counts what fires in the window.
    assert "churn · until 2024-03-01 00:00 · 1 firing\n" in out
    assert "serving.latency_p95_ms = 300 (> 250)" in out
    assert [n.channel for n in report.notifications] == ["console"]


def test_disabled_and_naive_window(store: StateStore) -> None:
    report = evaluate_alerts(
        {"serving.latency_p95_ms": 300},
        model="churn",
        window_end=day(1),
        config=AlertsConfig(enabled=False),
        store=store,
    )
    assert not report.enabled and report.alerts == () and "disabled" in report.to_markdown()
    with pytest.raises(ValueError, match="timezone-aware"):
        evaluate_alerts({}, model="m", window_end=datetime(2024, 1, 1), config=AlertsConfig(), store=store)


def test_report_is_a_json_section(store: StateStore) -> None:
    cfg = config(LAT, {"name": "nan", "condition": "drift.share > 0.1"})
    failing = MemoryChannel("broken", fail=True)
    report = run(store, cfg, {"serving.latency_p95_ms": 300, "drift.share": float("nan")}, 1, failing)
    assert isinstance(report, SectionReport)
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert data["figures"]["firing"] == 1 and data["figures"]["notifications_failed"] == 1
    assert [a["state"] for a in data["alerts"]] == ["firing", "unknown"]
    assert data["alerts"][1]["value"] is None  # NaN is None in JSON
    assert data["notifications"][0]["status"] == "queued"
    assert "refusing" in data["notifications"][0]["error"]
    (finding,) = report.findings()
    assert finding.severity is Severity.OK and "outbox" in finding.message
    md = report.to_markdown()
    assert "| firing | warning | lat | 2024-03-01 (1 window) | `serving.latency_p95_ms` | 300 | > 250 |" in md
    assert "| broken | queued | 1 | 1 |" in md
    assert report.window_end.tzinfo is UTC


def test_late_labels_advance_a_realized_performance_rule(store: StateStore) -> None:
    """Realized metrics await labels; the monitor then re-evaluates old windows."""
    cfg = config({"name": "auc", "condition": "perf.realized.roc_auc < 0.8", "severity": "critical"}, LAT)
    ch = MemoryChannel()
    for n in (1, 2, 3):  # no labels yet: the perf rule awaits them, the latency rule is known
        report = run(store, cfg, {"serving.latency_p95_ms": 100}, n, ch, awaiting=True)
        assert report.alerts[0].outcome == "unknown" and report.alerts[0].awaiting_labels
    # day 3's run re-evaluates day 1, whose labels arrived: older than day 3, but not for this rule
    late = run(store, cfg, {"serving.latency_p95_ms": 100, "perf.realized.roc_auc": 0.7}, 1, ch)
    assert [(a.rule, a.state) for a in late.alerts] == [("auc", "firing"), ("lat", "inactive")]
    assert sent(ch) == [[("auc/critical", "firing")]]
    assert ch.messages[0].window_end == day(1)
    # the firing is carried into days 2 and 3, which awaited their labels
    rows = db.load_later_states(store, "churn", [late.alerts[0].fingerprint], day(1))
    assert [r.state["status"] for r in rows[late.alerts[0].fingerprint]] == ["firing", "firing"]
    # day 4 without labels: awaiting, nothing new; day 2's labels are fine: resolved (from day 1)
    assert states(run(store, cfg, {"serving.latency_p95_ms": 100}, 4, ch, awaiting=True)) == [
        "unknown",
        "inactive",
    ]
    late = run(store, cfg, {"serving.latency_p95_ms": 100, "perf.realized.roc_auc": 0.9}, 2, ch)
    assert late.alerts[0].state == "resolved"
    assert sent(ch)[-1] == [("auc/critical", "resolved")]
    # and the resolution is carried into days 3 and 4
    rows = db.load_later_states(store, "churn", [late.alerts[0].fingerprint], day(2))
    assert [r.state["status"] for r in rows[late.alerts[0].fingerprint]] == ["inactive", "inactive"]
    assert [e["event"] for e in store.read_audit(model="churn")] == ["alert.fired", "alert.resolved"]


def test_a_carried_firing_resolves_where_the_rule_went_unjudged(store: StateStore) -> None:
    """A re-evaluation that fires an alert carries it into later windows; a later window whose labels
    were complete but that could not judge it resolves it there, audited and announced once."""
    cfg = config({"name": "auc", "condition": "perf.realized.roc_auc < 0.8", "severity": "critical"}, LAT)
    ch = MemoryChannel()
    run(store, cfg, {"serving.latency_p95_ms": 100}, 1, ch, awaiting=True)
    run(store, cfg, {"serving.latency_p95_ms": 100}, 2, ch)  # lag passed, no labeled row: unjudged
    run(store, cfg, {"serving.latency_p95_ms": 100}, 3, ch, awaiting=True)
    report = run(store, cfg, {"serving.latency_p95_ms": 100, "perf.realized.roc_auc": 0.7}, 1, ch)
    assert report.alerts[0].state == "firing"
    # one message: fired on day 1, over on day 2
    assert sent(ch) == [[("auc/critical", "firing"), ("auc/critical", "resolved")]]
    assert [e.window_end for m in ch.messages for e in m.events] == [day(1), day(2)]
    audit = [(e["event"], e["window_end"]) for e in store.read_audit(model="churn")]
    assert audit == [("alert.fired", day(1)), ("alert.resolved", day(2))]
    fp = report.alerts[0].fingerprint
    rows = db.load_later_states(store, "churn", [fp], day(1))[fp]
    assert [(r.state["status"], r.state["transition"]) for r in rows] == [
        ("inactive", "resolved"),
        ("inactive", None),
    ]
    # re-running day 1 on the same figures changes nothing and sends nothing
    run(store, cfg, {"serving.latency_p95_ms": 100, "perf.realized.roc_auc": 0.7}, 1, ch)
    assert len(ch.messages) == 1 and len(store.read_audit(model="churn")) == 2


def test_parse_matchers() -> None:
    assert parse_matchers(["alertname=data_drift", " severity = warn* "]) == {
        "alertname": "data_drift",
        "severity": "warn*",
    }
    with pytest.raises(ValueError, match="label=value"):
        parse_matchers(["alertname"])


def test_console_can_log(store: StateStore, caplog: pytest.LogCaptureFixture) -> None:
    cfg = config(LAT, channels=[{"type": "console", "stream": "log"}])
    with caplog.at_level(logging.WARNING, logger="watchkeeper.alerting"):
        evaluate_alerts(HOT, model="churn", window_end=day(1), config=cfg, store=store, now=NOW)
    assert any(r.getMessage().startswith("churn · until 2024-03-01 00:00 · 1 firing") for r in caplog.records)


_VALUES = st.sampled_from([300.0, 100.0, None])  # hot, cool, figure missing


@settings(max_examples=25, deadline=None)
@given(
    values=st.lists(_VALUES, min_size=1, max_size=8),
    for_=st.integers(1, 3),
    repeat_days=st.integers(1, 4),
)
def test_reruns_never_change_what_is_sent(values: list[float | None], for_: int, repeat_days: int) -> None:
    """Running every window twice sends exactly what running it once sends, and the stream of
    messages of an alert is always: firing, (repeats), resolved — never a resolved out of nowhere."""
    cfg = config({**LAT, "for": for_, "repeat_interval": f"{repeat_days}d"})

    def play(times: int) -> list[tuple[str, bool, datetime]]:
        store = open_state("sqlite:///:memory:")
        ch = MemoryChannel()
        for n, v in enumerate(values, start=1):
            figures = {} if v is None else {"serving.latency_p95_ms": v}
            for _ in range(times):
                run(store, cfg, figures, n, ch)
        return [(e.status, e.repeat, e.window_end) for m in ch.messages for e in m.events]

    once, twice = play(1), play(2)
    assert once == twice
    firing = False
    for status, repeat, _ in once:
        if status == "firing":
            assert repeat == firing  # a repeat only while firing, a first firing only when not
            firing = True
        else:
            assert firing
            firing = False
