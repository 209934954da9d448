"""The whole monitor computation on one generated window, step by step (no Prefect server start).

    python benchmarks/monitor_window.py --rows 1000000

Writes a window of N rows (and a reference) as Parquet in a temp dir, then runs what the monitor flow
runs, through the same library calls (`watchkeeper.monitoring.fit_checks` / `evaluate_window`): read
the reference and the labels, fit the checks, load the window (with the label join), drift,
performance, serving, validation, report assembly, and MLflow logging to a temporary SQLite store.
Prints one JSON line with each step's wall time, CPU time and peak RSS (see `watchkeeper.footprint`
for how they are taken). The Evidently HTML report is left out: it runs on a capped sample, so its
cost does not grow with N.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from watchkeeper.runtime import apply_runtime_defaults  # noqa: E402

apply_runtime_defaults()

from watchkeeper import demo_data  # noqa: E402
from watchkeeper.checks import standard_checks  # noqa: E402
from watchkeeper.config import load_config_file  # noqa: E402
from watchkeeper.footprint import StepFootprint  # noqa: E402
from watchkeeper.monitoring import evaluate_window, fit_checks  # noqa: E402
from watchkeeper.windows import load_window, read_labels, read_reference  # noqa: E402


def _scored(frame: pd.DataFrame, day: int) -> pd.DataFrame:
    score = demo_data.default_probability(frame, concept_drift=False)
    return frame.assign(
        score=score, prediction=(score >= 0.5).astype("int64"), model_version=str(1 + day % 2)
    )


def prepare(root: Path, rows: int, reference_rows: int) -> Path:
    os.environ["WATCHKEEPER_STATE_DIR"] = str(root / "state")
    ref = demo_data.make_reference(1, rows=reference_rows, days=20)
    (root / "state" / "demo" / "reference").mkdir(parents=True)
    _scored(ref, 0).to_parquet(root / "state" / "demo" / "reference" / "champion.parquet")
    logs, labels = demo_data.make_day(demo_data.DRIFT_FROM, 1, rows=rows)  # a drifted day: real work
    inference = root / "state" / "demo" / "inference" / "date=2026-03-08"
    inference.mkdir(parents=True)
    _scored(logs, 8).to_parquet(inference / "part-0.parquet", row_group_size=256_000)
    gt = root / "state" / "demo" / "ground_truth" / "arrived=2026-03-11"
    gt.mkdir(parents=True)
    labels.to_parquet(gt / "part-0.parquet")
    return ROOT / "configs" / "models" / "credit-risk.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--reference-rows", type=int, default=200_000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        config_path = prepare(root, args.rows, args.reference_rows)
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlflow.db'}"
        loaded = load_config_file(config_path)
        config = loaded.config
        start = demo_data.day_plan(demo_data.DRIFT_FROM).start
        end = start + timedelta(days=1)
        fp = StepFootprint()

        def measured(step: str, fn: Any, *call_args: Any) -> Any:
            # Fits are measured here; window steps are measured by the runner's own footprint.
            if not step.startswith("fit-"):
                return fn(*call_args)
            with fp.measure(step):
                return fn(*call_args)

        total = time.perf_counter()
        with fp.measure("load_reference"):
            reference = read_reference(config)
        with fp.measure("load_labels"):
            labels = read_labels(config)
        checks = standard_checks(loaded.path, cache_dir=None, with_html=False)
        fitted = fit_checks(checks, reference, config, run=measured)
        result = evaluate_window(
            checks,
            fitted,
            config=config,
            config_hash=loaded.hash,
            start=start,
            end=end,
            load=lambda: load_window(config, start, end, labels=labels),
            labels_complete=True,
            run=measured,
        )
        report = result.report
        for step in report.sections["footprint"].steps:
            fp.add(step)
        with fp.measure("report"):
            report_json = report.to_json()
        with fp.measure("mlflow"):
            from tasks.tracking_tasks import open_tracking, report_payload, write_report_run

            write_report_run(
                report_payload(report),
                tracking=open_tracking(os.environ["MLFLOW_TRACKING_URI"]),
                experiment="benchmark",
                artifacts=dict(result.publication.artifacts),
            )
        total = time.perf_counter() - total
        steps = fp.report().to_dict()
        print(
            json.dumps(
                {
                    "benchmark": "monitor_window",
                    "rows": args.rows,
                    "reference_rows": args.reference_rows,
                    "labeled_rows": int(report.sections["window"].labeled),
                    "verdict": report.verdict.label,
                    "total_s": round(total, 3),
                    "report_bytes": len(report_json),
                    "steps": {
                        s["name"]: {k: s[k] for k in ("wall_s", "cpu_s", "peak_rss_mb")}
                        for s in steps["steps"]
                    },
                    "peak_rss_mb": max(s["peak_rss_mb"] for s in steps["steps"]),
                }
            )
        )


if __name__ == "__main__":
    main()
