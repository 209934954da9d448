"""A backfill replays the past as it was (Prefect harness, real MLflow stores).

Labels arrive two days after their requests (`label_timestamp`), the label lag is three days, and
every label file is on disk before anything runs, those of days after the backfill's end included.
The same days are monitored one by one (`monitor(window_end=…)`, as the scheduled runs would have)
and backfilled (its windows prepared in parallel), each in a fresh state directory: the windows'
records, the alert transitions, the notifications and the audit trail must be the same. The demo's
concept change (day 10) must show no earlier than its labels arrive; judged in hindsight, it shows at
once, and the run says so.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from mlflow.tracking import MlflowClient
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags

from tests.e2e.conftest import Scenario
from watchkeeper import demo_data, tracking
from watchkeeper.alerting.store import alert_deliveries, alert_transitions
from watchkeeper.presentation import HINDSIGHT_TAG
from watchkeeper.state import open_state
from watchkeeper.windows import HINDSIGHT_NOTE

pytestmark = pytest.mark.slow

FIRST, LAST = 10, 12  # the concept changes from day 10 (demo_data.CONCEPT_FROM)
LATE = timedelta(days=2)  # labels arrive two days after their requests


def _write_data(root: Path) -> Scenario:
    scenario = Scenario(root)
    config = yaml.safe_load(scenario.config_path.read_text())
    config["window"]["label_lag"] = "3d"
    config["retraining"]["enabled"] = False  # what is compared is the monitoring, not a new model
    config["execution"] = {"workers": 2}
    scenario.config_path.write_text(yaml.safe_dump(config))
    for day in range(FIRST, LAST + 1):
        labels = scenario.write_day(day)
        # demo_data stamps arrivals LABEL_DELAY after the request: moved to LATE after it.
        labels["label_timestamp"] = labels["label_timestamp"] - demo_data.LABEL_DELAY + LATE
        for arrival_day, part in labels.groupby(labels["label_timestamp"].dt.floor("D")):
            target = root / "labels" / f"date={arrival_day:%Y-%m-%d}"
            target.mkdir(parents=True, exist_ok=True)
            part.to_parquet(target / f"requests-of-day-{day}.parquet")
    return scenario


def _use_state(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root.mkdir()
    monkeypatch.setenv("WATCHKEEPER_STATE_DIR", str(root / "state"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")


def _figures(figures: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in figures.items() if not k.startswith("footprint.")}  # costs differ


def _outcome() -> dict[str, Any]:
    """What the runs left in the state database, without times, run ids and costs."""
    store = open_state()
    model = "e2e-model"
    windows = {
        w["window_end"].isoformat(): {
            "rows": w["n_rows"],
            "labeled": w["n_labeled"],
            "verdict": w["verdict"],
            "figures": _figures(w["summary"]["figures"]),
            "reasons": w["summary"]["reasons"],
            "labels_as_of": w["summary"]["labels_as_of"],
            "hindsight": w["summary"]["hindsight"],
        }
        for w in store.list_windows(model)
    }
    with store.begin() as conn:
        t, d = alert_transitions, alert_deliveries
        transitions = sorted(
            (r.window_end.isoformat(), r.rule, r.severity, r.state, r.previous, r.inputs)
            for r in conn.execute(sa.select(t).where(t.c.model == model))
        )
        deliveries = sorted((r.key, r.state, r.status) for r in conn.execute(sa.select(d)))
    audit = [
        (e["event"], e["window_end"], e["evidence"].get("rule"), e["decision"])
        for e in store.read_audit(model=model)
    ]
    return {"windows": windows, "transitions": transitions, "deliveries": deliveries, "audit": audit}


def test_backfill_equals_the_days_run_one_by_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from flows.backfill import backfill
    from flows.monitor import monitor

    scenario = _write_data(tmp_path / "data")
    config = str(scenario.config_path)
    end = {day: scenario.window_end(day) for day in range(FIRST - 1, LAST + 1)}

    # The days one by one, as their scheduled runs would have judged them; after each run, what the
    # state database says about every window (re-evaluated ones included).
    _use_state(tmp_path / "one-by-one", monkeypatch)
    seen: dict[int, dict[str, dict[str, float]]] = {}
    for day in range(FIRST, LAST + 1):
        report = monitor(config, window_end=end[day])
        # Judged at its end, a window has none of its labels (they arrive two days later).
        assert report.figures()["window.label_coverage"] == 0.0
        assert report.labels_as_of == end[day] and not report.hindsight
        seen[day] = {
            w["window_end"].isoformat(): w["summary"]["figures"]
            for w in open_state().list_windows("e2e-model")
        }
    one_by_one = _outcome()

    _use_state(tmp_path / "backfill", monkeypatch)
    results = backfill(config, start=end[FIRST - 1], end=end[LAST])
    assert [r["window_end"] for r in results] == [end[d].isoformat() for d in range(FIRST, LAST + 1)]
    assert all(r["prepared_ahead"] for r in results)  # the parallel path judged them, as of their ends
    backfilled = _outcome()

    # The scenario tests something: windows re-evaluated with late labels, alerts that moved.
    windows = one_by_one["windows"]
    assert windows[end[FIRST].isoformat()]["labeled"] > 0  # day 10's labels landed by day 12's run
    assert windows[end[LAST].isoformat()]["labeled"] == 0  # day 12's land after the last run
    assert one_by_one["transitions"] and one_by_one["deliveries"] and one_by_one["audit"]
    for key in ("windows", "transitions", "deliveries", "audit"):
        assert backfilled[key] == one_by_one[key], key

    # The concept change is found no earlier than its labels arrive: the first run whose records show
    # it judges as of a time at or after the arrival of the changed days' first labels.
    detected = [
        day for day in sorted(seen) if any(f.get("perf.concept_drift") == 1.0 for f in seen[day].values())
    ]
    assert detected, "the concept change was never found: the scenario tests nothing"
    first_arrival = demo_data.day_plan(demo_data.CONCEPT_FROM).start + LATE
    assert end[detected[0]] >= first_arrival
    assert detected[0] == demo_data.CONCEPT_FROM + 2

    # In hindsight the same day 10 sees the labels that arrived later, and every view says so.
    _use_state(tmp_path / "hindsight", monkeypatch)
    hindsight = monitor(config, window_end=end[demo_data.CONCEPT_FROM], hindsight=True)
    figures = hindsight.figures()
    assert hindsight.hindsight and hindsight.labels_as_of is None
    assert figures["window.label_coverage"] > 0.5
    assert figures["perf.concept_drift"] == 1.0
    assert HINDSIGHT_NOTE in hindsight.section("window").notes
    assert "**Hindsight**" in hindsight.to_markdown()
    (stored,) = [
        w for w in open_state().list_windows("e2e-model") if w["window_end"] == end[demo_data.CONCEPT_FROM]
    ]
    assert stored["summary"]["hindsight"] is True
    client = MlflowClient()
    run = client.get_run(hindsight.mlflow_run_id)
    assert run.data.tags[tracking.TAG_LABELS] == "hindsight"
    with get_client(sync_client=True) as prefect:
        tagged = prefect.read_flow_runs(
            flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[HINDSIGHT_TAG]))
        )
    assert hindsight.flow_run_id in {str(r.id) for r in tagged}
    assert "**Hindsight**" in run.data.tags[tracking.TAG_NOTE]
