"""A backfill judges the past as it was: the demo's late labels replayed three ways, through the CLI.

    python benchmarks/late_labels.py --days 14 --rows-per-day 1000

Builds the demo's credit-risk scenario (`flows/demo.py`: the first champion trained and registered,
each day's requests scored by it) with everything on disk up front, the shape a user has when
backfilling history: every day's inference partition, and every label in ONE Parquet file, late
only by its `label_timestamp` (request time + 3 days). Then runs `watchkeeper` on a fresh copy of
that state three ways: (a) `backfill` over all days, (b) `monitor --window-end` day by day, (c)
`backfill --hindsight` (every label on disk). Each copy runs at the same path, so MLflow's absolute
artifact URIs stay inside it. Prints one JSON line: when each way first fired `concept_drift` (the
window, and the day whose run detected it), when that window's labels arrived, whether (a) and (b)
left the same verdicts, alert transitions and audit events, each window's label coverage (as of
its runs vs hindsight), the days a retrained challenger was promoted, the open alert episodes and
each way's wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

MODEL = "credit-risk"
SEED = 7
ALERT_EVENTS = ("alert.fired", "alert.resolved")
WAYS = ("backfill", "day_by_day", "hindsight")


def _env(state: Path) -> dict[str, str]:
    env = dict(os.environ)
    # The run's own state only: no tracking server, state DB or Slack webhook of the caller's.
    for key in ("MLFLOW_TRACKING_URI", "WATCHKEEPER_STATE_DB_URL", "WATCHKEEPER_SLACK_WEBHOOK_URL"):
        env.pop(key, None)
    env.update(
        WATCHKEEPER_STATE_DIR=str(state),
        DO_NOT_TRACK="true",
        MLFLOW_DISABLE_TELEMETRY="true",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        GX_ANALYTICS_ENABLED="false",
    )
    return env


def _prepare(work: Path, days: int, rows: int, retraining: bool) -> tuple[Path, dict[int, dict[str, str]]]:
    """The prepared state dir (work/state, moved to work/prepared) and each day's label arrival."""
    import pandas as pd
    import yaml

    state = work / "state"
    os.environ.update(_env(state))
    from flows.demo import DEMO_CONFIG, _write_partition, train_first_champion
    from tasks.registry_tasks import load_model_version
    from tasks.tracking_tasks import open_tracking
    from watchkeeper import demo_data
    from watchkeeper import retraining as wk_retraining
    from watchkeeper.config import load_config
    from watchkeeper.runtime import apply_runtime_defaults

    apply_runtime_defaults()
    data = state / "demo"
    raw = yaml.safe_load(DEMO_CONFIG.read_text())
    raw["sources"]["inference_logs"]["path"] = str(data / "inference")
    raw["sources"]["reference"]["path"] = str(data / "reference" / "champion.parquet")
    raw["sources"]["ground_truth"] = {"type": "parquet", "path": str(data / "labels.parquet")}
    raw["expectations"]["suite"] = str((DEMO_CONFIG.parent / raw["expectations"]["suite"]).resolve())
    raw["retraining"]["enabled"] = retraining
    config_path = work / f"{MODEL}.yaml"
    config_path.write_text(yaml.safe_dump(raw, sort_keys=False))
    config = load_config(config_path)

    tracking = open_tracking(config.tracking)
    first = train_first_champion(
        config, data / "reference" / "champion.parquet", SEED, client=tracking.client
    )
    model = load_model_version(tracking.client, config.model.registry_name, first["version"])
    labels, arrival = [], {}
    for day in range(1, days + 1):
        logs, day_labels = demo_data.make_day(day, SEED, rows=rows)
        logs = wk_retraining.score_rows(model, logs, config)
        logs["model_version"] = first["version"]
        _write_partition(logs, data / "inference", "date", f"{demo_data.day_plan(day).start:%Y-%m-%d}")
        labels.append(day_labels)
        stamps = day_labels["label_timestamp"]
        arrival[day] = {"first": stamps.min().isoformat(), "last": stamps.max().isoformat()}
    pd.concat(labels, ignore_index=True).to_parquet(data / "labels.parquet", index=False)
    state.rename(work / "prepared")
    return config_path, arrival


