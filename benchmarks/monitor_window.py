"""The whole monitor computation on one generated window, step by step, with its peers (no Prefect server).

    python benchmarks/monitor_window.py --rows 1000000

A child process writes a window of N rows (and a reference) as Parquet in a temp dir, so generating
the data costs this process neither time nor memory. Then this process runs what the monitor flow
runs, through the same library calls (`watchkeeper.monitoring.fit_checks` / `evaluate_window`): import
the libraries, read the reference and the labels, fit the checks, load the window (typed, with the
label join), drift, performance, serving, validation, report assembly, and MLflow logging. MLflow is
measured twice apart: creating a fresh SQLite store (a first run; `mlflow_store_create`) and logging
the window to the existing store (every scheduled run; `mlflow`). `total_s` is the window's critical
path: every step above except `imports` and `mlflow_store_create`.

After that, off the critical path and out of `total_s`: Evidently's HTML page at the configured
sample cap (`html`, rendered after publishing in the flow), and the peers in the same process:
Great Expectations alone (a hand-written GX script: ephemeral context, the same suite, the same
result format) on the window as Python objects and on the typed window, and Evidently's
DataDriftPreset on a 100,000-row sample per side of the same columns (marked as a sample).

Prints one JSON line: each step's wall time, CPU time and peak RSS (see `watchkeeper.footprint` for
how they are taken), `peak_rss_mb` over the critical path, and the peers.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

PEER_SAMPLE = 100_000
RESULT_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": 20}


def _scored(frame: Any, day: int) -> Any:
    from watchkeeper import demo_data

    score = demo_data.default_probability(frame, concept_drift=False)
    return frame.assign(
        score=score, prediction=(score >= 0.5).astype("int64"), model_version=str(1 + day % 2)
    )


def prepare(root: Path, rows: int, reference_rows: int) -> None:
    """Write the reference, one drifted day of inference logs and its labels under `root/state`."""
    from watchkeeper import demo_data

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


def _object_frame(frame: Any) -> Any:
    """The window as sources returned it before typing: strings as Python objects, missing as None."""
    import pandas as pd

    out = frame.copy()
    for name in out.columns:
        if isinstance(out[name].dtype, pd.CategoricalDtype) or out[name].dtype == "string":
            values = out[name].astype(object)
            out[name] = values.where(values.notna(), None)
    return out


def gx_alone(window: Any, spec: Any) -> float:
    """Everything a hand-written GX script does (its default settings), timed end to end."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from great_expectations.execution_engine import pandas_execution_engine
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    # Watchkeeper switches GX's batch hashing off in this process; GX alone runs as shipped.
    saved = pandas_execution_engine.HASH_THRESHOLD
    pandas_execution_engine.HASH_THRESHOLD = 1e9
    try:
        start = time.perf_counter()
        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        batch_definition = (
            context.data_sources.add_pandas(f"bench-{start}")
            .add_dataframe_asset("window")
            .add_batch_definition_whole_dataframe("whole")
        )
        suite = gx.ExpectationSuite(
            name=spec.name,
            expectations=[
                ExpectationConfiguration(type=e.type, kwargs=dict(e.kwargs))
                for e in spec.expectations
                if all(c in window.columns for c in e.columns)
            ],
        )
        batch_definition.get_batch(batch_parameters={"dataframe": window}).validate(
            suite, result_format=RESULT_FORMAT
        )
        return time.perf_counter() - start
    finally:
        pandas_execution_engine.HASH_THRESHOLD = saved


