"""Fault injection by hand: each broken case of issue 17 against real components, in one table.

    python benchmarks/faults.py            # every scenario
    python benchmarks/faults.py --only slack,audit

Real pieces throughout: a recording HTTP server on 127.0.0.1 (slow, failing, a Slack Web API that
keeps metadata), slack-sdk's clients, SQLite state databases tampered with through sqlite3, MLflow's
client against a port where nothing listens, spawned processes released together on a barrier,
Parquet files with bad content. Prints a table (scenario, expected, observed, ok) and one JSON line
with every row. Exit status 1 when a scenario does not hold. The tests under tests/ assert the same
cases; this script is for watching them happen. Scenarios of later issues live in `faults_<area>.py`
modules beside this one (each a `SCENARIOS` dict of the same shape), run here in one table.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import socket
import sqlite3
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

T0 = datetime(2024, 3, 1, tzinfo=UTC)
NOW = datetime(2024, 3, 20, 12, tzinfo=UTC)
HOT = {"serving.latency_p95_ms": 300.0}


class Receiver:
    """An HTTP receiver on 127.0.0.1: records every POST, answers `status` after `delay_s`."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.status, self.delay_s, self.body = 200, 0.0, "ok"
        self.handler: Callable[[str, dict[str, Any]], tuple[int, str] | None] | None = None
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                try:
                    body = json.loads(raw)
                except ValueError:
                    from urllib.parse import parse_qs

                    body = {k: v[0] for k, v in parse_qs(raw).items()}
                outer.posts.append({"path": self.path, "body": body})
                answer = outer.handler(self.path, body) if outer.handler else None
                status, text = answer or (outer.status, outer.body)
                time.sleep(outer.delay_s)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(text)))
                    self.end_headers()
                    self.wfile.write(text.encode())
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _alerts(store: Any, channel: dict[str, Any], env: dict[str, str], day: int) -> Any:
    from watchkeeper.alerting import AlertsConfig, evaluate_alerts

    config = AlertsConfig.model_validate(
        {
            "default_rules": False,
            "rules": [{"name": "lat", "condition": "serving.latency_p95_ms > 250"}],
            "channels": [channel],
            "delivery": {"max_retries": 3, "backoff_s": 0.01, "timeout_s": 1},
        }
    )
    return evaluate_alerts(
        HOT,
        model="churn",
        window_end=T0 + timedelta(days=day),
        config=config,
        store=store,
        env=env,
        now=NOW,
        sleep=lambda s: None,
    )


def _store(tmp: Path, name: str) -> Any:
    from watchkeeper.state import open_state

    return open_state(f"sqlite:///{tmp / name}.db")


def slow_slack_webhook(tmp: Path) -> tuple[str, str, bool]:
    rx = Receiver()
    rx.delay_s = 1.5
    store = _store(tmp, "slow-webhook")
    env = {"URL": f"{rx.url}/services/T/B/x"}
    for day in (1, 2, 3):
        _alerts(store, {"type": "slack", "webhook_url_env": "URL"}, env, day)
    rx.close()
    notes = sum("may be a repeat" in p["body"].get("text", "") for p in rx.posts)
    return (
        "≤ 2 posts (the 2nd says it may be a repeat)",
        f"{len(rx.posts)} posts, {notes} with note",
        (len(rx.posts) <= 2 and notes == len(rx.posts) - 1),
    )


