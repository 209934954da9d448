"""Benchmark: the performance and serving sections on a 1,000,000-row window.

Times `evaluate_performance` (realized metrics overall and per model version, CBPE estimates, the
gap test, both sequential detectors) and `compute_serving_metrics` on one window, next to the same
realized metrics computed with scikit-learn (the peer) in the same process. Prints one JSON line.

    .venv/bin/python benchmarks/performance_window.py [--rows 1000000] [--task binary|multiclass|regression]
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from watchkeeper.config import ColumnsConfig, TaskType
from watchkeeper.performance import evaluate_performance, fit_performance_baseline
from watchkeeper.performance.config import PerformanceConfig
from watchkeeper.performance.serving import compute_serving_metrics

START = datetime(2026, 1, 1, tzinfo=UTC)


def _frame(rng: np.random.Generator, n: int, task: str, day: int) -> pd.DataFrame:
    x = rng.normal(size=(n, 3))
    ts = pd.Timestamp(START) + pd.to_timedelta(day * 86400 + np.sort(rng.random(n)) * 86400, unit="s")
    out = {
        "request_id": np.arange(n) + day * n,
        "timestamp": ts,
        "latency_ms": rng.gamma(2.0, 10.0, n),
        "status": np.where(rng.random(n) < 0.01, "500", "ok"),
        "model_version": np.where(rng.random(n) < 0.5, "v1", "v2"),
    }
    if task == "binary":
        logit = x @ np.array([1.5, -1.0, 0.5]) - 0.3
        score = 1 / (1 + np.exp(-1.6 * logit))
        y = rng.random(n) < 1 / (1 + np.exp(-logit))
        target = np.where(rng.random(n) < 0.7, y.astype(float), np.nan)  # 70% labeled
        out |= {"score": score, "prediction": (score >= 0.5).astype(int), "target": target}
    elif task == "multiclass":
        logits = x * 1.5
        p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        y = (rng.random(n)[:, None] > np.cumsum(p, axis=1)).sum(axis=1)
        names = np.array(["a", "b", "c"])
        out |= {"p_a": p[:, 0], "p_b": p[:, 1], "p_c": p[:, 2], "prediction": names[p.argmax(axis=1)]}
        out["target"] = np.where(rng.random(n) < 0.7, names[np.minimum(y, 2)], None)
    else:
        pred = x @ np.array([3.0, 1.0, -2.0]) + 10
        out |= {
            "prediction": pred,
            "target": np.where(rng.random(n) < 0.7, pred + rng.normal(0, 1, n), np.nan),
        }
    return pd.DataFrame(out)


def _sklearn_realized(window: pd.DataFrame, task: str) -> None:
    lab = window[window["target"].notna()]
    if task == "binary":
        y, yhat, s = lab["target"].astype(int), lab["prediction"], lab["score"]
        (
            skm.accuracy_score(y, yhat),
            skm.precision_score(y, yhat),
            skm.recall_score(y, yhat),
            skm.f1_score(y, yhat),
        )
        (
            skm.roc_auc_score(y, s),
            skm.average_precision_score(y, s),
            skm.log_loss(y, s),
            skm.confusion_matrix(y, yhat),
        )
    elif task == "multiclass":
        y, yhat, p = lab["target"], lab["prediction"], lab[["p_a", "p_b", "p_c"]].to_numpy()
        skm.accuracy_score(y, yhat), skm.confusion_matrix(y, yhat)
        for avg in ("macro", "weighted"):
            skm.precision_score(y, yhat, average=avg), skm.recall_score(y, yhat, average=avg)
            skm.f1_score(y, yhat, average=avg)
        skm.roc_auc_score(y, p, multi_class="ovr"), skm.log_loss(y, p)
    else:
        y, yhat = lab["target"], lab["prediction"]
        skm.mean_absolute_error(y, yhat), skm.mean_squared_error(y, yhat)
        skm.mean_absolute_percentage_error(y, yhat), skm.r2_score(y, yhat)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--reference-rows", type=int, default=200_000)
    parser.add_argument("--task", choices=["binary", "multiclass", "regression"], default="binary")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    task = {"binary": TaskType.BINARY, "multiclass": TaskType.MULTICLASS, "regression": TaskType.REGRESSION}[
        args.task
    ]
    cols = ColumnsConfig(
        numerical_features=("x1",),
        score="score" if args.task == "binary" else None,
        probabilities={"a": "p_a", "b": "p_b", "c": "p_c"} if args.task == "multiclass" else None,
        latency_ms="latency_ms",
        status="status",
        model_version="model_version",
    )
    config = PerformanceConfig()
    per_day = args.reference_rows // 20
    reference = pd.concat([_frame(rng, per_day, args.task, d - 20) for d in range(20)], ignore_index=True)
    reference = reference[reference["target"].notna()]
    window = _frame(rng, args.rows, args.task, 0)

    t0 = time.perf_counter()
    baseline = fit_performance_baseline(
        reference, columns=cols, task=task, config=config, window_size=timedelta(days=1)
    )
    t1 = time.perf_counter()
    report = evaluate_performance(
        window, baseline, columns=cols, task=task, config=config, labels_complete=True
    )
    t2 = time.perf_counter()
    serving = compute_serving_metrics(
        window, columns=cols, window_start=START, window_end=START + timedelta(days=1)
    )
    t3 = time.perf_counter()
    _sklearn_realized(window, args.task)
    t4 = time.perf_counter()
    print(
        json.dumps(
            {
                "benchmark": "performance_window",
                "task": args.task,
                "rows": args.rows,
                "labeled": report.n_labeled,
                "reference_rows": len(reference),
                "fit_baseline_s": round(t1 - t0, 3),
                "evaluate_performance_s": round(t2 - t1, 3),
                "serving_metrics_s": round(t3 - t2, 3),
                "sklearn_realized_only_s": round(t4 - t3, 3),
                "figures": len(report.figures()) + len(serving.figures()),
            }
        )
    )


if __name__ == "__main__":
    main()
