"""Serving metrics from the inference logs: volume, throughput, latency and errors.

Computed on every row of the window (labels play no part), overall and per model version.
Throughput is requests per second over the whole window and over its busiest calendar minute.
Latency percentiles use linear interpolation (numpy's default) over rows with a latency; rows without
one are counted, not silently dropped. A request is an error when its status is not one of
`ColumnsConfig.ok_statuses` (compared as text, so 200 and "200" agree); a missing status is an error
too, reported under ``error_rate.missing``.

Serving thresholds are alert rules on these figures (``serving.latency_p95_ms > 250``), so this
section raises a finding only when the window holds no request at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from watchkeeper.performance.grouping import group_by_version
from watchkeeper.performance.inputs import timestamps_ns
from watchkeeper.performance.metrics import canonical_label, format_figure
from watchkeeper.schema import ColumnsConfig
from watchkeeper.verdict import NOTHING_TO_PUBLISH, Finding, Publication, Severity

PERCENTILES = (50, 90, 95, 99)


@dataclass(frozen=True)
class ServingStats:
    """Serving figures of one group of rows (the window, or one model version)."""

    request_count: int
    throughput_rps: float | None
    peak_minute_rps: float | None
    latency_ms: dict[str, float | None] = field(default_factory=dict)  # p50, p90, p95, p99, max
    latency_missing: int = 0
    error_rate: float | None = None
    error_rate_by_status: dict[str, float] = field(default_factory=dict)

    def figures(self) -> dict[str, float]:
        out: dict[str, float] = {"request_count": float(self.request_count)}
        if self.throughput_rps is not None:
            out["throughput_rps"] = self.throughput_rps
        if self.peak_minute_rps is not None:
            out["peak_minute_rps"] = self.peak_minute_rps
        for key, value in self.latency_ms.items():
            if value is not None:
                out[f"latency_{key}_ms"] = value
        if self.error_rate is not None:
            out["error_rate"] = self.error_rate
        for status, rate in self.error_rate_by_status.items():
            out[f"error_rate.{status}"] = rate
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "request_count": self.request_count,
            "throughput_rps": self.throughput_rps,
            "peak_minute_rps": self.peak_minute_rps,
            "latency_ms": dict(self.latency_ms),
            "latency_missing": self.latency_missing,
            "error_rate": self.error_rate,
            "error_rate_by_status": dict(self.error_rate_by_status),
        }


@dataclass(frozen=True)
class ServingReport:
    """The `serving` section: overall figures and the same per model version."""

    window_start: datetime
    window_end: datetime
    overall: ServingStats
    by_version: dict[str, ServingStats] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def figures(self) -> dict[str, float]:
        out = self.overall.figures()
        for version, stats in self.by_version.items():
            out.update({f"version.{version}.{k}": v for k, v in stats.figures().items()})
        return out

    def findings(self) -> list[Finding]:
        if self.overall.request_count == 0:
            return [
                Finding("serving", Severity.WARNING, "No request was logged in this window.", rule="no_data")
            ]
        return []

    def publish(self) -> Publication:
        return NOTHING_TO_PUBLISH

    def to_dict(self) -> dict[str, Any]:
        return {
            "window_start": self.window_start.isoformat(),
            "window_end": self.window_end.isoformat(),
            "overall": self.overall.to_dict(),
            "by_version": {v: s.to_dict() for v, s in self.by_version.items()},
            "notes": list(self.notes),
        }

    def to_markdown(self) -> str:
        names = ["overall", *self.by_version]
        stats = [self.overall, *self.by_version.values()]
        rows = [
            ("requests", [f"{s.request_count}" for s in stats]),
            ("throughput (req/s)", [format_figure(s.throughput_rps) for s in stats]),
            ("peak minute (req/s)", [format_figure(s.peak_minute_rps) for s in stats]),
            *[
                (f"latency {k} (ms)", [format_figure(s.latency_ms.get(k)) for s in stats])
                for k in ("p50", "p95", "p99", "max")
            ],
            ("error rate", [format_figure(s.error_rate) for s in stats]),
        ]
        lines = ["| figure | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
        lines += [f"| {label} | " + " | ".join(values) + " |" for label, values in rows]
        lines += [f"\n- {n}" for n in self.notes]
        return "\n".join(lines)


def _stats(
    n: int,
    minute: np.ndarray | None,
    latency: np.ndarray | None,
    status_codes: np.ndarray | None,
    status_names: list[str],
    ok_mask: np.ndarray | None,
    seconds: float,
) -> ServingStats:
    """Figures for `n` rows; `minute` is each row's minute since the window start (None: unknown)."""
    throughput = n / seconds if seconds > 0 else None
    peak = float(np.bincount(minute).max()) / 60.0 if minute is not None and n else None
    lat: dict[str, float | None] = {}
    missing = 0
    if latency is not None:
        finite = latency[np.isfinite(latency)]
        missing = int(n - finite.size)
        if finite.size:
            values = np.percentile(finite, PERCENTILES)
            lat = {f"p{p}": float(v) for p, v in zip(PERCENTILES, values, strict=True)}
            lat["max"] = float(finite.max())
        else:
            lat = dict.fromkeys([*(f"p{p}" for p in PERCENTILES), "max"])
    error_rate: float | None = None
    by_status: dict[str, float] = {}
    if status_codes is not None and ok_mask is not None and n:
        errors = ~ok_mask[status_codes]
        error_rate = float(errors.mean())
        counts = np.bincount(status_codes[errors], minlength=len(status_names))
        by_status = {status_names[i]: float(c) / n for i, c in enumerate(counts) if c > 0}
    return ServingStats(n, throughput, peak, lat, missing, error_rate, by_status)


