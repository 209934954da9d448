"""The alert lifecycle as a state machine (docs/alerts.md): its steps, escalation, and properties
over random sequences of windows that hold, clear, await their labels or are not judged."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from watchkeeper.alerting import AlertsConfig, MemoryChannel, evaluate_alerts
from watchkeeper.alerting import store as db
from watchkeeper.alerting.lifecycle import (
    CLEARED,
    NOT_EVALUATED,
    AlertMemory,
    Judgement,
    escalates,
    excess,
    step,
)
from watchkeeper.state import StateStore, open_state

from .conftest import NOW, day

LAG = timedelta(days=2)  # the label lag of the windows that await their labels
AUC = {"name": "auc", "condition": "perf.realized.roc_auc < 0.9", "severity": "critical"}


def config(*rules: dict[str, Any], **extra: Any) -> AlertsConfig:
    return AlertsConfig.model_validate({"default_rules": False, "rules": list(rules), **extra})


def walk(judged: list[Judgement], *, for_: int = 1, resolve_after: int = 1) -> list[tuple[str, str | None]]:
    memory, out = AlertMemory(), []
    for n, j in enumerate(judged, start=1):
        result = step(memory, j, for_=for_, resolve_after=resolve_after, window_end=day(n))
        memory = result.memory
        out.append((memory.status, result.transition))
    return out


def test_the_steps() -> None:
    assert walk(["holds", "holds", "clear"], for_=2) == [
        ("pending", None),
        ("firing", "fired"),
        ("inactive", "resolved"),
    ]
    # awaiting labels decides nothing; unjudged resolves a firing alert after resolve_after windows
    assert walk(["holds", "awaiting", "awaiting", "unjudged", "unjudged"], resolve_after=2) == [
        ("firing", "fired"),
        ("firing", None),
        ("firing", None),
        ("firing", None),
        ("inactive", "resolved"),
    ]
    # a pending alert not judged goes back to inactive without a transition
    assert walk(["holds", "unjudged"], for_=2) == [("pending", None), ("inactive", None)]
    # a judgement in between starts the count of unjudged windows again
    assert walk(["holds", "unjudged", "holds", "unjudged"], resolve_after=2)[-1] == ("firing", None)


def test_why_it_resolved() -> None:
    firing = AlertMemory(status="firing", count=1, fired_at=day(1))
    assert step(firing, "clear", for_=1, resolve_after=1, window_end=day(2)).reason == CLEARED
    assert step(firing, "unjudged", for_=1, resolve_after=1, window_end=day(2)).reason == NOT_EVALUATED


@pytest.mark.parametrize(
    ("op", "value", "threshold", "expected"),
    [
        (">", 300.0, 250.0, 50.0),  # above an upper threshold
        ("<", 0.66, 0.9187, 0.2587),  # below a lower band: the realized AUC collapse of the issue
        ("==", 1.0, 1.0, None),  # a check's finding has no direction to worsen in
        (">", None, 250.0, None),
    ],
)
def test_excess(op: str, value: float | None, threshold: float, expected: float | None) -> None:
    assert excess(op, value, threshold) == (None if expected is None else pytest.approx(expected))


def test_escalates() -> None:
    assert escalates(0.2587, 0.0012, 2.0)  # 0.9175 → 0.66 under a band at 0.9187
    assert not escalates(0.0020, 0.0012, 2.0)  # worse, but not twice as far
    assert escalates(0.0024, 0.0012, 2.0)
    assert not escalates(0.0010, 0.0012, 2.0)  # better
    assert escalates(0.1, 0.0, 2.0)  # from exactly on the threshold
    assert not escalates(0.5, 0.1, None)  # escalation off


def test_a_firing_alert_that_gets_much_worse_is_announced_again(store: StateStore) -> None:
    cfg = config({**AUC, "condition": "perf.realized.roc_auc < perf.band.roc_auc.lower"})
    ch = MemoryChannel()

    def run(n: int, auc: float) -> None:
        figures = {"perf.realized.roc_auc": auc, "perf.band.roc_auc.lower": 0.9187}
        evaluate_alerts(
            figures, model="m", window_end=day(n), config=cfg, store=store, channels=[ch], now=NOW
        )

    run(1, 0.9175)  # 0.0012 short: fires, announced
    run(2, 0.9170)  # a little worse: silent (repeat_interval is 3 days)
    run(3, 0.66)  # collapsed: announced again, marked as worse
    run(4, 0.65)  # no worse than twice the last announcement: silent
    events = [e for m in ch.messages for e in m.events]
    assert [(e.window_end, e.status, e.escalated, e.repeat) for e in events] == [
        (day(1), "firing", False, False),
        (day(3), "firing", True, False),
    ]
    assert events[1].fired_at == day(1)
    # announced, not a new episode: the trail has one fired entry
    assert [e["event"] for e in store.read_audit(model="m")] == ["alert.fired"]


def test_a_sub_section_finding_clears_when_its_section_ran(store: StateStore) -> None:
    """`drift.multivariate`'s finding resolves on a clean day (its section is two names deep)."""
    finding = "finding.drift.multivariate.drift_multivariate.warning"
    cfg = AlertsConfig.model_validate({"default_rules": False})
    report = evaluate_alerts(
        {finding: 1.0, "drift.multivariate.alert": 1.0}, model="m", window_end=day(1), config=cfg, store=store
    )
    assert [(a.rule, a.state) for a in report.alerts] == [("drift_multivariate", "firing")]
    clean = evaluate_alerts(
        {"drift.multivariate.alert": 0.0}, model="m", window_end=day(2), config=cfg, store=store, now=NOW
    )
    assert [(a.rule, a.state, a.reason) for a in clean.alerts] == [
        ("drift_multivariate", "resolved", CLEARED)
    ]


