"""The dashboard's data from the state database and its figures, without a browser (see
tests/e2e/test_dashboard_browser.py for the page in Chromium)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from watchkeeper.dashboard import PANELS, build_figures, collect_dashboard_data, render_dashboard
from watchkeeper.state import open_state

DAY = datetime(2026, 3, 1, tzinfo=UTC)


def _store_with_two_windows():
    store = open_state("sqlite:///:memory:")
    for i, (verdict, figures) in enumerate(
        [
            ("ok", {"drift.share": 0.0, "drift.age.score": 0.01, "drift.age.drifted": 0.0}),
            ("critical", {"drift.share": 0.5, "drift.age.score": 0.4, "drift.age.drifted": 1.0}),
        ]
    ):
        start = DAY + timedelta(days=i)
        store.record_window(
            model="m",
            window_start=start,
            window_end=start + timedelta(days=1),
            n_rows=10,
            n_labeled=0,
            verdict=verdict,
            usable_for_training=True,
            mlflow_run_id=f"run-{i}",
            summary={"figures": figures, "reasons": [f"[{verdict}] because"], "model_versions": ["1"]},
        )
    store.append_audit(
        model="m",
        event="alert.fired",
        window_start=DAY + timedelta(days=1),
        window_end=DAY + timedelta(days=2),
        evidence={"rule": "data_drift", "severity": "critical", "metric": "drift.share", "value": 0.5},
    )
    store.append_audit(
        model="m",
        event="deploy.promoted",
        window_end=DAY + timedelta(days=2),
        evidence={"version": "2"},
        reasons=["better"],
    )
    return store


def test_collect_prefers_mlflow_figures_and_places_events_on_their_window() -> None:
    store = _store_with_two_windows()
    data = collect_dashboard_data(
        store,
        "m",
        now=DAY + timedelta(days=3),
        run_metrics={"run-1": {"drift/share": 0.6, "drift/age/score": 0.45}},
    )
    first, second = data.windows
    assert (first.figures_source, first.figures["drift.share"]) == ("state", 0.0)
    assert (second.figures_source, second.figures) == (
        "mlflow",
        {"drift.share": 0.6, "drift.age.score": 0.45},
    )
    assert [(e.kind, e.label, e.at) for e in data.events] == [
        ("alert.fired", "data_drift (critical)", DAY + timedelta(days=1)),
        # Without a start in the audit row: the start of the window that ended then.
        ("promoted", "v2", DAY + timedelta(days=1)),
    ]
    # A duration counts back from the latest window's end, so a replayed past still shows.
    recent = collect_dashboard_data(store, "m", now=DAY, since=timedelta(days=1))
    assert [w.verdict for w in recent.windows] == ["critical"]


def test_figures_draw_the_recorded_values() -> None:
    data = collect_dashboard_data(_store_with_two_windows(), "m", now=DAY + timedelta(days=3))
    figures = build_figures(data)
    assert set(figures) == set(PANELS)
    verdict = figures["verdict"]["data"][0]
    assert verdict["marker"]["color"] == ["#2e7d32", "#c62828"]
    heatmap = figures["drift"]["data"][0]
    assert (heatmap["y"], heatmap["z"], heatmap["customdata"]) == (["age"], [[0.0, 1.0]], [[0.01, 0.4]])
    (annotation,) = figures["drift"]["layout"]["annotations"]
    assert annotation["text"] == "promoted v2"
    page = render_dashboard(data, plotly_js="/* plotly */")
    assert page.count('class="panel"') == len(PANELS)
    assert "[critical] because" in page and "<script src" not in page


def test_the_heatmap_puts_most_impact_over_the_windows_shown_on_top() -> None:
    store = open_state("sqlite:///:memory:")
    # income moved the model on days 1 and 2; day 3 ranks age first. purpose drifts, never ranked.
    ranks = [{"income": 1.0, "age": 2.0}, {"income": 1.0, "age": 2.0}, {"age": 1.0, "income": 2.0}]
    for i, ranked in enumerate(ranks):
        start = DAY + timedelta(days=i)
        figures = {f"drift.{c}.score": 0.3 for c in ("age", "income", "purpose")}
        figures |= {f"drift.impact.{c}.rank": r for c, r in ranked.items()}
        store.record_window(
            model="m",
            window_start=start,
            window_end=start + timedelta(days=1),
            n_rows=10,
            n_labeled=0,
            verdict="warning",
            usable_for_training=True,
            mlflow_run_id=f"run-{i}",
            summary={"figures": figures, "reasons": [], "model_versions": ["1"]},
        )

    def rows(since: timedelta | None) -> list[str]:
        data = collect_dashboard_data(store, "m", now=DAY + timedelta(days=4), since=since)
        return build_figures(data)["drift"]["data"][0]["y"]

    # Mean rank over the three windows: income 4/3, age 5/3, purpose 3 (one past each window's last).
    assert rows(None) == ["income", "age", "purpose"]
    # Only the newest window shown: its own order.
    assert rows(timedelta(days=1)) == ["age", "income", "purpose"]


def test_a_rule_firing_at_two_severities_is_one_marker_at_the_higher() -> None:
    store = _store_with_two_windows()
    for severity in ("warning", "critical"):  # both lines of data_drift fired in window 2 …
        store.append_audit(
            model="m",
            event="alert.fired",
            window_start=DAY + timedelta(days=1),
            window_end=DAY + timedelta(days=2),
            evidence={"rule": "data_drift", "severity": severity, "metric": "drift.share", "value": 0.5},
        )
    store.append_audit(  # … and the warning line alone the day before
        model="m",
        event="alert.fired",
        window_start=DAY,
        window_end=DAY + timedelta(days=1),
        evidence={"rule": "data_drift", "severity": "warning", "metric": "drift.share", "value": 0.35},
    )
    data = collect_dashboard_data(store, "m", now=DAY + timedelta(days=3))
    fired = [(e.at, e.label) for e in data.events if e.kind == "alert.fired"]
    assert fired == [(DAY + timedelta(days=1), "data_drift (critical)"), (DAY, "data_drift (warning)")]
