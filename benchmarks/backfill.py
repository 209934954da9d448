"""A backfill sequential and parallel, side by side, on the same generated data (Prefect's temporary server).

    python benchmarks/backfill.py --days 8 --rows 100000

Writes the demo's credit-risk data (a reference and `--days` daily windows of `--rows` rows with
their labels) twice under a temp dir, backfills one copy window by window (`parallel=False`) and
the other with its windows prepared in parallel on the local engine and folded in window order, and
prints one JSON line: each backfill's wall time, windows per minute, how many windows were prepared
ahead, and whether the two gave the same verdicts. (Their full equality, MLflow runs and state
database included, is `tests/e2e/test_parallel_backfill.py`.)
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))


def _write(root: Path, days: int, rows: int) -> Path:
    import pandas as pd
    import yaml

    from watchkeeper import demo_data

    def scored(frame: pd.DataFrame) -> pd.DataFrame:
        score = demo_data.default_probability(frame, concept_drift=False)
        return frame.assign(score=score, prediction=(score >= 0.5).astype("int64"), model_version="1")

    (root / "reference").mkdir(parents=True)
    scored(demo_data.make_reference(3, rows=max(rows, 20_000), days=10)).to_parquet(
        root / "reference" / "ref.parquet"
    )
    for day in range(1, days + 1):
        logs, labels = demo_data.make_day(day, 3, rows=rows)
        target = root / "inference" / f"date={demo_data.day_plan(day).start:%Y-%m-%d}"
        target.mkdir(parents=True)
        scored(logs).to_parquet(target / "part-0.parquet")
        (root / "labels" / f"day={day}").mkdir(parents=True)
        labels.to_parquet(root / "labels" / f"day={day}" / "part-0.parquet")
    config = yaml.safe_load((ROOT / "configs/models/credit-risk.yaml").read_text())
    config["model"]["name"] = "bench-model"
    config["expectations"]["suite"] = str(ROOT / "configs/expectations/credit-risk.yaml")
    config["retraining"]["enabled"] = False  # the same work per window both ways
    config["sources"] = {
        "inference_logs": {"type": "parquet", "path": str(root / "inference"), "partitioning": "hive"},
        "ground_truth": {"type": "parquet", "path": str(root / "labels"), "partitioning": "hive"},
        "reference": {"type": "parquet", "path": str(root / "reference" / "ref.parquet")},
    }
    path = root / "model.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _backfill(root: Path, config: Path, days: int, *, parallel: bool) -> dict[str, Any]:
    from flows.backfill import backfill
    from watchkeeper import demo_data

    os.environ["WATCHKEEPER_STATE_DIR"] = str(root / "state")
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlflow.db'}"
    start = demo_data.day_plan(1).start
    began = time.perf_counter()
    out = backfill(str(config), start=start, end=start + timedelta(days=days), parallel=parallel)
    wall = time.perf_counter() - began
    return {
        "wall_s": round(wall, 2),
        "windows": len(out),
        "windows_per_min": round(len(out) / wall * 60, 2),
        "prepared_ahead": sum(w["prepared_ahead"] for w in out),
        "verdicts": [w["verdict"] for w in out],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--days", type=int, default=8)
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    from watchkeeper.runtime import apply_runtime_defaults

    apply_runtime_defaults()  # telemetry opt-outs, the temporary server's start timeout
    with tempfile.TemporaryDirectory() as tmp:
        # A one-window backfill first, unmeasured: imports and first-use costs fall on neither.
        warm = Path(tmp) / "warm-up"
        _backfill(warm, _write(warm / "data", 1, 1_000), 1, parallel=True)
        runs = {}
        for mode in ("sequential", "parallel"):
            root = Path(tmp) / mode
            config = _write(root / "data", args.days, args.rows)
            runs[mode] = _backfill(root, config, args.days, parallel=mode == "parallel")
    seq, par = runs["sequential"], runs["parallel"]
    print(
        json.dumps(
            {
                "benchmark": "backfill",
                "days": args.days,
                "rows_per_window": args.rows,
                "cpus": os.cpu_count(),
                "sequential": {k: v for k, v in seq.items() if k != "verdicts"},
                "parallel": {k: v for k, v in par.items() if k != "verdicts"},
                "speedup": round(seq["wall_s"] / par["wall_s"], 2),
                "verdicts_equal": seq["verdicts"] == par["verdicts"],
            }
        )
    )


if __name__ == "__main__":
    main()