def slow_slack_bot(tmp: Path) -> tuple[str, str, bool]:
    rx = Receiver()
    kept: list[dict[str, Any]] = []

    def api(path: str, body: dict[str, Any]) -> tuple[int, str] | None:
        if path.endswith("chat.postMessage"):
            meta = body.get("metadata")
            kept.append({"type": "message", "metadata": json.loads(meta) if isinstance(meta, str) else meta})
            rx.delay_s = 1.5 if len(kept) == 1 else 0.0
            return 200, json.dumps({"ok": True, "ts": "1.0"})
        rx.delay_s = 0.0
        return 200, json.dumps({"ok": True, "messages": kept})

    rx.handler = api
    store = _store(tmp, "slow-bot")
    channel = {"type": "slack", "token_env": "T", "channel": "C1", "base_url": f"{rx.url}/api/"}
    for day in (1, 2):
        _alerts(store, channel, {"T": "xoxb-fault"}, day)
    rx.close()
    posts = sum(p["path"].endswith("chat.postMessage") for p in rx.posts)
    lookups = sum(p["path"].endswith("conversations.history") for p in rx.posts)
    return (
        "1 post, found by its metadata key",
        f"{posts} post(s), {lookups} lookup(s)",
        posts == 1 and lookups == 1,
    )


def slack_500_429_refused(tmp: Path) -> tuple[str, str, bool]:
    rx = Receiver()
    store = _store(tmp, "flaky")
    env = {"URL": f"{rx.url}/services/T/B/x"}
    rx.status = 500
    _alerts(store, {"type": "slack", "webhook_url_env": "URL"}, env, 1)  # 500 on every retry: outbox
    refused = len(rx.posts)
    rx.status = 200
    _alerts(store, {"type": "slack", "webhook_url_env": "URL"}, env, 2)  # outbox flushed
    _alerts(store, {"type": "slack", "webhook_url_env": "URL"}, env, 3)
    ok = len(rx.posts) - refused
    rx.close()
    return "delivered exactly once", f"{ok} delivery after {refused} refused", ok == 1


def pagerduty_timeout(tmp: Path) -> tuple[str, str, bool]:
    rx = Receiver()
    rx.delay_s = 1.5
    store = _store(tmp, "pd")
    channel = {"type": "webhook", "format": "pagerduty", "url_env": "U", "routing_key_env": "K"}

    def fast_after_first(path: str, body: dict[str, Any]) -> tuple[int, str] | None:
        rx.delay_s = 1.5 if len(rx.posts) == 1 else 0.0
        return 202, '{"status": "success"}'

    rx.handler = fast_after_first
    report = _alerts(store, channel, {"U": f"{rx.url}/v2/enqueue", "K": "R"}, 1)
    rx.close()
    keys = {p["body"]["dedup_key"] for p in rx.posts}
    status = [n.status for n in report.notifications]
    return (
        "re-posted with the same dedup_key",
        f"{len(rx.posts)} posts, {len(keys)} dedup_key, {status}",
        (len(keys) == 1 and status == ["sent"]),
    )


