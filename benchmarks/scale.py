"""Scale-out: a window of N rows monitored in bounded memory (local engine), on a Dask LocalCluster,
and beside them today's in-memory path at a size it can hold.

    python benchmarks/scale.py --rows 20000000            # ~20 GB of work; minutes on 2 cores
    python benchmarks/scale.py --rows 2000000 --no-dask   # a quick look
    python benchmarks/scale.py --rows 1000000 --agree-only  # the 1M-row agreement alone

Writes the window as Parquet files of 1M rows (generated one file at a time, vectorized, never the
whole window in memory) plus a 200k-row reference, then runs each engine in a fresh process so its
peak RSS is its own (`ru_maxrss`; the Dask workers' peak is taken from their processes):

- ``local``: the partitioned path (`watchkeeper.partitioned`), thread pool, at N rows and at N/10
  rows (the memory bound: peak RSS at N within 1.2× of that at N/10);
- ``dask``: the same on a `LocalCluster` (2 worker processes, 1 thread each) at N rows;
- ``memory``: the in-memory path (`evaluate_window`, what the monitor flow ran before) at N/10
  rows: its RSS per row says what N rows would need;
- ``agree``: at 1M rows with labels (and segments by `home_ownership`), the partitioned path
  against the in-memory path: every decision, every exact figure (CBPE's estimates, the gap test,
  multivariate drift and the segments included), every approximate figure against its stated
  bound, and what the partitioned path could not evaluate; the labels complete, so both paths'
  pending detectors are fed from the same (empty) state and compared.

The big windows have no labels yet (the newest window of a model with a label lag), so the label
join, realized quality and target drift are exercised by ``agree``. GX runs on every partition.
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from watchkeeper.runtime import apply_runtime_defaults  # noqa: E402

apply_runtime_defaults()

from watchkeeper import demo_data  # noqa: E402

CHUNK = 1_000_000
DAY = demo_data.DRIFT_FROM  # a drifted day: every check has work to do


def _scored(frame: pd.DataFrame) -> pd.DataFrame:
    score = demo_data.default_probability(frame, concept_drift=False)
    version = np.where(np.arange(len(frame)) % 10 == 0, "2", "1")
    return frame.assign(score=score, prediction=(score >= 0.5).astype("int64"), model_version=version)


def prepare(root: Path, rows: int) -> None:
    """The reference, then the window file by file (with the labels of each file)."""
    (root / "reference").mkdir(parents=True, exist_ok=True)
    _scored(demo_data.make_reference(1, rows=200_000, days=20)).to_parquet(root / "reference" / "ref.parquet")
    (root / "inference").mkdir(exist_ok=True)
    (root / "labels").mkdir(exist_ok=True)
    for i in range(math.ceil(rows / CHUNK)):
        n = min(CHUNK, rows - i * CHUNK)
        logs, labels = demo_data.make_day(DAY, 1 + i, rows=n)
        prefix = f"c{i:03d}-"
        logs["request_id"] = prefix + logs["request_id"]
        labels["request_id"] = prefix + labels["request_id"]
        _scored(logs).to_parquet(root / "inference" / f"part-{i:03d}.parquet", row_group_size=250_000)
        labels.to_parquet(root / "labels" / f"part-{i:03d}.parquet")
        del logs, labels


def write_config(
    root: Path,
    name: str,
    files: int,
    *,
    labels: bool,
    extra: dict[str, Any],
    segments: list[str] | None = None,
) -> Path:
    """A model config reading the first `files` files of the window (linked into their own folder)."""
    folder = root / f"inference-{files}"
    if not folder.exists():
        folder.mkdir()
        for i in range(files):
            (folder / f"part-{i:03d}.parquet").symlink_to(root / "inference" / f"part-{i:03d}.parquet")
    config = yaml.safe_load((ROOT / "configs/models/credit-risk.yaml").read_text())
    config["model"]["name"] = f"scale-{name}"
    config["expectations"]["suite"] = str(ROOT / "configs/expectations/credit-risk.yaml")
    config["sources"] = {
        "inference_logs": {"type": "parquet", "path": str(folder)},
        "reference": {"type": "parquet", "path": str(root / "reference" / "ref.parquet")},
    }
    if labels:
        config["sources"]["ground_truth"] = {
            "type": "parquet",
            "path": str(root / "labels" / "part-000.parquet"),
        }
    config["execution"] = extra
    if segments:
        config["segments"] = segments
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _cpu_s() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_child(mode: str, config_path: Path) -> dict[str, Any]:
    """One engine on one window in this (fresh) process."""
    from watchkeeper.checks import standard_checks
    from watchkeeper.config import load_config_file
    from watchkeeper.execution import resolve_execution
    from watchkeeper.monitoring import evaluate_window, fit_checks
    from watchkeeper.partitioned.agreement import compare_figures, decisions, feed_detectors
    from watchkeeper.partitioned.engine import evaluate_partitioned, open_mapper, plan_window
    from watchkeeper.performance.evaluate import DEFER_DETECTORS
    from watchkeeper.windows import load_window, read_labels, read_reference

    loaded = load_config_file(config_path)
    config = loaded.config
    start = demo_data.day_plan(DAY).start
    end = start + timedelta(days=1)
    checks = standard_checks(config_path, cache_dir=None, with_html=False)
    fitted = fit_checks(checks, read_reference(config), config)
    labels = read_labels(config)
    rss_fitted = _peak_rss_mb()
    # The agreement runs with the labels complete, so both paths stream the detectors (compared fed
    # from the same state); the timed runs wait for labels, as a fresh window does.
    labels_complete = mode == "agree"

    def in_memory() -> Any:
        return evaluate_window(
            checks,
            fitted,
            config=config,
            config_hash=loaded.hash,
            start=start,
            end=end,
            load=lambda: load_window(config, start, end, labels=labels),
            labels_complete=labels_complete,
            state={"perf": DEFER_DETECTORS},
        )

    def partitioned() -> Any:
        execution = resolve_execution(config.execution)
        source = plan_window(config, execution, start, end, force=True)
        assert source is not None
        with open_mapper(execution) as mapper:
            return evaluate_partitioned(
                fitted,
                source,
                mapper,
                config=config,
                config_hash=loaded.hash,
                start=start,
                end=end,
                labels=labels,
                labels_complete=labels_complete,
                memory_budget=execution.memory_budget,
            )

    t0, cpu0 = time.perf_counter(), _cpu_s()
    result = in_memory() if mode == "memory" else partitioned()
    wall, cpu = time.perf_counter() - t0, _cpu_s() - cpu0
    report = result.report
    rows = report.section("window").rows
    out: dict[str, Any] = {
        "rows": rows,
        "wall_s": round(wall, 2),
        "rows_per_s": round(rows / wall),
        # On a shared machine wall time waits for other jobs; CPU time (this process and its
        # finished children) says what 2 free cores would do: rows / (cpu / 2).
        "cpu_s": round(cpu, 1),
        "rows_per_s_on_2_free_cores": round(rows / max(cpu / 2, wall / 64, 1e-9)),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "rss_after_fit_mb": round(rss_fitted, 1),
        "errors": report.errors,
        "verdict": report.verdict.label,
    }
    workers_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
    if mode == "dask":
        out["worker_peak_rss_mb"] = round(workers_rss, 1)
    section = report.section("partitioned")
    if section is not None:
        out["partitions"] = section.partitions
        out["approximate_figures"] = len(section.approximate)
        out["max_bound"] = {
            a.figure: round(a.bound, 6) for a in section.approximate if a.figure.startswith("drift.")
        }
    if mode == "agree":
        exact = feed_detectors(in_memory(), None).report
        report = feed_detectors(result, None).report
        problems = compare_figures(exact, report)
        exact_figures, part_figures = exact.figures(), report.figures()
        families = (
            "perf.estimated.",
            "perf.concept.gap.",
            "perf.concept.ddm.",
            "perf.concept.page_hinkley.",
            "perf.concept_drift",
            "drift.multivariate.",
            "segments.",
        )
        worst: dict[str, dict[str, Any]] = {}
        for a in section.approximate:
            family = next((f for f in families if a.figure.startswith(f)), a.figure.split(".")[0] + ".")
            if family not in worst or a.bound > worst[family]["bound"]:
                worst[family] = {"figure": a.figure, "bound": a.bound, "exact": exact_figures.get(a.figure)}
        out.update(
            decisions_identical=decisions(exact) == decisions(report),
            detectors_identical=exact.section("perf").detectors == report.section("perf").detectors,
            detector_rows_fed=report.section("perf").detector_state.get("rows_consumed"),
            figures_checked=len(exact_figures),
            figures_outside_bound_or_unequal=problems,
            # The figures this path gained: each in both reports, equal (or within its bound).
            new_figures_compared={
                f: sum(1 for k in exact_figures if k.startswith(f) and k in part_figures) for f in families
            },
            sections_missing=[s for s in exact.sections if s not in report.sections and s != "footprint"],
            not_evaluated=dict(section.not_evaluated),
            largest_bound_per_family=worst,
            approximate=[
                {"figure": a.figure, "bound": a.bound, "exact": exact_figures.get(a.figure)}
                for a in section.approximate
            ][:12],
        )
    return out


def _spawn(mode: str, config_path: Path) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", mode, "--config", str(config_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        return {"failed": proc.stderr.strip().splitlines()[-5:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--no-dask", action="store_true")
    parser.add_argument("--no-agree", action="store_true")
    parser.add_argument("--agree-only", action="store_true", help="only the 1M-row agreement")
    parser.add_argument("--child")
    parser.add_argument("--config")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_child(args.child, Path(args.config)), default=str))
        return

    files = math.ceil(args.rows / CHUNK)
    small = max(1, files // 10)
    local = {"engine": "local", "workers": 2, "partition_rows": CHUNK}
    dask = {
        "engine": "dask",
        "partition_rows": CHUNK,
        "dask": {"cluster_kwargs": {"n_workers": 2, "threads_per_worker": 1, "memory_limit": "3GiB"}},
    }
    # The agreement window in 4 partitions (its 4 row groups): the merge is part of what agrees.
    agree_execution = {**local, "partition_rows": CHUNK // 4}
    with tempfile.TemporaryDirectory(prefix="wk-scale-") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        prepare(root, args.rows)
        out: dict[str, Any] = {"rows": args.rows, "generate_s": round(time.perf_counter() - t0, 1)}
        if args.agree_only:
            agree = write_config(
                root, "agree", 1, labels=True, extra=agree_execution, segments=["home_ownership"]
            )
            out["agree_1m"] = _spawn("agree", agree)
            print(json.dumps(out, default=str))
            return
        out["local"] = _spawn("local", write_config(root, "local", files, labels=False, extra=local))
        out["local_small"] = _spawn(
            "local", write_config(root, "local-small", small, labels=False, extra=local)
        )
        out["memory_small"] = _spawn("memory", write_config(root, "memory", small, labels=False, extra=local))
        if not args.no_dask:
            out["dask"] = _spawn("dask", write_config(root, "dask", files, labels=False, extra=dask))
        if not args.no_agree:
            agree = write_config(
                root, "agree", 1, labels=True, extra=agree_execution, segments=["home_ownership"]
            )
            out["agree_1m"] = _spawn("agree", agree)
    big, little, mem = out["local"], out["local_small"], out["memory_small"]
    if "peak_rss_mb" in big and "peak_rss_mb" in little:
        out["rss_ratio_big_vs_small"] = round(big["peak_rss_mb"] / little["peak_rss_mb"], 3)
    if "peak_rss_mb" in mem and "rss_after_fit_mb" in mem:
        per_row = (mem["peak_rss_mb"] - mem["rss_after_fit_mb"]) / max(mem["rows"], 1)
        out["memory_path_rss_at_rows_mb_estimate"] = round(mem["rss_after_fit_mb"] + per_row * args.rows)
    out["load_avg"] = os.getloadavg()
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    main()
