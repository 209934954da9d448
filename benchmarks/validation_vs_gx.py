"""Validating one window through Watchkeeper vs Great Expectations alone, in the same process.

A seeded window (default 1,000,000 rows: request id, 10 numerical and 4 categorical features, a
predicted label and a score) is checked against a suite generated from a 50,000-row reference of the
same distribution (46 expectations). "GX alone" is what a user would write by hand: an ephemeral
context with progress bars off, a pandas data source, the suite built from the same expectation
configurations, and `batch.validate` with the same result format. "Watchkeeper" is
`validate_window(window, spec)`, which adds the missing-column check, result conversion and the
result JSON. The first Watchkeeper call builds (and caches) the GX context and suite; later calls
reuse them.

Both run on the window as sources return it now (categorical strings as pandas `category`, ids as
Arrow strings: `watchkeeper.sources.arrow`); GX alone also runs once on the same window with strings
as Python objects (`gx_object_s`), the representation sources returned before. Watchkeeper switches
off GX's batch fingerprint hash in the process (see `watchkeeper.validation.gx`); the timed GX-alone
runs come after that, so both sides do the same validation work. `benchmarks/monitor_window.py`
times GX alone as shipped instead.

Before timing, both paths run once on a 1,000-row slice so that GX's lazy imports are paid by neither.
Each side runs `--repeat` times, alternating; the best time of each is reported.

    python benchmarks/validation_vs_gx.py --rows 1000000

Prints one JSON line: rows, expectations, gx_s, gx_object_s, watchkeeper_first_s, watchkeeper_s,
ratio (watchkeeper_s / gx_s) and ratio_first (watchkeeper_first_s / gx_s).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

for _name, _value in {
    "DO_NOT_TRACK": "true",
    "GX_ANALYTICS_ENABLED": "false",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
}.items():
    os.environ.setdefault(_name, _value)

# The opt-outs above must be set before these imports (watchkeeper.config pulls in Evidently).
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pyarrow as pa  # noqa: E402

from watchkeeper.config import ColumnsConfig  # noqa: E402
from watchkeeper.sources.arrow import table_to_frame  # noqa: E402
from watchkeeper.validation import ExpectationSuiteSpec, generate_suite, validate_window  # noqa: E402

N_NUMERICAL = 10
CATEGORIES = {"region": 8, "channel": 4, "product": 12, "segment": 3}
RESULT_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": 20}


def make_frame(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data: dict[str, Any] = {"request_id": np.char.add("req-", np.arange(rows).astype(str)).astype(object)}
    for i in range(N_NUMERICAL):
        data[f"num_{i}"] = rng.normal(loc=i, scale=1 + i, size=rows)
    for name, k in CATEGORIES.items():
        data[name] = rng.choice(np.array([f"{name}_{j}" for j in range(k)], dtype=object), size=rows)
    data["prediction"] = rng.integers(0, 2, size=rows)
    data["score"] = rng.random(rows)
    frame = pd.DataFrame(data)
    # A few nulls and out-of-range values so GX has unexpected values to collect.
    frame.loc[frame.index[::997], "num_3"] = np.nan
    frame.loc[frame.index[::4999], "num_5"] = 1e6
    return frame


def columns() -> ColumnsConfig:
    return ColumnsConfig(
        numerical_features=tuple(f"num_{i}" for i in range(N_NUMERICAL)),
        categorical_features=tuple(CATEGORIES),
        score="score",
    )


def run_gx_alone(window: pd.DataFrame, spec: ExpectationSuiteSpec) -> float:
    """Everything a hand-written GX script does, timed end to end."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

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
            ExpectationConfiguration(type=e.type, kwargs=dict(e.kwargs)) for e in spec.expectations
        ],
    )
    result = batch_definition.get_batch(batch_parameters={"dataframe": window}).validate(
        suite, result_format=RESULT_FORMAT
    )
    elapsed = time.perf_counter() - start
    assert len(result.results) == len(spec.expectations)
    return elapsed


def run_watchkeeper(window: pd.DataFrame, spec: ExpectationSuiteSpec) -> float:
    start = time.perf_counter()
    report = validate_window(window, spec)
    elapsed = time.perf_counter() - start
    assert report.evaluated == len(spec.expectations)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=1, help="timed runs per side (best is kept)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    reference = make_frame(50_000, args.seed)
    spec = generate_suite(reference, columns=columns(), model_name="bench", window_rows=args.rows)
    object_window = make_frame(args.rows, args.seed + 1)
    window = table_to_frame(
        pa.Table.from_pandas(object_window, preserve_index=False), categorical=list(CATEGORIES)
    )

    # Warm-up on a slice with a throwaway suite name, so the timed Watchkeeper run still builds its
    # cached GX suite (and its first call pays everything a first window pays).
    warm_spec = ExpectationSuiteSpec(name="warm-up", expectations=spec.expectations)
    run_gx_alone(window.iloc[:1000], spec)
    validate_window(window.iloc[:1000], warm_spec)

    gx_times, wk_times = [], []
    wk_first = None
    for _ in range(args.repeat):
        gx_times.append(run_gx_alone(window, spec))
        elapsed = run_watchkeeper(window, spec)
        wk_first = elapsed if wk_first is None else wk_first
        wk_times.append(elapsed)
    if args.repeat == 1:
        wk_times.append(run_watchkeeper(window, spec))  # the cached path, as on every later window

    gx_object_s = run_gx_alone(object_window, spec)
    gx_s, wk_s = min(gx_times), min(wk_times)
    assert wk_first is not None
    print(
        json.dumps(
            {
                "benchmark": "validation_vs_gx",
                "rows": args.rows,
                "expectations": len(spec.expectations),
                "gx_s": round(gx_s, 3),
                "gx_object_s": round(gx_object_s, 3),
                "watchkeeper_first_s": round(wk_first, 3),
                "watchkeeper_s": round(wk_s, 3),
                "ratio": round(wk_s / gx_s, 3),
                "ratio_first": round(wk_first / gx_s, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
