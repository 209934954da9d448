"""The dashboard after real monitor runs, opened in headless Chromium: no console errors, every panel
drawn, a screenshot, and the figures in the page equal to those in MLflow.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from flows.monitor import monitor
from tasks.dashboard_tasks import DASHBOARD_ARTIFACT, KIND_DASHBOARD, dashboard_path, write_dashboard_file
from watchkeeper import tracking
from watchkeeper.cli import main
from watchkeeper.dashboard import PANELS
from watchkeeper.presentation import round_figure

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def _chromium(page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed (Debian package `chromium`; .ci/run installs it)")
    return subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=15000",
            *args,
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _embedded(dom: str, element_id: str) -> dict:
    match = re.search(rf'<script type="application/json" id="{element_id}">(.*?)</script>', dom, re.S)
    assert match, f"no {element_id} in the page"
    return json.loads(match.group(1).replace("<\\/", "</"))


def test_dashboard_renders_offline_and_matches_mlflow(scenario, tmp_path: Path) -> None:
    labels = scenario.write_day(1)
    monitor(str(scenario.config_path), window_end=scenario.window_end(1))
    scenario.write_day(2)
    scenario.write_labels(1, labels)  # day 2's run re-evaluates day 1 with its labels
    monitor(str(scenario.config_path), window_end=scenario.window_end(2))
    scenario.write_day(5)  # the data-quality incident: critical
    report = monitor(str(scenario.config_path), window_end=scenario.window_end(5))

    # The monitor run regenerated the page under the state directory and logged it to MLflow.
    assert dashboard_path("e2e-model").exists()
    client = MlflowClient(os.environ["MLFLOW_TRACKING_URI"])
    exp = client.get_experiment_by_name("watchkeeper/e2e-model")
    (dash_run,) = client.search_runs(
        [exp.experiment_id], filter_string=f"tags.`{tracking.TAG_KIND}` = '{KIND_DASHBOARD}'"
    )
    assert [a.path for a in client.list_artifacts(dash_run.info.run_id)] == [DASHBOARD_ARTIFACT]

    page = write_dashboard_file(str(scenario.config_path), out=str(tmp_path / "dashboard.html"))
    # The command line writes the same data; --since counts back from the latest window.
    out = tmp_path / "cli.html"
    args = [
        "dashboard",
        "--model",
        "e2e-model",
        "--configs",
        str(scenario.config_path.parent),
        "--out",
        str(out),
    ]
    assert main([*args, "--since", "2d"]) == 0
    recent = _embedded(out.read_text(), "watchkeeper-data")
    assert [w["end"] for w in recent["windows"]] == ["2026-03-06T00:00:00Z"]
    text = page.read_text()
    # plotly.js is inlined: the page loads no script (and nothing else) from anywhere.
    assert "<script src" not in text and "<link" not in text and "Plotly.newPlot" in text
    shot = tmp_path / "dashboard.png"
    done = _chromium(page, tmp_path / "profile-shot", f"--screenshot={shot}", "--window-size=1400,2400")
    assert shot.exists() and shot.stat().st_size > 50_000, done.stderr[-2000:]
    run = _chromium(page, tmp_path / "profile-dom", "--dump-dom")
    assert run.returncode == 0, run.stderr[-2000:]
    console = [line for line in run.stderr.splitlines() if ":CONSOLE" in line]
    assert console == []
    dom = run.stdout
    assert f'data-panels-rendered="{len(PANELS)}"' in dom
    for name in PANELS:
        panel = dom.split(f'id="panel-{name}"', 1)[1].split('class="panel"', 1)[0]
        assert "main-svg" in panel, f"panel {name} was not drawn"

    data = _embedded(dom, "watchkeeper-data")
    figures = _embedded(dom, "watchkeeper-figures")
    runs = {
        r.info.run_id: r
        for r in client.search_runs(
            [exp.experiment_id], filter_string=f"tags.`{tracking.TAG_KIND}` = 'monitor'"
        )
    }
    assert [w["end"] for w in data["windows"]] == [
        "2026-03-02T00:00:00Z",
        "2026-03-03T00:00:00Z",
        "2026-03-06T00:00:00Z",
    ]
    for window in data["windows"]:
        mlflow_run = runs[window["mlflow_run_id"]]
        assert window["figures_source"] == "mlflow"
        assert window["verdict"] == mlflow_run.data.tags[tracking.TAG_VERDICT]
        metrics = mlflow_run.data.metrics
        assert window["figures"] == {k.replace("/", "."): v for k, v in metrics.items()}
    # What the charts draw is MLflow's figures (rounded to 6 significant digits for the page).
    by_end = {w["end"]: runs[w["mlflow_run_id"]].data.metrics for w in data["windows"]}
    ends = list(by_end)
    verdict = figures["verdict"]["data"][0]
    assert [t.split("<br>")[0] for t in verdict["text"]] == [w["verdict"] for w in data["windows"]]
    assert verdict["text"][-1].startswith("critical")
    share = figures["drift"]["data"][1]["y"]
    assert share == [round_figure(by_end[e]["drift/share"], 6) for e in ends]
    heatmap = figures["drift"]["data"][0]
    income = heatmap["y"].index("income")
    assert heatmap["customdata"][income] == [round_figure(by_end[e]["drift/income/score"], 4) for e in ends]
    realized = next(t for t in figures["performance"]["data"] if t.get("name", "").startswith("realized"))
    assert realized["y"][0] == round_figure(by_end[ends[0]]["perf/realized/roc_auc"], 6)
    assert realized["y"][1] is None  # day 2's labels have not arrived
    coverage = figures["labels"]["data"][0]["y"]
    assert coverage == [round_figure(by_end[e]["window/label_coverage"], 6) for e in ends]
    p95 = next(t for t in figures["serving"]["data"] if t["name"].startswith("p95"))
    assert p95["y"] == [round_figure(by_end[e]["serving/latency_p95_ms"], 6) for e in ends]
    fired = next(t for t in figures["alerts"]["data"] if t["name"] == "fired")
    assert "validation_failure (critical)" in fired["y"]
    assert report.reasons[0] in data["windows"][-1]["reasons"]