def evidently_drift_sample(reference: Any, window: Any, config: Any) -> dict[str, Any]:
    from watchkeeper.drift.evidently_compat import run_evidently_drift

    cols = config.columns
    numerical, categorical = list(cols.numerical_features), list(cols.categorical_features)
    keep = numerical + categorical
    ref = _object_frame(reference[keep].sample(min(PEER_SAMPLE, len(reference)), random_state=0))
    cur = _object_frame(window[keep].sample(min(PEER_SAMPLE, len(window)), random_state=0))
    start = time.perf_counter()
    run_evidently_drift(ref, cur, numerical=numerical, categorical=categorical)
    return {
        "wall_s": round(time.perf_counter() - start, 3),
        "sample_rows_per_side": [len(ref), len(cur)],
        "note": f"DataDriftPreset on a {PEER_SAMPLE:,}-row sample per side, not the whole window",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--reference-rows", type=int, default=200_000)
    parser.add_argument("--no-peers", action="store_true", help="skip GX alone and Evidently")
    parser.add_argument("--prepare", type=Path, help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()
    if args.prepare is not None:
        prepare(args.prepare, args.rows, args.reference_rows)
        return

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        subprocess.run(
            [sys.executable, __file__, "--prepare", str(root), "--rows", str(args.rows),
             "--reference-rows", str(args.reference_rows)],
            check=True,
        )  # fmt: skip
        os.environ["WATCHKEEPER_STATE_DIR"] = str(root / "state")
        run_benchmark(root, args)


def run_benchmark(root: Path, args: argparse.Namespace) -> None:
    from watchkeeper.footprint import StepFootprint

    fp = StepFootprint()
    with fp.measure("imports"):
        from watchkeeper.runtime import apply_runtime_defaults

        apply_runtime_defaults()
        import great_expectations  # noqa: F401  (the monitor flow's process imports it too)

        from tasks.tracking_tasks import ensure_experiment, open_tracking, report_payload, write_report_run
        from watchkeeper import demo_data
        from watchkeeper.checks import EvidentlyReportCheck, Window, standard_checks
        from watchkeeper.config import load_config_file
        from watchkeeper.monitoring import evaluate_window, fit_checks
        from watchkeeper.windows import load_window, read_labels, read_reference

    config_path = ROOT / "configs" / "models" / "credit-risk.yaml"
    uri = f"sqlite:///{root / 'mlflow.db'}"
    with fp.measure("mlflow_store_create"):
        ensure_experiment(open_tracking(uri).client, "benchmark")

    loaded = load_config_file(config_path)
    config = loaded.config
    start = demo_data.day_plan(demo_data.DRIFT_FROM).start
    end = start + timedelta(days=1)

    def measured(step: str, fn: Any, *call_args: Any) -> Any:
        # Fits are measured here; window steps are measured by the runner's own footprint.
        if not step.startswith("fit-"):
            return fn(*call_args)
        with fp.measure(step.replace(".", "_")):  # a dotted check name (drift.multivariate)
            return fn(*call_args)

    kept: dict[str, Any] = {}

    def load() -> Any:
        data = load_window(config, start, end, labels=labels)
        kept["frame"] = data.frame  # for the peers, after the critical path
        window = Window(config, start, end, data.frame, labels_complete=True, state={})
        kept["html_inputs"] = EvidentlyReportCheck().prepare(kept["html_fitted"], window)
        return data

    critical = time.perf_counter()
    with fp.measure("load_reference"):
        reference = read_reference(config)
    with fp.measure("load_labels"):
        labels = read_labels(config)
    checks = standard_checks(loaded.path, cache_dir=None, with_html=False)
    fitted = fit_checks(checks, reference, config, run=measured)
    kept["html_fitted"] = EvidentlyReportCheck().fit(reference, config)
    result = evaluate_window(
        checks,
        fitted,
        config=config,
        config_hash=loaded.hash,
        start=start,
        end=end,
        load=load,
        labels_complete=True,
        run=measured,
    )
    report = result.report
    for step in report.sections["footprint"].steps:
        fp.add(step)
    with fp.measure("report"):
        report_json = report.to_json()
    with fp.measure("mlflow"):
        write_report_run(
            report_payload(report),
            tracking=open_tracking(uri),
            experiment="benchmark",
            artifacts=dict(result.publication.artifacts),
        )
    critical = time.perf_counter() - critical
    steps = fp.report().to_dict()["steps"]
    critical_steps = [s for s in steps if s["name"] not in ("imports", "mlflow_store_create")]

    # Evidently's import apart from the page: through the CLI, the page process imports it during the run.
    html = StepFootprint()
    with html.measure("evidently_import"):
        import evidently.presets  # noqa: F401
    with html.measure("html"):
        EvidentlyReportCheck.render(kept["html_inputs"])
    import_step, html_step = html.report().to_dict()["steps"]

    out: dict[str, Any] = {
        "benchmark": "monitor_window",
        "rows": args.rows,
        "reference_rows": args.reference_rows,
        "labeled_rows": int(report.sections["window"].labeled),
        "verdict": report.verdict.label,
        "total_s": round(critical, 3),
        "report_bytes": len(report_json),
        "steps": {s["name"]: {k: s[k] for k in ("wall_s", "cpu_s", "peak_rss_mb")} for s in steps},
        "peak_rss_mb": max(s["peak_rss_mb"] for s in critical_steps),
        "html": {
            "wall_s": html_step["wall_s"],
            "evidently_import_s": import_step["wall_s"],
            "sample_cap": config.drift.evidently_sample_cap,
            "note": "rendered after the window is published: not in total_s",
        },
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
    }
    if not args.no_peers:
        spec = fitted.get("validation")
        frame = kept.pop("frame")
        typed_s = gx_alone(frame, spec)
        object_frame = _object_frame(frame)
        object_s = gx_alone(object_frame, spec)
        del object_frame
        validation_s = out["steps"]["validation"]["wall_s"]
        out["peers"] = {
            "gx_alone_typed_s": round(typed_s, 3),
            "gx_alone_object_s": round(object_s, 3),
            "validation_vs_gx_alone_typed": round(validation_s / typed_s, 3),
            "evidently_drift": evidently_drift_sample(reference.frame, frame, config),
        }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
