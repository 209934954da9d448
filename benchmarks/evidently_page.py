"""The cost of Evidently's page of one demo-sized window, and of its parts, in one process.

The demo's credit-risk shapes (`watchkeeper.demo_data`): a 17,914-row reference, a 2,000-row window
with 70 % of its labels joined, 10 features, a score and the 0/1 label, at the demo's sample cap
(2,000 rows per side). Timed, after Evidently is imported and one warm-up page is rendered:

- `drift_only_s`: the page of a window without labels (feature and prediction drift), what the
  first evaluation of a window renders;
- `labeled_s`: the page once labels arrived (plus target drift and ClassificationPreset on the
  labeled rows), what each re-evaluation renders;
- `evidently_drift_preset_s`: Evidently's DataDriftPreset alone on the same samples (the peer: what
  the page cost when it showed feature drift only).

    python benchmarks/evidently_page.py --repeat 3

Prints one JSON line: rows, figures in seconds (best of `--repeat`), page size in MB and the ratio
of the labeled page to the drift preset alone.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings
from collections.abc import Callable
from typing import Any

for _name, _value in {"DO_NOT_TRACK": "true", "GX_ANALYTICS_ENABLED": "false"}.items():
    os.environ.setdefault(_name, _value)

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from watchkeeper import demo_data  # noqa: E402
from watchkeeper.drift import evaluate_drift, fit_drift  # noqa: E402
from watchkeeper.drift.evidently_compat import run_evidently_drift  # noqa: E402
from watchkeeper.drift.html import render_evidently_html, sample_evidently_inputs, with_drift  # noqa: E402

NUMERICAL = list(demo_data.NUMERICAL)
CATEGORICAL = list(demo_data.CATEGORICAL)
TARGET = demo_data.TARGET


def with_outputs(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """A score that follows the features a little (any probability serves the page's cost)."""
    rng = np.random.default_rng(seed)
    z = (frame["credit_score"].to_numpy(float) - 680) / 60 + rng.normal(0, 1, len(frame))
    return frame.assign(score=1 / (1 + np.exp(z)))


def best(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cap", type=int, default=2_000)
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    reference = with_outputs(demo_data.make_reference(rows=17_914), 0)
    logs, labels = demo_data.make_day(3)
    window = with_outputs(logs, 3)
    numerical = NUMERICAL
    known = labels.sample(frac=0.7, random_state=0).set_index("request_id")[TARGET]
    window[TARGET] = window["request_id"].map(known).astype(float)  # joined labels: NaN until known
    reference[TARGET] = reference[TARGET].astype(float)
    profile = fit_drift(
        reference, numerical=numerical, categorical=CATEGORICAL, prediction=["score"], target=TARGET
    )

    def page(labeled: bool) -> str:
        table = evaluate_drift(profile, window, prediction=["score"], include_target=labeled)
        inputs = sample_evidently_inputs(
            reference,
            window,
            numerical=numerical,
            categorical=CATEGORICAL,
            target=TARGET if labeled else None,
            prediction="score",
            task="classification",
            sample_cap=args.cap,
        )
        return render_evidently_html(with_drift(inputs, table))

    page(True)  # warm-up: Evidently's imports and first-call caches are paid by neither
    drift_only_s, _ = best(lambda: page(False), args.repeat)
    labeled_s, html = best(lambda: page(True), args.repeat)
    ref_sample = reference.sample(n=min(args.cap, len(reference)), random_state=0)
    peer_s, _ = best(
        lambda: run_evidently_drift(ref_sample, window, numerical=numerical, categorical=CATEGORICAL),
        args.repeat,
    )
    print(
        json.dumps(
            {
                "reference_rows": len(reference),
                "window_rows": len(window),
                "labeled_rows": int(window[TARGET].notna().sum()),
                "sample_cap": args.cap,
                "drift_only_s": round(drift_only_s, 2),
                "labeled_s": round(labeled_s, 2),
                "evidently_drift_preset_s": round(peer_s, 2),
                "page_mb": round(len(html) / 1e6, 1),
                "ratio_labeled_to_preset": round(labeled_s / peer_s, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