def test_a_rule_removed_from_the_config_resolves(store: StateStore) -> None:
    lat = {"name": "lat", "condition": "serving.latency_p95_ms > 250"}
    ch = MemoryChannel()
    hot = {"serving.latency_p95_ms": 300.0}
    evaluate_alerts(
        hot, model="m", window_end=day(1), config=config(lat), store=store, channels=[ch], now=NOW
    )
    report = evaluate_alerts(
        hot, model="m", window_end=day(2), config=config(), store=store, channels=[ch], now=NOW
    )
    assert [(a.rule, a.state, a.reason) for a in report.alerts] == [("lat", "resolved", NOT_EVALUATED)]
    assert [e.status for m in ch.messages for e in m.events] == ["firing", "resolved"]
    later = evaluate_alerts(hot, model="m", window_end=day(3), config=config(), store=store, now=NOW)
    assert later.alerts == ()


# A window's outcome for a latency rule (judged, not judged) and for a realized rule (judged, or
# awaiting its labels, or not judged once the lag has passed).
_OUTCOMES = st.sampled_from(["holds", "clear", "unjudged", "awaiting"])


def _window(store: StateStore, cfg: AlertsConfig, ch: MemoryChannel, n: int, outcome: str) -> Any:
    """Day `n` judges the realized rule as `outcome` (the latency figure is always there)."""
    figures = {"serving.latency_p95_ms": 100.0}
    if outcome in ("holds", "clear"):
        figures["perf.realized.roc_auc"] = 0.7 if outcome == "holds" else 0.95
    return evaluate_alerts(
        figures,
        model="m",
        window_end=day(n),
        config=cfg,
        store=store,
        channels=[ch],
        now=NOW,
        # an awaiting window is inside its label lag; any other has all its labels
        labels_complete_until=day(n) - LAG if outcome == "awaiting" else None,
    )


@settings(max_examples=40, deadline=None)
@given(
    outcomes=st.lists(_OUTCOMES, min_size=1, max_size=10),
    for_=st.integers(1, 3),
    resolve_after=st.integers(1, 3),
    reruns=st.lists(st.booleans(), min_size=10, max_size=10),
)
def test_every_episode_resolves_once_and_nothing_is_sent_twice(
    outcomes: list[str], for_: int, resolve_after: int, reruns: list[bool]
) -> None:
    """Over any sequence of windows (some run twice, as retried runs are): every firing episode is
    resolved exactly once or is still firing at the end, in the state table, the audit trail and the
    notifications alike; no notification is sent twice."""
    cfg = config({**AUC, "for": for_, "resolve_after": resolve_after, "repeat_interval": "30d"})
    store = open_state("sqlite:///:memory:")
    ch = MemoryChannel()
    last: Any = None
    for n, outcome in enumerate(outcomes, start=1):
        for _ in range(2 if reruns[n - 1] else 1):
            last = _window(store, cfg, ch, n, outcome)
    events = [e for m in ch.messages for e in m.events]
    keys = [(e.status, e.window_end) for e in events]
    assert len(keys) == len(set(keys)), "a notification was sent twice"
    statuses = [s for s, _ in keys]
    assert statuses == ["firing" if i % 2 == 0 else "resolved" for i in range(len(statuses))]
    # the trail tells the same episodes as the notifications, window for window
    audit = [(e["event"], e["window_end"]) for e in store.read_audit(model="m")]
    assert [("firing" if k == "alert.fired" else "resolved", w) for k, w in audit] == keys
    # the stored state agrees: open at the end exactly when the last transition was a firing
    fp = last.alerts[0].fingerprint
    _, at = db.load_states_as_of(store, "m", day(len(outcomes)))
    final = at[fp].state["status"]
    still_open = bool(keys) and keys[-1][0] == "firing"
    assert (final == "firing") == still_open
    counts = Counter(s for s, _ in keys)
    assert counts["firing"] - counts["resolved"] == int(still_open)


def test_labels_that_stop_coming_end_the_episode_once_the_lag_has_passed(store: StateStore) -> None:
    """Concept drift fired on a window's labels; then no window ever gets labels again. Each window
    awaits its labels, until the first one it awaited since is past its lag, never judged."""
    ch = MemoryChannel()
    cfg = config(AUC)
    _window(store, cfg, ch, 1, "holds")
    states = []
    for n in (2, 3, 4):
        report = _window(store, cfg, ch, n, "awaiting")
        states.append((report.alerts[0].state, report.alerts[0].reason))
    # day 2 and 3 await; on day 4, day 2's labels are all in (the lag passed) and never judged it
    assert states == [("unknown", None), ("unknown", None), ("resolved", NOT_EVALUATED)]
    assert [(e.status, e.window_end) for m in ch.messages for e in m.events] == [
        ("firing", day(1)),
        ("resolved", day(4)),
    ]


def test_awaiting_then_unjudged_resolves_where_the_lag_ran_out() -> None:
    """A window awaiting labels carries the episode; the first one past its lag without them ends it."""
    store = open_state("sqlite:///:memory:")
    ch = MemoryChannel()
    cfg = config(AUC)
    for n, outcome in enumerate(["holds", "awaiting", "unjudged"], start=1):
        _window(store, cfg, ch, n, outcome)
    assert [(e.status, e.window_end) for m in ch.messages for e in m.events] == [
        ("firing", day(1)),
        ("resolved", day(3)),
    ]
