"""Embedding drift: Watchkeeper's four methods vs Evidently 0.7's, on the same vectors, one process.

Generates N × D embeddings per side (the window's first components shifted), runs each method on
both sides and prints one JSON line: per method both wall times, their ratio, the scores and whether
the decisions agree. The window comes as a fixed-size-list Arrow column, as a vector store exports it
(Watchkeeper reads it without a copy; Evidently needs one column per dimension).

    python benchmarks/embeddings_vs_evidently.py --rows 100000 --dims 384

Evidently's `mmd` builds the full (n+m)² kernel matrix (320 GB at 100,000 rows a side), so it runs
on the same `--mmd-sample` rows Watchkeeper caps the method at; that row reports the score
difference on those rows.
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("DO_NOT_TRACK", "true")

import numpy as np
import pandas as pd
import pyarrow as pa
from evidently.legacy.metrics.data_drift.embedding_drift_methods import (
    DistanceDriftMethod,
    MMDDriftMethod,
    ModelDriftMethod,
    RatioDriftMethod,
)

from watchkeeper.drift.embeddings import EmbeddingsConfig, detect_embedding_drift, read_vectors


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--dims", type=int, default=384)
    parser.add_argument("--mmd-sample", type=int, default=2000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(args.rows, args.dims))
    cur = rng.normal(size=(args.rows, args.dims))
    cur[:, :8] += 0.2
    column = pd.Series(
        pd.arrays.ArrowExtensionArray(pa.FixedSizeListArray.from_arrays(pa.array(cur.ravel()), args.dims))
    )
    t = time.perf_counter()
    cur_read, _ = read_vectors(column)
    read_s = time.perf_counter() - t
    out: dict[str, object] = {"rows": args.rows, "dims": args.dims, "read_arrow_s": round(read_s, 3)}
    cases = {
        "model": (EmbeddingsConfig(method="model"), ModelDriftMethod(), None),
        "ratio": (EmbeddingsConfig(method="ratio"), RatioDriftMethod(), None),
        "distance": (EmbeddingsConfig(method="distance"), DistanceDriftMethod(), None),
        "mmd": (
            EmbeddingsConfig(method="mmd", mmd_sample=args.mmd_sample),
            MMDDriftMethod(),
            args.mmd_sample,
        ),
    }
    for name, (config, theirs, sample) in cases.items():
        t = time.perf_counter()
        _, ours_score, ours_drift, _, _ = detect_embedding_drift(ref, cur_read, config)
        ours_s = time.perf_counter() - t
        r, c = ref, cur
        if sample is not None and args.rows > sample:
            # The rows Watchkeeper's cap keeps (drift_by_mmd draws them the same way).
            pick = np.random.default_rng(0)
            r = ref[np.sort(pick.choice(args.rows, sample, replace=False))]
            c = cur[np.sort(pick.choice(args.rows, sample, replace=False))]
        t = time.perf_counter()
        their_score, their_drift, _ = theirs(pd.DataFrame(c), pd.DataFrame(r))
        their_s = time.perf_counter() - t
        out[name] = {
            "watchkeeper_s": round(ours_s, 3),
            "evidently_s": round(their_s, 3),
            "speedup": round(their_s / ours_s, 2) if ours_s else None,
            "score": ours_score,
            "score_diff": abs(ours_score - float(their_score)),
            "decisions_agree": bool(ours_drift) == bool(their_drift),
            "evidently_rows": None if sample is None else min(sample, args.rows),
        }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