def ledger_conflict(tmp: Path) -> tuple[str, str, bool]:
    from watchkeeper.alerting.channels import MemoryChannel
    from watchkeeper.alerting.config import DeliveryConfig
    from watchkeeper.alerting.delivery import deliver
    from watchkeeper.alerting.messages import AlertEvent, AlertMessage

    store = _store(tmp, "conflict")
    event = AlertEvent("f" * 16, "lat", "firing", "warning", {}, "p95", "c", "m", 300.0, ">", 250.0, T0)
    message = AlertMessage(model="churn", window_end=T0, events=(event,))
    channel = MemoryChannel()
    barrier = threading.Barrier(4)
    out: list[str] = []

    def one() -> None:
        barrier.wait()
        try:
            record = deliver(store, channel, message, delivery=DeliveryConfig(), now=NOW)
            out.append(record.status if record else "none")
        except Exception as exc:
            out.append(type(exc).__name__)

    threads = [threading.Thread(target=one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return "1 sent, 3 duplicate, no error", ",".join(sorted(out)), sorted(out) == ["duplicate"] * 3 + ["sent"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def mlflow_down(tmp: Path) -> tuple[str, str, bool]:
    from tasks.tracking_tasks import open_tracking, spool_report, write_report_run
    from watchkeeper import tracking as wk
    from watchkeeper.config import TrackingConfig
    from watchkeeper.outage import OUTAGE_BOUND_S

    uri = f"http://user:pw-FAULT-1@127.0.0.1:{_free_port()}"
    tracking = open_tracking(TrackingConfig(tracking_uri=uri))
    payload = {
        "tags": {
            wk.TAG_WINDOW_KEY: "churn|w1",
            wk.TAG_MODEL: "churn",
            wk.TAG_WINDOW_END: "2024-03-02T00:00:00Z",
        },
        "metrics": {"x": 1.0},
        "timestamp_ms": 0,
        "run_name": "w1",
        "report": {},
    }
    started = time.monotonic()
    calls = 0
    for _ in range(6):  # a window's calls: experiment, search, create, log_batch, log_text, terminate
        calls += 1
        with contextlib.suppress(Exception):  # expected to fail: MLflow is down
            write_report_run(payload, tracking=tracking, experiment="e", artifacts={})
    path = spool_report(payload, spool=tmp / "spool", tracking=tracking, experiment="e", artifacts={})
    elapsed = time.monotonic() - started
    leaked = "pw-FAULT-1" in path.read_text()
    return (
        f"gives up < {OUTAGE_BOUND_S:.0f} s, spooled without password",
        f"{elapsed:.1f} s for {calls} writes, outage={tracking.outage.down}, password in spool={leaked}",
        elapsed < OUTAGE_BOUND_S and tracking.outage.down and not leaked,
    )


def mlflow_hung(tmp: Path) -> tuple[str, str, bool]:
    """A tracking server that accepts connections and never answers: every try waits its timeout."""
    from tasks.tracking_tasks import open_tracking, write_report_run
    from watchkeeper import tracking as wk
    from watchkeeper.config import TrackingConfig
    from watchkeeper.outage import OUTAGE_BOUND_S, worst_call_s

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)  # never accepted: requests connect, then wait for an answer that never comes
    config = TrackingConfig(tracking_uri=f"http://127.0.0.1:{listener.getsockname()[1]}")
    tracking = open_tracking(config)
    payload = {
        "tags": {wk.TAG_WINDOW_KEY: "churn|w1"},
        "metrics": {},
        "timestamp_ms": 0,
        "run_name": "w",
        "report": {},
    }
    started = time.monotonic()
    for _ in range(6):
        with contextlib.suppress(Exception):  # expected to fail: MLflow is down
            write_report_run(payload, tracking=tracking, experiment="e", artifacts={})
    elapsed = time.monotonic() - started
    listener.close()
    bound = worst_call_s(
        timeout_s=config.http_timeout_s,
        max_retries=config.http_max_retries,
        backoff_factor=config.http_backoff_factor,
    )
    return (
        f"a window gives up < {OUTAGE_BOUND_S:.0f} s (one call's worst case {bound:.0f} s)",
        f"{elapsed:.1f} s for 6 writes",
        elapsed < OUTAGE_BOUND_S,
    )


def spool_truncated(tmp: Path) -> tuple[str, str, bool]:
    from tasks.tracking_tasks import flush_mlflow_spool, open_tracking, quarantine_dir

    spool = tmp / "spool-trunc"
    spool.mkdir()
    (spool / "broken.json").write_text('{"payload": {"tags": ')
    tracking = open_tracking(f"sqlite:///{tmp / 'mlflow-trunc.db'}")
    done = flush_mlflow_spool.fn(spool, tracking)
    moved = [p.name for p in quarantine_dir(spool).iterdir()]
    return (
        "quarantined and named, run not blocked",
        f"logged {len(done)}, quarantined {moved}",
        moved == ["broken.json"],
    )


def _race_writer(state_url: str, mlflow_uri: str, barrier: Any, trials: int) -> None:
    from tasks.tracking_tasks import open_tracking, write_report_run
    from watchkeeper import tracking as wk
    from watchkeeper.state import open_state

    target = open_tracking(mlflow_uri, leases=open_state(state_url))
    for trial in range(trials):
        barrier.wait(timeout=120)
        payload = {
            "tags": {wk.TAG_WINDOW_KEY: f"race|{trial}", wk.TAG_KIND: "monitor"},
            "metrics": {"x": 1.0},
            "timestamp_ms": trial,
            "run_name": f"race {trial}",
            "report": {},
        }
        write_report_run(payload, tracking=target, experiment="race", artifacts={})


def concurrent_window_runs(tmp: Path) -> tuple[str, str, bool]:
    from mlflow.tracking import MlflowClient

    from tasks.tracking_tasks import ensure_experiment

    state_url, mlflow_uri = f"sqlite:///{tmp / 'race-state.db'}", f"sqlite:///{tmp / 'race-mlflow.db'}"
    _store(tmp, "race-state")
    client = MlflowClient(mlflow_uri)
    experiment = ensure_experiment(client, "race")
    ctx = multiprocessing.get_context("spawn")
    writers, trials = 4, 6
    barrier = ctx.Barrier(writers)
    procs = [
        ctx.Process(target=_race_writer, args=(state_url, mlflow_uri, barrier, trials))
        for _ in range(writers)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=600)
    runs = client.search_runs([experiment], max_results=1000)
    per_window: dict[str, int] = {}
    for run in runs:
        key = run.data.tags["watchkeeper.window_key"]
        per_window[key] = per_window.get(key, 0) + 1
    worst = max(per_window.values(), default=0)
    return (
        f"1 run per window ({writers} processes × {trials} releases)",
        f"{len(per_window)} windows, at most {worst} run(s) each",
        len(per_window) == trials and worst == 1,
    )


def audit_tamper(tmp: Path) -> tuple[str, str, bool]:
    store = _store(tmp, "audit")
    for i in range(5):
        store.append_audit(model="churn", event="alert_fired", reasons=[str(i)])
    conn = sqlite3.connect(tmp / "audit.db")
    try:
        conn.execute(
            "INSERT OR REPLACE INTO audit_log (id, at, model, event, reasons, evidence) "
            "VALUES (1, '2026-01-01', 'churn', 'forged', '[]', '{}')"
        )
        replaced = "accepted"
    except sqlite3.DatabaseError:
        replaced = "refused"
    conn.execute("DROP TRIGGER audit_log_no_update")
    conn.execute("UPDATE audit_log SET decision = 'ok' WHERE seq = 3")
    conn.commit()
    conn.close()
    report = store.verify_audit()
    problem = report.problem
    return (
        "REPLACE refused; rewrite after DROP TRIGGER named",
        f"REPLACE {replaced}; verify: {report.to_text()}",
        replaced == "refused" and problem is not None and (problem.kind, problem.seq) == ("changed", 3),
    )


def secrets(tmp: Path) -> tuple[str, str, bool]:
    import os

    import yaml

    from watchkeeper.config import ConfigError, load_config

    os.environ["WATCHKEEPER_SLACK_WEBHOOK_URL"] = "https://hooks.slack.com/services/T/B/PLANTEDxyz"
    config = yaml.safe_load((ROOT / "configs/models/credit-risk.yaml").read_text())
    config["alerts"]["rules"] = [
        {
            "name": "lat",
            "condition": "serving.latency_p95_ms > 250",
            "annotations": {"summary": "see ${WATCHKEEPER_SLACK_WEBHOOK_URL}"},
        }
    ]
    path = tmp / "secret.yaml"
    path.write_text(yaml.safe_dump(config))
    try:
        load_config(path)
        observed, ok = "loaded (expanded?)", False
    except ConfigError as exc:
        observed, ok = "refused at load", "PLANTED" not in str(exc)
    return "${VAR} in an alert text refused, never expanded", observed, ok


def bad_input(tmp: Path) -> tuple[str, str, bool]:
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from watchkeeper.alerting.templates import check_template
    from watchkeeper.sources.files import FileSource

    root = tmp / "logs"
    for day, income in ((1, None), (2, ["60590.84 USD"] * 4), (3, None)):
        start = T0 + timedelta(days=day - 1)
        target = root / f"date={start:%Y-%m-%d}"
        target.mkdir(parents=True)
        times = pd.date_range(start + timedelta(hours=1), periods=4, freq="1h")
        frame = pd.DataFrame(
            {
                "timestamp": times if day != 3 else times.tz_localize(None),
                "income": income or [1.0, 2.0, 3.0, 4.0],
            }
        )
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), target / "part-0.parquet")
    (root / "date=2024-03-05").mkdir()
    (root / "date=2024-03-05" / "part-0.parquet").write_bytes(b"PAR1 corrupt")
    source = FileSource(str(root), format="parquet", partitioning="hive")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = source.read(
            columns=["timestamp", "income"], time_column="timestamp", start=T0, end=T0 + timedelta(days=3)
        )
    skipped = [Path(s["path"]).parent.name for s in frame.attrs.get("skipped_files", [])]
    try:
        check_template("{value:>50000000}")
        width = "accepted"
    except ValueError:
        width = "refused"
    return (
        "bad file skipped and named, naive file read as UTC, corrupt day outside window unopened, width capped",
        f"{len(frame)} rows, skipped {skipped}, width {width}",
        len(frame) == 8 and skipped == ["date=2024-03-02"] and width == "refused",
    )


