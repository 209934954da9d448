"""Alert episodes read back from the audit trail, and the dashboard's resolve markers."""

from __future__ import annotations

from watchkeeper.alerting import AlertsConfig, MemoryChannel, evaluate_alerts
from watchkeeper.alerting.episodes import alert_episodes
from watchkeeper.alerting.lifecycle import CLEARED, NOT_EVALUATED
from watchkeeper.dashboard import collect_dashboard_data
from watchkeeper.state import StateStore

from .conftest import NOW, day

CFG = AlertsConfig.model_validate(
    {
        "default_rules": False,
        "rules": [
            {"name": "lat", "condition": "serving.latency_p95_ms > 250"},
            {"name": "errors", "condition": "serving.error_rate > 0.05", "severity": "critical"},
        ],
    }
)


def _run(store: StateStore, n: int, figures: dict[str, float]) -> None:
    evaluate_alerts(
        figures, model="m", window_end=day(n), config=CFG, store=store, channels=[MemoryChannel()], now=NOW
    )


def test_episodes_say_what_fired_when_and_why_it_resolved(store: StateStore) -> None:
    _run(store, 1, {"serving.latency_p95_ms": 300.0, "serving.error_rate": 0.1})
    _run(store, 2, {"serving.latency_p95_ms": 100.0, "serving.error_rate": 0.1})  # latency cleared
    _run(store, 3, {"serving.latency_p95_ms": 400.0})  # errors not judged: over; latency fires again
    episodes = alert_episodes(store.read_audit(model="m"))
    assert [(e.rule, e.fired_window, e.resolved_window, e.reason) for e in episodes] == [
        ("errors", day(1), day(3), NOT_EVALUATED),
        ("lat", day(1), day(2), CLEARED),
        ("lat", day(3), None, None),
    ]
    assert [e.open for e in episodes] == [False, False, True]


def test_the_dashboard_marks_each_resolution_with_its_reason(store: StateStore) -> None:
    _run(store, 1, {"serving.latency_p95_ms": 300.0})
    _run(store, 2, {"drift.share": 0.1})
    data = collect_dashboard_data(store, "m", now=NOW)
    assert [(e.kind, e.label) for e in data.events] == [
        ("alert.fired", "lat (warning)"),
        ("alert.resolved", "lat (warning)"),
    ]
    assert data.events[1].detail.endswith("resolved: no longer evaluated")
