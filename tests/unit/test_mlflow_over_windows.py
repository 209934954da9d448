"""The model's MLflow summary run reads over windows: one point per window at the window's end, the
newest evaluation's value, checked in a real MLflow store (SQLite through `MlflowClient`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from mlflow.tracking import MlflowClient

from tasks.tracking_tasks import Tracking, find_summary_runs, write_summary_run
from watchkeeper import tracking as wk_tracking
from watchkeeper.verdict import Severity

DAY0 = datetime(2026, 3, 1, tzinfo=UTC)


def _window(day: int, *, verdict: str = "ok", drift_share: float = 0.1, realized: float | None = None) -> Any:
    figures = {
        "verdict.level": float(Severity.parse(verdict)),
        "drift.share": drift_share,
        "window.label_coverage": 0.0 if realized is None else 0.7,
        "serving.latency_p95_ms": 100.0 + day,
        "drift.age.score": 0.5,  # not a summary figure
    }
    if realized is not None:
        figures["perf.realized.roc_auc"] = realized
    end = DAY0 + timedelta(days=day)
    return {"window_end": end, "verdict": verdict, "summary": {"figures": figures}}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Tracking:
    # One store for the module (creating an MLflow SQLite store takes seconds); one experiment a test.
    uri = f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"
    return Tracking(MlflowClient(uri), uri, "http://127.0.0.1:5000")


def _write(tracking: Tracking, windows: list[Any], evaluated: list[datetime], experiment: str) -> str:
    result = write_summary_run(
        tracking,
        experiment=experiment,
        model="m",
        windows=windows,
        evaluated=evaluated,
        primary_metric="roc_auc",
    )
    return result["run_id"]


def _history(tracking: Tracking, run_id: str, key: str) -> list[tuple[int, datetime, float]]:
    points = tracking.client.get_metric_history(run_id, key)
    return sorted((p.step, datetime.fromtimestamp(p.timestamp / 1000, UTC), p.value) for p in points)


def test_summary_run_has_one_point_per_window_at_its_end_newest_evaluation_wins(store: Tracking) -> None:
    windows = [_window(1), _window(2, drift_share=0.2)]
    first = _write(store, windows, [w["window_end"] for w in windows], "newest")
    # A new window is appended to the same run.
    windows.append(_window(3, verdict="warning", drift_share=0.3))
    assert _write(store, windows, [windows[-1]["window_end"]], "newest") == first
    # Day 2 re-evaluated with late labels (critical now) while day 4 is monitored: rewritten.
    windows[1] = _window(2, verdict="critical", drift_share=0.2, realized=0.399)
    windows.append(_window(4))
    latest = _write(store, windows, [windows[1]["window_end"], windows[-1]["window_end"]], "newest")

    exp = store.client.get_experiment_by_name("newest")
    (run,) = find_summary_runs(store.client, exp.experiment_id)  # the old one is deleted
    assert run.info.run_id == latest != first
    assert run.info.run_name == "m over windows"
    ends = [DAY0 + timedelta(days=d) for d in (1, 2, 3, 4)]
    assert _history(store, latest, "1-verdict") == [
        (1, ends[0], 0.0),
        (2, ends[1], 2.0),  # the re-evaluation's verdict, not a second point
        (3, ends[2], 1.0),
        (4, ends[3], 0.0),
    ]
    assert _history(store, latest, "2-drift-share") == [
        (1, ends[0], 0.1),
        (2, ends[1], 0.2),
        (3, ends[2], 0.3),
        (4, ends[3], 0.1),
    ]
    # Only windows with labels have a realized quality.
    assert _history(store, latest, "3-roc_auc-realized") == [(2, ends[1], 0.399)]
    assert run.data.tags[wk_tracking.TAG_SUMMARY_WINDOWS] == "4"
    assert run.data.tags[wk_tracking.TAG_KIND] == "summary"
    # Verdict and key figures first: MLflow orders chart keys by name; nothing else is logged.
    keys = sorted(store.client.get_run(latest).data.metrics)
    assert keys == [
        "1-verdict",
        "2-drift-share",
        "3-roc_auc-realized",
        "5-label-coverage",
        "6-latency-p95-ms",
    ]


def test_a_window_filled_in_behind_the_newest_rewrites_in_window_order(store: Tracking) -> None:
    windows = [_window(1), _window(3)]
    first = _write(store, windows, [w["window_end"] for w in windows], "behind")
    windows.insert(1, _window(2, drift_share=0.9))  # a backfill of the day in between
    latest = _write(store, windows, [windows[1]["window_end"]], "behind")
    assert latest != first
    assert [(s, v) for s, _, v in _history(store, latest, "2-drift-share")] == [(1, 0.1), (2, 0.9), (3, 0.1)]


@pytest.mark.parametrize(
    ("logged", "last_day", "days", "evaluated", "appendable"),
    [
        (0, None, [1], [1], True),  # an empty run takes its first window
        (2, 2, [1, 2, 3], [3], True),  # the next window
        (2, 2, [1, 2, 3, 4], [4], True),  # day 3 was spooled during an outage: both appended
        (2, 2, [1, 2, 3], [2, 3], False),  # day 2 re-evaluated
        (2, 3, [1, 2, 3], [3], False),  # the newest window evaluated again
        (2, 3, [1, 2, 3, 4], [4], False),  # the state database holds a window the run does not
    ],
)
def test_summary_appends_only_newer_windows(
    logged: int, last_day: int | None, days: list[int], evaluated: list[int], appendable: bool
) -> None:
    def day(d: int) -> datetime:
        return DAY0 + timedelta(days=d)

    last = day(last_day) if last_day is not None else None
    ends, done = [day(d) for d in days], [day(d) for d in evaluated]
    assert wk_tracking.summary_appendable(logged, last, ends, done) is appendable


def test_window_runs_chart_only_the_firing_count_of_the_alert_section() -> None:
    class Figures:  # `metrics_for` reads only the report's figures
        def figures(self) -> dict[str, float]:
            return {
                "alerts.firing": 2.0,
                "alerts.pending": 1.0,
                "alerts.outbox_pending": 0.0,
                "drift.share": 0.5,
            }

    assert wk_tracking.metrics_for(Figures()) == {"alerts/firing": 2.0, "drift/share": 0.5}  # type: ignore[arg-type]
