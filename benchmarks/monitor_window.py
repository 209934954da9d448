"""The whole monitor computation on one generated window, step by step (no Prefect server start).

    python benchmarks/monitor_window.py --rows 1000000

Writes a window of N rows (and a reference) as Parquet in a temp dir, then runs what the monitor flow
runs, in order: load (with the label join), drift, performance baseline and evaluation, serving,
validation, report assembly and MLflow logging to a temporary SQLite store. Prints one JSON line with
each step's wall time, CPU time and peak RSS (see `watchkeeper.footprint` for how they are taken).
The Evidently HTML report is left out: it runs on a capped sample, so its cost does not grow with N.
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

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from watchkeeper.runtime import apply_runtime_defaults  # noqa: E402

apply_runtime_defaults()

from watchkeeper import checks, demo_data  # noqa: E402
from watchkeeper.config import load_config  # noqa: E402
from watchkeeper.footprint import StepFootprint  # noqa: E402
from watchkeeper.report import MonitoringReport  # noqa: E402
from watchkeeper.windows import load_reference, load_window  # noqa: E402


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
        config = load_config(config_path)
        start = demo_data.day_plan(demo_data.DRIFT_FROM).start
        end = start + timedelta(days=1)
        fp = StepFootprint()
        total = time.perf_counter()
        with fp.measure("load_reference"):
            reference = load_reference(config)
        with fp.measure("load_window"):
            data = load_window(config, start, end)
        frame = data.frame
        with fp.measure("drift"):
            drift = checks.check_drift(config, frame, reference, cache_dir=None)
        with fp.measure("perf_baseline"):
            baseline = checks.fit_baseline(config, reference)
        with fp.measure("perf"):
            perf = checks.check_performance(
                config, frame, baseline, detector_state=None, labels_complete=True
            )
        with fp.measure("serving"):
            serving = checks.check_serving(config, frame, start, end)
        with fp.measure("validation"):
            validation = checks.check_validation(frame, checks.load_expectations(config, config_path))
        with fp.measure("report"):
            sections = {
                "window": data.report,
                "drift": drift,
                "perf": perf,
                "serving": serving,
                "validation": validation,
            }
            report = MonitoringReport(
                model=config.model.name,
                window_start=start,
                window_end=end,
                evaluated_at=pd.Timestamp.now(tz="UTC").to_pydatetime(),
                model_versions=checks.model_versions(config, frame),
                config_hash="benchmark",
                sections={k: v for k, v in sections.items() if v is not None},
            )
            report_json = report.to_json()
        with fp.measure("mlflow"):
            from tasks.tracking_tasks import report_payload, write_report_run

            write_report_run(
                report_payload(report),
                tracking_uri=os.environ["MLFLOW_TRACKING_URI"],
                experiment="benchmark",
                artifacts={"drift/columns.csv": drift.to_frame().to_csv(index=False) if drift else ""},
            )
        total = time.perf_counter() - total
        steps = fp.report().to_dict()
        print(
            json.dumps(
                {
                    "benchmark": "monitor_window",
                    "rows": args.rows,
                    "reference_rows": args.reference_rows,
                    "labeled_rows": int(data.report.labeled),
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