def _cli(args: list[str], state: Path, log: Path) -> None:
    script = Path(sys.executable).parent / "watchkeeper"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "watchkeeper.cli"]
    with log.open("a") as out:
        done = subprocess.run(
            [*command, *args], cwd=ROOT, env=_env(state), stdout=out, stderr=subprocess.STDOUT, check=False
        )
    if done.returncode != 0:
        tail = log.read_text()[-3000:]
        raise SystemExit(f"watchkeeper {' '.join(args)} exited {done.returncode}; log {log}:\n{tail}")


def _run(way: str, work: Path, config: Path, days: int) -> dict[str, Any]:
    """One way, on a fresh copy of the prepared state at work/state; what its state DB holds."""
    from watchkeeper import demo_data
    from watchkeeper.state import open_state

    state = work / "state"
    shutil.copytree(work / "prepared", state)
    log = work / f"{way}.log"
    start = demo_data.day_plan(1).start
    url = f"sqlite:///{state / 'state.db'}"
    audit_after_day: list[int] = []  # (b): the audit trail's length after each day's run
    began = time.perf_counter()
    if way == "day_by_day":
        for day in range(1, days + 1):
            end = start + timedelta(days=day)
            _cli(["monitor", "--config", str(config), "--window-end", end.isoformat()], state, log)
            audit_after_day.append(len(open_state(url).read_audit(model=MODEL)))
    else:
        flags = ["--hindsight"] if way == "hindsight" else []
        span = ["--start", start.isoformat(), "--end", (start + timedelta(days=days)).isoformat()]
        _cli(["backfill", "--config", str(config), *span, *flags], state, log)
    wall = time.perf_counter() - began
    store = open_state(url)
    result = {
        "wall_s": round(wall, 1),
        "windows": store.list_windows(MODEL),
        "audit": store.read_audit(model=MODEL),
        "audit_after_day": audit_after_day,
    }
    store.engine.dispose()
    state.rename(work / f"state-{way}")
    return result


def _day(window_end: datetime) -> int:
    """The demo day a window (or the run judging as of its end) belongs to: day 1 ends on START + 1d."""
    from watchkeeper import demo_data

    return (window_end - demo_data.day_plan(1).start).days


def _run_day_by_decision(audit: list[dict[str, Any]]) -> list[int | None]:
    """For each audit entry, the day of the run that wrote it: every monitor run ends its window
    with a `retraining.decision` entry (taken or not), after its alerts and its re-evaluations'."""
    out: list[int | None] = [None] * len(audit)
    pending: list[int] = []
    for i, entry in enumerate(audit):
        pending.append(i)
        if entry["event"] == "retraining.decision" and entry["window_end"] is not None:
            for j in pending:
                out[j] = _day(entry["window_end"])
            pending = []
    return out


def _run_day_by_length(audit_after_day: list[int], n: int) -> list[int | None]:
    out: list[int | None] = [None] * n
    lower = 0
    for day, upper in enumerate(audit_after_day, start=1):
        for i in range(lower, min(upper, n)):
            out[i] = day
        lower = upper
    return out


