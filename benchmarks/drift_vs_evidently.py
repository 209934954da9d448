"""Watchkeeper's drift engine vs Evidently 0.7's DataDriftPreset on the same frames, one process.

Generates N rows × (20 numerical + 5 categorical) columns per side with known drift in some
columns (mean shifts, a scale change, a changed category mix), runs both, and prints one JSON line:
both wall times, their ratio, the largest score difference, whether every decision agrees, and the
peak resident-memory increase of each run (sampled every 5 ms by a background thread).

    python benchmarks/drift_vs_evidently.py --rows 1000000

Watchkeeper runs first and without its reference cache (a cold run: both sides are profiled).

`--shape strings` is the string-categorical-heavy shape instead: 10 string columns of 5 to 500
categories (three with a changed mix, one with values the reference never had). Watchkeeper gets
them as sources return them (pandas `category`, dictionary-encoded by the Parquet reader), Evidently
as Python strings (what it is given in practice); the conversion is not timed for either.

    python benchmarks/drift_vs_evidently.py --rows 1000000 --shape strings
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import threading
import time
from collections.abc import Callable
from typing import Any

os.environ.setdefault("DO_NOT_TRACK", "true")

import numpy as np
import pandas as pd
import psutil

N_NUMERICAL = 20
N_CATEGORICAL = 5
DRIFTED_NUMERICAL = {"num_00": 0.5, "num_01": 0.2, "num_02": 0.05}  # mean shift in std units
SCALED_NUMERICAL = {"num_03": 1.5}
DRIFTED_CATEGORICAL = {"cat_0"}
STRING_CARDINALITIES = (5, 10, 20, 50, 100, 150, 200, 300, 400, 500)
DRIFTED_STRINGS = {"str_1", "str_4", "str_7"}  # a changed mix
UNSEEN_STRINGS = "str_8"  # values the reference never had


def make_frames(rows: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    categories = np.array(["alpha", "beta", "gamma", "delta", "epsilon", "zeta"], dtype=object)
    base_p = np.array([0.3, 0.25, 0.2, 0.1, 0.1, 0.05])
    drift_p = np.array([0.2, 0.25, 0.2, 0.15, 0.1, 0.1])

    def side(current: bool) -> pd.DataFrame:
        data: dict[str, Any] = {}
        for i in range(N_NUMERICAL):
            name = f"num_{i:02d}"
            shift = DRIFTED_NUMERICAL.get(name, 0.0) if current else 0.0
            scale = SCALED_NUMERICAL.get(name, 1.0) if current else 1.0
            values = rng.normal(10.0 * i + shift, scale, rows)
            if i % 5 == 4:  # a few columns with missing values and infinities
                values[rng.random(rows) < 0.01] = np.nan
                values[rng.random(rows) < 0.0005] = np.inf
            data[name] = values
        for j in range(N_CATEGORICAL):
            name = f"cat_{j}"
            p = drift_p if current and name in DRIFTED_CATEGORICAL else base_p
            data[name] = rng.choice(categories, size=rows, p=p)
        return pd.DataFrame(data)

    return side(False), side(True)


def make_string_frames(rows: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """10 string columns of 5 to 500 categories per side, as Python strings (see the module doc)."""
    rng = np.random.default_rng(seed)

    def side(current: bool) -> pd.DataFrame:
        data: dict[str, Any] = {}
        for j, k in enumerate(STRING_CARDINALITIES):
            name = f"str_{j}"
            values = np.array([f"{name}_value_{v:03d}" for v in range(k)], dtype=object)
            weights = 1.0 / np.arange(1, k + 1) ** (1.3 if current and name in DRIFTED_STRINGS else 1.0)
            codes = rng.choice(k, size=rows, p=weights / weights.sum())
            column = values[codes]
            if current and name == UNSEEN_STRINGS:
                column[rng.random(rows) < 0.02] = f"{name}_never_seen"
            data[name] = column
        return pd.DataFrame(data)

    return side(False), side(True)


class PeakRSS:
    """Peak resident memory above the level at start, sampled by a background thread."""

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.process = psutil.Process()
        self.peak = 0
        self._stop = threading.Event()

    def __enter__(self) -> PeakRSS:
        gc.collect()
        self.base = self.process.memory_info().rss
        self.peak = self.base
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(self.interval)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)

    @property
    def mib(self) -> float:
        return (self.peak - self.base) / 2**20


def timed(func: Callable[[], Any]) -> tuple[Any, float, float]:
    with PeakRSS() as mem:
        start = time.perf_counter()
        result = func()
        elapsed = time.perf_counter() - start
    return result, elapsed, mem.mib


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="rows per side")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--shape", choices=["mixed", "strings"], default="mixed")
    args = parser.parse_args()

    from watchkeeper.drift import DriftConfig, detect_drift
    from watchkeeper.drift.evidently_compat import run_evidently_drift

    if args.shape == "strings":
        reference, current = make_string_frames(args.rows, args.seed)
        numerical: list[str] = []
        categorical = list(reference.columns)
        # As sources return them: pandas `category` (the Parquet reader's dictionaries).
        ours_ref, ours_cur = reference.astype("category"), current.astype("category")
    else:
        reference, current = make_frames(args.rows, args.seed)
        numerical = [c for c in reference.columns if c.startswith("num_")]
        categorical = [c for c in reference.columns if c.startswith("cat_")]
        ours_ref, ours_cur = reference, current

    ours, ours_s, ours_mib = timed(
        lambda: detect_drift(
            ours_ref, ours_cur, DriftConfig(cache=False), numerical=numerical, categorical=categorical
        )
    )
    theirs, theirs_s, theirs_mib = timed(
        lambda: run_evidently_drift(reference, current, numerical=numerical, categorical=categorical)
    )

    max_abs = 0.0
    max_rel = 0.0
    agree = ours.dataset_drift == theirs.dataset_drift
    for col in ours.columns:
        other = theirs.columns[col.column]
        score = math.nan if col.score is None else col.score
        diff = abs(score - other.score)
        max_abs = max(max_abs, diff)
        max_rel = max(max_rel, diff / max(abs(other.score), 1e-300))
        agree = agree and col.drifted == other.drifted
    print(
        json.dumps(
            {
                "benchmark": "drift_vs_evidently",
                "shape": args.shape,
                "rows": args.rows,
                "columns": len(numerical) + len(categorical),
                "watchkeeper_s": round(ours_s, 3),
                "evidently_s": round(theirs_s, 3),
                "ratio": round(theirs_s / ours_s, 1),
                "max_score_diff": max_abs,
                "max_rel_score_diff": max_rel,
                "all_decisions_agree": bool(agree),
                "n_drifted": [ours.n_drifted, theirs.n_drifted],
                "watchkeeper_peak_mib": round(ours_mib, 1),
                "evidently_peak_mib": round(theirs_mib, 1),
                "cpus": os.cpu_count(),
            }
        )
    )


if __name__ == "__main__":
    main()
