"""One judgement per window, end to end over the demo (Prefect harness, MLflow store, a real local
Slack receiver reached through slack-sdk).

The demo's 14 windows run once; then every place that shows a window — the console, report.json in
MLflow, its MLflow tags, the state database, the Prefect artifacts, Slack and the audit trail — must
tell the same story: the verdict is the worst of the findings, each finding names a rule whose
alert holds in that window, and every alert that fired is one of that window's findings. Then past
windows are re-run (after later ones, after a window in the future was refused, after a promotion)
and must come out identical, sending nothing.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from mlflow.tracking import MlflowClient

from tests.unit.alerting.conftest import RecordingServer
from watchkeeper import demo_data, tracking
from watchkeeper.alerting import store as alert_db
from watchkeeper.alerting.episodes import alert_episodes
from watchkeeper.dashboard import collect_dashboard_data
from watchkeeper.presentation import window_name
from watchkeeper.state import open_state
from watchkeeper.timegrid import FutureWindowError
from watchkeeper.timeutil import utcnow

pytestmark = pytest.mark.slow

MODEL = "credit-risk"
SEVERITY = {"ok": 0, "warning": 1, "critical": 2}
# What legitimately differs between two evaluations of the same window: when and by which run it
# was evaluated, what the run cost, and what its deliveries did (a re-run's are duplicates).
_VOLATILE = ("evaluated_at", "flow_run_id", "mlflow_run_id")


@pytest.fixture
def slack(monkeypatch: pytest.MonkeyPatch) -> Iterator[RecordingServer]:
    server = RecordingServer()
    server.start()
    monkeypatch.setenv("WATCHKEEPER_SLACK_WEBHOOK_URL", f"{server.url}/hook")
    yield server
    server.stop()


def _window_end(day: int) -> Any:
    return demo_data.day_plan(day).start + timedelta(days=1)


def _reports(client: MlflowClient) -> dict[str, tuple[Any, dict[str, Any]]]:
    """Each window's MLflow run and its report.json, by window end tag."""
    exp = client.get_experiment_by_name(f"watchkeeper/{MODEL}")
    assert exp is not None
    runs = client.search_runs([exp.experiment_id], filter_string=f"tags.`{tracking.TAG_KIND}` = 'monitor'")
    out = {}
    for run in runs:
        path = client.download_artifacts(run.info.run_id, tracking.REPORT_ARTIFACT)
        out[run.data.tags[tracking.TAG_WINDOW_END]] = (run, json.loads(Path(path).read_text()))
    return out


def _judged(report: dict[str, Any]) -> set[tuple[str, str]]:
    return {(f["rule"], f["severity"]) for f in report["findings"]}


def _comparable(report: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in report.items() if k not in _VOLATILE}
    out["figures"] = {
        k: v
        for k, v in report["figures"].items()
        if not k.startswith("footprint.")
        and not k.startswith("alerts.notifications")
        and k != "alerts.outbox_pending"
    }
    sections = dict(report["sections"])
    sections.pop("footprint", None)
    if "alerts" in sections:
        alerts = {k: v for k, v in sections["alerts"].items() if k != "notifications"}
        alerts["figures"] = {
            k: v
            for k, v in alerts["figures"].items()
            if not k.startswith("notifications") and k != "outbox_pending"
        }
        sections["alerts"] = alerts
    out["sections"] = sections
    return out