def compute_serving_metrics(
    window: pd.DataFrame, *, columns: ColumnsConfig, window_start: datetime, window_end: datetime
) -> ServingReport:
    """Serving figures of one window's inference rows (every row, labeled or not)."""
    seconds = (window_end - window_start).total_seconds()
    notes: list[str] = []
    minute: np.ndarray | None = None
    if columns.timestamp in window.columns:
        ts_ns = timestamps_ns(window[columns.timestamp])
        # Minutes since the earliest row: a bincount, not a sort (calendar minutes when the window
        # starts on a minute, as aligned windows do).
        origin = int(ts_ns.min()) if ts_ns.size else 0
        start_ns = int(pd.Timestamp(window_start).value)
        origin = start_ns if start_ns <= origin else origin
        minute = (ts_ns - origin) // 60_000_000_000
    else:
        notes.append(f"no timestamp column {columns.timestamp!r}: peak minute not computed")
    latency: np.ndarray | None = None
    if columns.latency_ms and columns.latency_ms in window.columns:
        latency = pd.to_numeric(window[columns.latency_ms], errors="coerce").to_numpy(dtype=np.float64)
    else:
        notes.append("no latency column configured or present: latency not computed")
    status_codes: np.ndarray | None = None
    status_names: list[str] = []
    ok_mask: np.ndarray | None = None
    if columns.status and columns.status in window.columns:
        codes, uniques = pd.factorize(window[columns.status], use_na_sentinel=True)
        status_names = [canonical_label(u) for u in uniques] + ["missing"]
        status_codes = np.where(codes < 0, len(uniques), codes)
        ok_set = set(columns.ok_statuses)
        ok_mask = np.array([name in ok_set for name in status_names[:-1]] + [False], dtype=bool)
    else:
        notes.append("no status column configured or present: error rate not computed")

    def group(rows: np.ndarray | None) -> ServingStats:
        def pick(a: np.ndarray | None) -> np.ndarray | None:
            return a if a is None or rows is None else a[rows]

        n = len(window) if rows is None else int(rows.size)
        return _stats(n, pick(minute), pick(latency), pick(status_codes), status_names, ok_mask, seconds)

    overall = group(None)
    by_version = {version: group(idx) for version, idx in group_by_version(window, columns.model_version)}
    return ServingReport(window_start, window_end, overall, by_version, tuple(notes))
