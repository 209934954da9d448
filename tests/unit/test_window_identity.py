"""One window, one name: every view of one window carries the same name and version label.

The window is a day of a model whose calendar is Europe/Berlin (23:00 → 23:00 UTC in March), so a
view that formats the UTC instants itself, or drops the model's time zone on the way, shows another
name (``2026-03-09 → 03-10``) and fails here. Each view is rendered by the code that renders it in a
run: the Prefect run names (monitor, retrain, deploy, backfill), the MLflow run name and tags, Slack
Block Kit and console text (after the outbox's JSON round trip), the Prefect cards, `watchkeeper
audit`, the CLI's monitor and backfill summaries, the dashboard and the Prometheus samples.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from watchkeeper import cli, tracking
from watchkeeper.alerting.engine import AlertContext
from watchkeeper.alerting.messages import AlertEvent, AlertMessage
from watchkeeper.alerting.render import render_slack, render_text
from watchkeeper.alerting.report import AlertsReport
from watchkeeper.backfill import backfill_row
from watchkeeper.config import load_config
from watchkeeper.dashboard.data import collect_dashboard_data
from watchkeeper.dashboard.page import render_dashboard
from watchkeeper.exposition import WINDOW_INFO, window_samples
from watchkeeper.presentation import mlflow_run_name
from watchkeeper.report import MonitoringReport, SnapshotSection
from watchkeeper.state import open_state

REPO = Path(__file__).resolve().parents[2]
MODEL = "credit-risk"
# Berlin's 10 March: 23:00 UTC the day before to 23:00 UTC.
START, END = datetime(2026, 3, 9, 23, tzinfo=UTC), datetime(2026, 3, 10, 23, tzinfo=UTC)
NAME = "credit-risk 2026-03-10 → 03-11"
VERSION = "v1"


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    config = yaml.safe_load((REPO / "configs/models/credit-risk.yaml").read_text())
    config["window"]["timezone"] = "Europe/Berlin"
    path = tmp_path / "credit-risk.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
def report(config_path: Path) -> MonitoringReport:
    config = load_config(config_path)
    window = {"rows": 600.0, "no_data": 0.0, "label_coverage": 0.7}
    return MonitoringReport(
        model=config.model.name,
        window_start=START,
        window_end=END,
        evaluated_at=END,
        model_versions=("1",),
        config_hash="h",
        sections={"window": SnapshotSection("test", END, window)},
        timezone=config.window.timezone,  # as `monitoring.assemble_window` sets it
    )


def _prefect_run_names(monkeypatch: pytest.MonkeyPatch, config_path: Path) -> list[str]:
    import tasks.presentation_tasks as presentation_tasks
    from tasks.presentation_tasks import name_model_run, name_monitor_run

    def named(name: Any, **parameters: Any) -> str:
        params = {"config_path": str(config_path), **parameters}
        monkeypatch.setattr(presentation_tasks, "flow_run", SimpleNamespace(parameters=params))
        return str(name())

    return [
        named(name_monitor_run, window_end=END.isoformat()),
        named(name_model_run("retrain", window="window_end"), window_end=END),
        named(name_model_run("deploy", window="window_end"), window_end=END, version="1"),
        # a backfill covers a range of windows: the same span, after the action
        named(name_model_run("backfill", span=("start", "end")), start=START.isoformat(), end=END),
    ]


def _alert_message(report: MonitoringReport) -> AlertMessage:
    # What the monitor flow's context gives the engine (`flows/monitor.py: attach_alerts`).
    context = AlertContext(
        model_version=",".join(report.model_versions),
        window_start=report.window_start,
        verdict=report.verdict.label,
        timezone=report.timezone,
    )
    event = AlertEvent(
        "fp", "data_drift", "firing", "critical", {}, "60% of the columns drifted", "drift.share >= 0.5",
        "drift.share", 0.6, ">=", 0.5, END,
    )  # fmt: skip
    message = AlertMessage(
        model=MODEL,
        window_end=END,
        events=(event,),
        model_version=context.model_version,
        window_start=context.window_start,
        verdict=context.verdict,
        window_firing=1,
        timezone=context.timezone,
    )
    return AlertMessage.from_dict(json.loads(json.dumps(message.to_dict())))  # through the outbox


def _audit_line(tmp_path: Path, config_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    open_state(url).append_audit(
        model=MODEL,
        event="alert.fired",
        decision="firing",
        reasons=["60% of the feature columns drifted"],
        evidence={"rule": "data_drift", "severity": "critical"},
        window_start=START,
        window_end=END,
    )
    args = cli.build_parser().parse_args(
        ["audit", "--state-url", url, "--model", MODEL, "--config", str(config_path)]
    )
    assert cli.cmd_audit(args) == 0
    (line,) = capsys.readouterr().out.splitlines()
    return line


def _cli_summaries(
    monkeypatch: pytest.MonkeyPatch,
    config_path: Path,
    report: MonitoringReport,
    capsys: pytest.CaptureFixture[str],
) -> tuple[dict[str, Any], str]:
    def start_flow(args: argparse.Namespace, command: str, *call_args: Any, **kwargs: Any) -> Any:
        return report if command == "monitor" else [backfill_row(report, prepared_ahead=False)]

    monkeypatch.setattr(cli, "start_flow", start_flow)
    parser = cli.build_parser()
    monitor = ["monitor", "--config", str(config_path), "--window-end", END.isoformat()]
    assert cli.cmd_monitor(parser.parse_args(monitor)) == 0
    summary = json.loads(capsys.readouterr().out)
    backfill = [
        "backfill",
        "--config",
        str(config_path),
        "--start",
        START.isoformat(),
        "--end",
        END.isoformat(),
    ]
    assert cli.cmd_backfill(parser.parse_args([*backfill, "--sequential"])) == 0
    (line,) = capsys.readouterr().out.splitlines()
    return summary, line


def _dashboard(tmp_path: Path, report: MonitoringReport) -> str:
    store = open_state(f"sqlite:///{tmp_path / 'dashboard.db'}")
    store.record_window(
        model=MODEL,
        window_start=START,
        window_end=END,
        n_rows=600,
        n_labeled=420,
        verdict=report.verdict.label,
        usable_for_training=True,
        mlflow_run_id=None,
        summary={"figures": report.figures(), "reasons": report.reasons, "model_versions": ["1"]},
    )
    # `tasks/dashboard_tasks.py: build_dashboard` passes the model's calendar.
    data = collect_dashboard_data(store, MODEL, now=END, timezone=report.timezone)
    return render_dashboard(data, plotly_js="")


def test_every_view_names_the_window_and_its_version_alike(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    config_path: Path,
    report: MonitoringReport,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert report.window_name == NAME

    # Prefect: the monitor run, and the retrain and deploy runs its window started.
    assert _prefect_run_names(monkeypatch, config_path) == [
        NAME,
        f"{NAME} retrain",
        f"{NAME} deploy {VERSION}",
        "credit-risk backfill 2026-03-10 → 03-11",
    ]
    # The Prefect cards: the verdict card's title and the alerts card.
    assert report.to_markdown().startswith(f"# {NAME}: OK\n")
    assert f"Scored by {VERSION} · " in report.to_markdown()
    alerts = AlertsReport(MODEL, END, True, window_start=START, timezone=report.timezone)
    assert alerts.to_markdown().startswith(f"# Alerts: {NAME}\n")

    # MLflow: the run's name (created, then with its verdict), the window tag and the description.
    assert tracking.run_name(report) == NAME
    assert tracking.run_tags(report)[tracking.TAG_WINDOW] == NAME
    tags = tracking.presentation_tags(
        report.to_dict(), evaluation=1, previous={}, ui_base="http://mlflow", links={}
    )
    assert tags[tracking.TAG_RUN_NAME] == f"{NAME} · ok"
    assert tags[tracking.TAG_NOTE].startswith(f"**OK** — {NAME}\n")
    assert f"Scored by {VERSION}." in tags[tracking.TAG_NOTE]
    assert mlflow_run_name(MODEL, START, END, report.verdict, report.timezone) == f"{NAME} · ok"

    # Slack (Block Kit and its fallback text) and the console.
    message = _alert_message(report)
    fallback, blocks = render_slack(message)
    assert blocks[0]["text"]["text"].startswith(f"{NAME} · OK · ")
    fields = {f["text"].split("\n")[0]: f["text"].split("\n")[1] for f in blocks[1]["fields"]}
    assert fields["*Version*"] == VERSION
    assert NAME in fallback.splitlines()[0]
    console = render_text(message).splitlines()
    assert console[0].startswith(f"{NAME} · OK · ")
    assert f"  version: {VERSION}" in console

    # `watchkeeper audit`: the entry's window by its name, in the model's calendar.
    assert f"  {NAME}  alert.fired " in _audit_line(tmp_path, config_path, capsys)

    # The CLI's summaries: monitor's JSON (the name beside the ISO bounds) and backfill's lines.
    summary, backfill = _cli_summaries(monkeypatch, config_path, report, capsys)
    assert (summary["window"], summary["version"]) == (NAME, VERSION)
    assert (summary["window_start"], summary["window_end"]) == (
        "2026-03-09T23:00:00Z",
        "2026-03-10T23:00:00Z",
    )
    assert summary["model_versions"] == ["1"]
    assert backfill == f"{NAME}  ok"

    # The dashboard's headline names the latest window and its version.
    page = _dashboard(tmp_path, report)
    assert f"latest window <b>{NAME}</b> ({VERSION})" in page

    # Prometheus: the gauges keep the model label only; the info metric names the window.
    samples = window_samples(report)
    assert {tuple(labels) for name, labels, _ in samples if name != WINDOW_INFO} <= {
        ("model",),
        ("model", "metric"),
    }
    (info,) = [labels for name, labels, _ in samples if name == WINDOW_INFO]
    assert info == {"model": MODEL, "window": NAME, "model_version": VERSION}
