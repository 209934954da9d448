"""A small window end to end through the CLI: `watchkeeper monitor`, Prefect's temporary server and
Evidently's page included.

    python benchmarks/cli_small_window.py --rows 1000 --repeat 3

It writes a 1,000-row drifted day of inference logs, its labels and a reference (the
demo's credit-risk model, `benchmarks/monitor_window.py`'s `prepare`) and the undrifted day before
it in a temp dir. One untimed warm-up run monitors that day before, as the previous scheduled run would have: the MLflow store,
the model's experiment, the state database and Prefect's database in its own `PREFECT_HOME` exist
afterwards (what every run but a deployment's first finds). That state is kept aside, and each timed
run starts from a copy of it at the same paths, so every repeat monitors the same next window under
the same conditions.

Each timed run is `watchkeeper monitor --config … --window-end …` in a new process with no
`PREFECT_API_URL` (so the CLI starts Prefect's temporary local server), measured from outside: wall
time, CPU time of the process tree (the CLI, the server's process and the page process) and the
largest peak RSS among them. The phases come from the timestamps of Prefect's own console lines
(milliseconds):

- `until_server_start_s`: process start → "Starting temporary server" (the server's process is
  launched at the CLI's first step; the line is logged once Prefect's settings are read and confirm
  it is wanted);
- `until_flow_run_s`: process start → "Beginning flow run" (the server's boot, while the CLI imports
  Prefect, checks the config and imports the flow files);
- `flow_s`: "Beginning flow run" → the flow run's "Finished in state";
- `verdict_s`: "Beginning flow run" → the flow's log line with the window's verdict (recorded);
- `page_wait_s`: the verdict line → Evidently's page task finished (rendered concurrently in the
  page process; the flow waits for it only at its end, after the retraining decision and the
  dashboard);
- `shutdown_s`: the flow run finished → the process exited (the temporary server's stop and the
  interpreter's exit).

Prints one JSON line: each run's figures and the median of each over the repeats.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "models" / "credit-risk.yaml"
DAY = 8  # the demo's first drifted day: every check has work to do, alerts fire

LINE = re.compile(r"^(\d\d):(\d\d):(\d\d)\.(\d{3}) \| \w+\s*\| (.*)$")
MARKERS = {
    "server_start": re.compile(r"Starting temporary server"),
    "flow_begin": re.compile(r"Beginning flow run"),
    "verdict": re.compile(r"Flow run '.*' - window .* → .*: \w+$"),
    "page": re.compile(r"Task run 'build-evidently-report-.*' - Finished"),
    "flow_end": re.compile(r"Flow run '.*' - Finished in state"),
}


def prepare(root: Path, rows: int, reference_rows: int) -> None:
    """`monitor_window.py`'s reference, drifted day and labels, and the undrifted day before it
    (scored by the same model version; its labels have not arrived by the timed window's end)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import monitor_window

    from watchkeeper import demo_data

    monitor_window.prepare(root, rows, reference_rows)
    logs, _ = demo_data.make_day(DAY - 1, 1, rows=rows)
    day = root / "state" / "demo" / "inference" / f"date={demo_data.day_plan(DAY - 1).start:%Y-%m-%d}"
    day.mkdir(parents=True)
    monitor_window._scored(logs, DAY).to_parquet(day / "part-0.parquet")


def _env(work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_API_URL", "WATCHKEEPER_"))}
    env.update(
        DO_NOT_TRACK="true",
        MLFLOW_DISABLE_TELEMETRY="true",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        GX_ANALYTICS_ENABLED="false",
        PREFECT_HOME=str(work / "prefect-home"),
        WATCHKEEPER_STATE_DIR=str(work / "state"),
        MLFLOW_TRACKING_URI=f"sqlite:///{work / 'mlflow.db'}",
        PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT), env.get("PYTHONPATH", "")]),
        TZ="UTC",
    )
    return env


def _monitor(work: Path, window_end: str) -> tuple[float, str, dict[str, float]]:
    """One `watchkeeper monitor` process: wall seconds, its console, CPU seconds and peak RSS."""
    cmd = [
        sys.executable,
        "-c",
        "import sys; from watchkeeper.cli import main; sys.argv[0] = 'watchkeeper'; raise SystemExit(main())",
        "--project-dir", str(ROOT),
        "monitor", "--config", str(CONFIG), "--window-end", window_end,
    ]  # fmt: skip
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started_at = time.time()
    start = time.perf_counter()
    done = subprocess.run(cmd, env=_env(work), capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"watchkeeper monitor failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    usage = {
        "cpu_s": round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 2),
        "peak_rss_mb": round(after.ru_maxrss / 1024, 1),  # the largest child so far (Linux: KiB)
        "started_at": started_at,
    }
    return wall, done.stdout + done.stderr, usage


def _marks(console: str, started_at: float) -> dict[str, float]:
    """Seconds from the process start to each marker line (the first one of each)."""
    day = datetime.fromtimestamp(started_at, UTC)  # the child logs in UTC (TZ=UTC)
    found: dict[str, float] = {}
    for line in console.splitlines():
        m = LINE.match(line)
        if m is None:
            continue
        h, mi, s, ms, text = m.groups()
        at = day.replace(hour=int(h), minute=int(mi), second=int(s), microsecond=int(ms) * 1000)
        if at.timestamp() < started_at - 3600:  # past midnight
            at += timedelta(days=1)
        for name, pattern in MARKERS.items():
            if name not in found and pattern.search(text):
                found[name] = at.timestamp() - started_at
    return found


def measure(work: Path, window_end: str) -> dict[str, Any]:
    wall, console, usage = _monitor(work, window_end)
    verdict = json.loads(console[console.index("{\n") : console.index("\n}") + 2])["verdict"]
    m = _marks(console, usage.pop("started_at"))

    def span(a: str, b: str) -> float | None:
        return round(m[b] - m[a], 2) if a in m and b in m else None

    return {
        "wall_s": round(wall, 2),
        **usage,
        "verdict": verdict,
        "until_server_start_s": round(m["server_start"], 2) if "server_start" in m else None,
        "until_flow_run_s": round(m["flow_begin"], 2) if "flow_begin" in m else None,
        "flow_s": span("flow_begin", "flow_end"),
        "verdict_s": span("flow_begin", "verdict"),
        "page_wait_s": span("verdict", "page"),
        "shutdown_s": round(wall - m["flow_end"], 2) if "flow_end" in m else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000)
    parser.add_argument("--reference-rows", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    from watchkeeper import demo_data

    plan = demo_data.day_plan(DAY)
    window_end = (plan.start + timedelta(days=1)).isoformat()
    previous_end = plan.start.isoformat()
    with tempfile.TemporaryDirectory() as tmp:
        base, work = Path(tmp) / "base", Path(tmp) / "work"
        prepare(base, args.rows, args.reference_rows)
        # The warm-up runs where the timed runs will (MLflow keeps absolute artifact paths).
        shutil.copytree(base, work)
        _monitor(work, previous_end)
        shutil.rmtree(base)
        shutil.copytree(work, base)
        runs = []
        for _ in range(args.repeat):
            shutil.rmtree(work)
            shutil.copytree(base, work)
            runs.append(measure(work, window_end))
    figures = [k for k, v in runs[0].items() if isinstance(v, float)]
    median = {
        k: round(statistics.median(r[k] for r in runs if r[k] is not None), 2)
        for k in figures
        if any(r[k] is not None for r in runs)
    }
    out = {
        "benchmark": "cli_small_window",
        "rows": args.rows,
        "reference_rows": args.reference_rows,
        "repeat": args.repeat,
        "median": median,
        "runs": runs,
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