SCENARIOS: dict[str, Callable[[Path], tuple[str, str, bool]]] = {
    "slack_webhook_slow": slow_slack_webhook,
    "slack_bot_slow": slow_slack_bot,
    "slack_500_then_ok": slack_500_429_refused,
    "pagerduty_timeout": pagerduty_timeout,
    "ledger_conflict_4_threads": ledger_conflict,
    "mlflow_down": mlflow_down,
    "mlflow_hung": mlflow_hung,
    "spool_truncated": spool_truncated,
    "window_run_race": concurrent_window_runs,
    "audit_tamper_sqlite": audit_tamper,
    "secret_in_alert_text": secrets,
    "bad_files_and_templates": bad_input,
}


def all_scenarios() -> dict[str, Callable[[Path], tuple[str, str, bool]]]:
    """This file's scenarios, then those of every `faults_<area>.py` beside it (its `SCENARIOS`)."""
    import importlib

    scenarios = dict(SCENARIOS)
    for path in sorted(Path(__file__).parent.glob("faults_*.py")):
        scenarios.update(importlib.import_module(path.stem).SCENARIOS)
    return scenarios


def main() -> int:
    scenarios = all_scenarios()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated scenario name fragments")
    args = parser.parse_args()
    wanted = [n for n in scenarios if not args.only or any(f in n for f in args.only.split(","))]
    rows = []
    with tempfile.TemporaryDirectory(prefix="wk-faults-") as tmp:
        for name in wanted:
            started = time.monotonic()
            try:
                expected, observed, ok = scenarios[name](Path(tmp))
            except Exception as exc:  # a scenario that crashes is a failed scenario, reported as such
                expected, observed, ok = "-", f"crashed: {type(exc).__name__}: {exc}", False
            rows.append(
                {
                    "scenario": name,
                    "expected": expected,
                    "observed": observed,
                    "ok": ok,
                    "seconds": round(time.monotonic() - started, 1),
                }
            )
    width = max(len(r["scenario"]) for r in rows)
    print(f"{'scenario':<{width}}  ok   expected | observed")
    for r in rows:
        print(f"{r['scenario']:<{width}}  {'yes' if r['ok'] else 'NO ':<4} {r['expected']} | {r['observed']}")
    print(json.dumps({"faults": rows, "all_ok": all(r["ok"] for r in rows)}, ensure_ascii=False))
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