def _summarize(result: dict[str, Any]) -> dict[str, Any]:
    from watchkeeper.alerting.episodes import alert_episodes

    audit, windows = result["audit"], result["windows"]
    by_decision = _run_day_by_decision(audit)
    run_day = (
        _run_day_by_length(result["audit_after_day"], len(audit))
        if result["audit_after_day"]
        else by_decision
    )
    transitions = [
        (e["event"], e["evidence"].get("rule"), e["evidence"].get("severity"), _iso(e["window_end"]))
        for e in audit
        if e["event"] in ALERT_EVENTS
    ]
    concept = [
        (e["window_end"], i)
        for i, e in enumerate(audit)
        if e["event"] == "alert.fired" and e["evidence"].get("rule") == "concept_drift" and e["window_end"]
    ]
    first = min(concept) if concept else None
    coverage = {}
    for w in windows:
        figure = w["summary"].get("figures", {}).get("window.label_coverage")
        value = figure if figure is not None else (w["n_labeled"] / w["n_rows"] if w["n_rows"] else None)
        coverage[_day(w["window_end"])] = None if value is None else round(value, 3)
    return {
        "wall_s": result["wall_s"],
        "concept_drift_window_day": None if first is None else _day(first[0]),
        "concept_drift_window_end": None if first is None else _iso(first[0]),
        "concept_drift_detected_on_day": None if first is None else run_day[first[1]],
        "verdicts": {_day(w["window_end"]): w["verdict"] for w in windows},
        "transitions": transitions,
        "events": [
            (e["event"], _iso(e["window_end"]), e.get("decision"), e["evidence"].get("rule")) for e in audit
        ],
        "coverage": coverage,
        "open_episodes": [
            {"rule": e.rule, "severity": e.severity, "since_window_day": _day(e.fired_window)}
            for e in alert_episodes(audit)
            if e.open and e.fired_window is not None
        ],
        "promoted_on_day": [
            _day(e["window_end"]) for e in audit if e["event"] == "deploy.promoted" and e["window_end"]
        ],
        # (b) only: does attributing alert entries to runs by the next `retraining.decision` (how (a)
        # is read) agree with the day each was actually written on? (A retraining's own entries
        # follow its run's decision: they are left out.)
        "attribution_checked": all(
            by_decision[i] == run_day[i] for i, e in enumerate(audit) if e["event"] in ALERT_EVENTS
        )
        if result["audit_after_day"]
        else None,
    }


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _first_difference(a: list[Any], b: list[Any]) -> dict[str, Any] | None:
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return {"index": i, "backfill": x, "day_by_day": y}
    if len(a) != len(b):
        return {"index": min(len(a), len(b)), "lengths": [len(a), len(b)]}
    return None


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--rows-per-day", type=int, default=1_000)
    parser.add_argument(
        "--no-retraining", action="store_true", help="disable retraining (on by default, as in the demo)"
    )
    parser.add_argument("--keep", help="work in this directory and keep it (default: a temp dir, removed)")
    args = parser.parse_args()
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.keep) if args.keep else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        config, arrival = _prepare(work, args.days, args.rows_per_day, not args.no_retraining)
        runs = {way: _summarize(_run(way, work, config, args.days)) for way in WAYS}
    a, b, h = runs["backfill"], runs["day_by_day"], runs["hindsight"]
    concept_day = a["concept_drift_window_day"] or h["concept_drift_window_day"]
    equal = {part: a[part] == b[part] for part in ("verdicts", "transitions", "events", "coverage")}
    out: dict[str, Any] = {
        "benchmark": "late_labels",
        "days": args.days,
        "rows_per_day": args.rows_per_day,
        "retraining": not args.no_retraining,
        "cpus": os.cpu_count(),
        "concept_drift": {
            way: {
                "window_day": runs[way]["concept_drift_window_day"],
                "detected_on_day": runs[way]["concept_drift_detected_on_day"],
            }
            for way in WAYS
        },
        "labels_arrived": None
        if concept_day is None
        else {"window_day": concept_day, **arrival[concept_day]},
        "backfill_equals_day_by_day": equal,
        "attribution_checked": b["attribution_checked"],
        "label_coverage": {
            "backfill": [a["coverage"].get(d) for d in range(1, args.days + 1)],
            "hindsight": [h["coverage"].get(d) for d in range(1, args.days + 1)],
        },
        "verdicts": {way: [runs[way]["verdicts"].get(d) for d in range(1, args.days + 1)] for way in WAYS},
        "promoted_on_day": {way: runs[way]["promoted_on_day"] for way in WAYS},
        "open_episodes": {way: runs[way]["open_episodes"] for way in WAYS},
        "wall_s": {way: runs[way]["wall_s"] for way in WAYS},
    }
    differences = {
        part: _first_difference(
            list(a[part].items()) if isinstance(a[part], dict) else a[part],
            list(b[part].items()) if isinstance(b[part], dict) else b[part],
        )
        for part, same in equal.items()
        if not same
    }
    if differences:
        out["first_differences"] = differences
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    main()