def _differences(a: Any, b: Any, path: str = "") -> list[str]:
    """Where two JSON values differ, as paths (so a failure says what changed)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(set(a) | set(b)) for d in _differences(a.get(k), b.get(k), f"{path}.{k}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [
            d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in _differences(x, y, f"{path}[{i}]")
        ]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"[:300]]


def _slack_events(server: RecordingServer) -> list[tuple[str, str, str, str]]:
    """(window end, status, rule, severity) of every event Slack received."""
    out = []
    for request in server.requests:
        blocks = request.body["blocks"]
        fields = {f["text"].split("\n")[0].strip("*"): f["text"].split("\n")[1] for f in blocks[1]["fields"]}
        end = fields["Window"].split("→")[-1].strip().removesuffix(" UTC")
        for block in blocks[2:]:
            head = re.match(
                r"\S+ \*(RESOLVED|WARNING|CRITICAL) · ([^*]+)\*", block.get("text", {}).get("text", "")
            )
            if head:
                state, rule = head.groups()
                status = "resolved" if state == "RESOLVED" else "firing"
                out.append((end, status, rule, state.lower()))
    return out


def _console_events(text: str) -> list[tuple[str, str, str]]:
    """(window end, rule, severity) of every firing event the console channel printed."""
    out, end = [], None
    for line in text.splitlines():
        window = re.match(r"\s+window: .*→ (.+) UTC$", line)
        if window:
            end = window.group(1)
        event = re.match(r"\s+- (WARNING|CRITICAL) (\S+?)( \(still firing\))?: ", line)
        if event and end:
            out.append((end, event.group(2), event.group(1).lower()))
    return out


def _artifacts() -> list[Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            # The verdict card of every window (keys per model and window, `window_artifact_key`).
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(like_=f"{MODEL}-%-verdict"))
        )
    return sorted(found, key=lambda a: a.created)


def test_every_view_of_every_demo_window_agrees_and_reruns_reproduce(
    state: Path, slack: RecordingServer, capsys: pytest.CaptureFixture[str]
) -> None:
    from flows.demo import demo
    from flows.monitor import monitor

    rows = demo(days=14, rows_per_day=500, seed=7, fresh=True, house_prices=False)  # one model's story
    console = capsys.readouterr().out
    client = MlflowClient(os.environ["MLFLOW_TRACKING_URI"])
    reports = _reports(client)
    store = open_state()
    recorded = {w["window_end"]: w for w in store.list_windows(MODEL)}
    assert len(reports) == len(recorded) == 14
    artifacts = _artifacts()

    verdicts = set()
    for day in range(1, 15):
        end = _window_end(day)
        run, report = reports[tracking.iso_z(end)]
        judged = _judged(report)
        # the verdict is the worst finding; every finding names a rule and is among the reasons
        assert SEVERITY[report["verdict"]] == max((SEVERITY[s] for _, s in judged), default=0), day
        assert len(report["reasons"]) == len(report["findings"])
        ranked = sorted(report["findings"], key=lambda f: -SEVERITY[f["severity"]])
        for f, reason in zip(ranked, report["reasons"], strict=True):
            assert reason.startswith(f"[{f['severity']}] {f['rule']}: "), (day, reason)
        # the rules that hold, each at its highest severity, are exactly the findings; every firing
        # alert shown (not a warning line beside its rule's critical one) is one of them
        alerts = report["sections"]["alerts"]["alerts"]
        holds = {(a["rule"], a["severity"]) for a in alerts if a["outcome"] == "true"}
        top = {rule: max(SEVERITY[s] for r, s in holds if r == rule) for rule, _ in holds}
        assert {(r, s) for r, s in holds if SEVERITY[s] == top[r]} == judged, day
        firing = {(a["rule"], a["severity"]) for a in alerts if a["state"] == "firing"}
        assert {(r, s) for r, s in firing if SEVERITY[s] >= top.get(r, 0)} <= judged, day
        # MLflow's tag, the state database and the demo's table say the same
        assert run.data.tags[tracking.TAG_VERDICT] == report["verdict"]
        assert recorded[end]["verdict"] == report["verdict"]
        assert recorded[end]["summary"]["reasons"] == report["reasons"]
        assert rows[day - 1]["verdict"] == report["verdict"]
        # report.json knows its own MLflow run
        assert report["mlflow_run_id"] == run.info.run_id
        # the Prefect summary of the window's latest evaluation shows that verdict and those reasons
        # (its title is the window's name, as report.json has it)
        name = report["window"]["name"]
        assert name == window_name(MODEL, end - timedelta(days=1), end)
        (markdown, *_) = [a.data for a in reversed(artifacts) if a.data.startswith(f"# {name}: ")]
        assert markdown.startswith(f"# {name}: {report['verdict'].upper()}\n"), day
        for reason in report["reasons"]:
            assert f"- {reason}" in markdown
        verdicts.add(report["verdict"])
    # the story has all three verdicts, so the agreement above is not about empty windows only
    assert {"warning", "critical"} <= verdicts

    by_end = {
        tracking.iso_z(_window_end(d)): _judged(reports[tracking.iso_z(_window_end(d))][1])
        for d in range(1, 15)
    }
    # Slack (a real local receiver, through slack-sdk) and the console got only what the windows judged
    sent = _slack_events(slack)
    assert any(status == "firing" for _, status, _, _ in sent)
    for end_text, status, rule, severity in sent:
        end = tracking.iso_z(_parse_end(end_text))
        if status == "firing":
            assert (rule, severity) in by_end[end], (end, rule, severity)
    printed = _console_events(console)
    assert printed
    for end_text, rule, severity in printed:
        end = tracking.iso_z(_parse_end(end_text))
        assert (rule, severity) in by_end[end], (end, rule, severity)
    # the audit trail names rule and severity, and what fired was judged in its window (a warning
    # line that fired beside its rule's critical one is in the trail, which records every line's
    # transitions, while the window's finding is the critical one)
    fired = [e for e in store.read_audit(model=MODEL) if e["event"] == "alert.fired"]
    assert fired
    for entry in fired:
        key = (entry["evidence"]["rule"], entry["evidence"]["severity"])
        judged_then = by_end[tracking.iso_z(entry["window_end"])]
        assert key in judged_then or (key[0], "critical") in judged_then, entry
        assert entry["reasons"][0].startswith(f"[{key[1]}] {key[0]}: ")

    _assert_every_ended_incident_resolved(store, sent)

    # Re-runs. Days 12 and 13 were evaluated once (their labels are still to come).
    requests, audit_rows = len(slack.requests), len(store.read_audit(model=MODEL))
    future = datetime.combine((utcnow() + timedelta(days=2)).date(), time(), tzinfo=UTC)
    with pytest.raises(FutureWindowError, match="has not ended yet"):
        monitor(str(_demo_config()), window_end=future)
    again = monitor(str(_demo_config()), window_end=_window_end(12)).to_dict()
    assert _differences(_comparable(again), _comparable(reports[tracking.iso_z(_window_end(12))][1])) == []

    # a promotion: v2 becomes the champion; day 13 was scored by v1 and is still judged against v1's
    # reference
    versions = client.search_model_versions(f"name = '{MODEL}'")
    assert len(versions) > 1, "the demo retrains v2 on day 11"
    newest = str(max(int(v.version) for v in versions))
    client.set_registered_model_alias(MODEL, "champion", newest)
    assert str(client.get_model_version_by_alias(MODEL, "champion").version) == newest
    again = monitor(str(_demo_config()), window_end=_window_end(13)).to_dict()
    assert again["model_versions"] == ["1"]
    assert _differences(_comparable(again), _comparable(reports[tracking.iso_z(_window_end(13))][1])) == []
    # nothing was sent again, and no alert transition was recorded twice
    assert len(slack.requests) == requests
    assert _console_events(capsys.readouterr().out) == []
    assert [e for e in store.read_audit(model=MODEL)[audit_rows:] if e["event"].startswith("alert.")] == []


# Incidents of the story still going on when the demo ends (day 14, scored by v1 at 500 rows a day):
# the covariate drift from day 8 (`DRIFT_FROM`), the concept drift from day 10 (`CONCEPT_FROM`) and
# the realized quality it takes down, and a warning-level expectation that 500-row windows fail from
# day 1. Every other episode must have resolved.
_STILL_GOING_ON = {
    ("data_drift", "warning"),
    ("data_drift", "critical"),
    ("prediction_drift", "warning"),
    ("drift_multivariate", "warning"),
    ("performance_drop", "critical"),
    ("concept_drift", "critical"),
    ("validation_failure", "warning"),
}
# Alerts of incidents that ended: the joint shift of days 3–4, the data-quality incident of day 5,
# the latency spike of day 9.
_ENDED = {
    ("prediction_drift", "warning"): demo_data.JOINT_SHIFT_DAYS[-1],
    ("drift_multivariate", "warning"): demo_data.JOINT_SHIFT_DAYS[-1],
    ("validation_failure", "critical"): demo_data.INCIDENT_DAY,
    ("high_latency", "warning"): demo_data.LATENCY_DAY,
    ("high_error_rate", "warning"): demo_data.LATENCY_DAY,
}


def _assert_every_ended_incident_resolved(store: Any, sent: list[tuple[str, str, str, str]]) -> None:
    """Every alert that fired on a scripted incident resolved once it was over — in the state table,
    the audit trail, the dashboard and Slack — and the episodes still open at the end are incidents
    still going on."""
    episodes = alert_episodes(store.read_audit(model=MODEL))
    open_ = {(e.rule, e.severity) for e in episodes if e.open}
    assert open_ <= _STILL_GOING_ON, open_
    for e in episodes:
        ended = _ENDED.get((e.rule, e.severity))
        if e.fired_window is not None and ended is not None and e.fired_window <= _window_end(ended):
            assert not e.open, f"{e.rule} ({e.severity}) fired on {e.fired_window} and never resolved"
    closed = [e for e in episodes if not e.open]
    assert len(closed) >= 5
    markers = {(e.kind, e.label, e.at) for e in collect_dashboard_data(store, MODEL, now=utcnow()).events}
    # (message window, rule) of each resolution Slack got: a resolution carried into a later window
    # by a re-evaluation travels in the re-evaluated window's message
    on_slack = [(_parse_end(end), rule) for end, status, rule, _ in sent if status == "resolved"]
    for e in closed:
        assert e.resolved_window is not None and e.reason
        row = alert_db.load_states_as_of(store, MODEL, e.resolved_window)[1][e.fingerprint]
        assert row.state["transition"] == "resolved", e
        start = e.resolved_window - timedelta(days=1)
        assert ("alert.resolved", f"{e.rule} ({e.severity})", start) in markers, e
        assert any(rule == e.rule and e.fired_window <= end <= e.resolved_window for end, rule in on_slack), e


def _parse_end(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=UTC)


def _demo_config() -> Path:
    from flows.demo import DEMO_CONFIG

    return DEMO_CONFIG
