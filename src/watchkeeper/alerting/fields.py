"""The registry of figure names an alert rule may refer to.

Every section report publishes flat numeric figures (`SectionReport.figures()`), which the monitoring
report prefixes with the section name: `drift.share`, `perf.estimated.roc_auc`,
`serving.latency_p95_ms`. Alert conditions are checked against this registry when the config is
loaded, so a typo (`drift.shrae`, `perf.estimated.roc_acu`) fails the run at load time instead of
producing an alert that silently never fires.

Patterns use `*` for a user-chosen name (a column, an HTTP status, a probe, a model version, a GPU
index) and `<metric>` for one of the performance metrics below. The list follows the figure names
agreed in the project notes and what the section reports publish; adding a figure to a section means
adding its pattern here. The `alerts.*` figures are deliberately absent: a rule on the alerting
section's own output would depend on itself.
"""

from __future__ import annotations

import re
from functools import lru_cache

METRICS: tuple[str, ...] = (
    "accuracy",
    "precision",
    "recall",
    "f1",
    "roc_auc",
    "pr_auc",
    "log_loss",
    "mae",
    "rmse",
    "mape",
    "r2",
    "mean_error",
)

FIELD_PATTERNS: tuple[str, ...] = (
    # drift
    "drift.share",
    "drift.n_drifted",
    "drift.n_columns",
    "drift.dataset_drift",
    "drift.*.score",
    "drift.*.drifted",
    "drift.*.effect_size",
    # `drift.prediction.<column>.score` and `drift.target.score` are covered by the column patterns.
    # multivariate drift (the `drift.multivariate` section)
    "drift.multivariate.reconstruction_error",
    "drift.multivariate.sampling_error",
    "drift.multivariate.lower",
    "drift.multivariate.upper",
    "drift.multivariate.alert",
    "drift.multivariate.domain_classifier.auc",
    "drift.multivariate.domain_classifier.lower",
    "drift.multivariate.domain_classifier.upper",
    "drift.multivariate.domain_classifier.alert",
    # drift ranked by its impact on performance (the `drift.impact` section)
    "drift.impact.*.correlation",
    "drift.impact.*.rank",
    "drift.impact.*.reset_change",
    # embedding drift (`drift.embeddings.<column>.score|drifted`) is covered by the column patterns.
    # segments (`segments: [column]`): segments.<column>.<value>.…
    "segments.*.n_segments",
    "segments.*.n_drifted_segments",
    "segments.*.rows",
    "segments.*.tested",
    # … and every drift.* and perf.* name below, under segments.*. (added after the tuple)
    # performance
    "perf.label_coverage",
    "perf.n_labeled",
    "perf.realized.<metric>",
    "perf.estimated.<metric>",
    "perf.estimated.<metric>.lower",
    "perf.estimated.<metric>.upper",
    "perf.band.<metric>.lower",
    "perf.band.<metric>.upper",
    "perf.concept_drift",
    "perf.concept.ddm.drift",
    "perf.concept.ddm.warning",
    "perf.concept.page_hinkley.drift",
    "perf.concept.gap.<metric>",
    "perf.version.*.label_coverage",
    "perf.version.*.n_labeled",
    "perf.version.*.realized.<metric>",
    "perf.version.*.estimated.<metric>",
    # serving
    "serving.request_count",
    "serving.throughput_rps",
    "serving.peak_minute_rps",
    "serving.latency_p50_ms",
    "serving.latency_p90_ms",
    "serving.latency_p95_ms",
    "serving.latency_p99_ms",
    "serving.latency_max_ms",
    "serving.error_rate",
    "serving.error_rate.*",
    # the same per model version: serving.version.<v>.latency_p95_ms, …
    "serving.version.*.request_count",
    "serving.version.*.throughput_rps",
    "serving.version.*.peak_minute_rps",
    "serving.version.*.latency_p50_ms",
    "serving.version.*.latency_p90_ms",
    "serving.version.*.latency_p95_ms",
    "serving.version.*.latency_p99_ms",
    "serving.version.*.latency_max_ms",
    "serving.version.*.error_rate",
    "serving.version.*.error_rate.*",
    # validation
    "validation.success_percent",
    "validation.evaluated",
    "validation.failed",
    "validation.critical_failures",
    "validation.warning_failures",
    # health
    "health.cpu.percent",
    "health.cpu.count",
    "health.cpu.load_1m",
    "health.cpu.load_5m",
    "health.cpu.load_15m",
    "health.cpu.max_core_percent",
    "health.cpu.*.percent",
    "health.memory.percent",
    "health.memory.used_mb",
    "health.memory.available_mb",
    "health.memory.total_mb",
    "health.swap.percent",
    "health.swap.used_mb",
    "health.disk.percent",
    "health.disk.read_mb_s",
    "health.disk.write_mb_s",
    "health.disk.read_iops",
    "health.disk.write_iops",
    "health.net.sent_mb_s",
    "health.net.recv_mb_s",
    "health.net.errors",
    "health.net.drops",
    "health.gpu.count",
    "health.gpu.max_util_pct",
    "health.gpu.max_memory_pct",
    "health.gpu.max_temperature_c",
    "health.gpu.*.util_pct",
    "health.gpu.*.memory_util_pct",
    "health.gpu.*.memory_used_mb",
    "health.gpu.*.memory_total_mb",
    "health.gpu.*.memory_pct",
    "health.gpu.*.temperature_c",
    "health.gpu.*.power_w",
    "health.gpu.*.power_limit_w",
    "health.gpu.*.ecc_corrected",
    "health.gpu.*.ecc_uncorrected",
    "health.gpu.*.xid_events",
    "health.probe.*.ok",
    "health.probe.*.latency_ms",
    "health.probe.*.status_code",
    # window
    "window.rows",
    "window.no_data",
    "window.label_coverage",
    "window.labeled",
    "window.duplicate_request_ids",
    "window.incomplete",
    "window.skipped_files",
    "window.type_changed_columns",
    "window.rows_after_evaluation",
    # the run's labels (`watchkeeper.bad_data.LabelsReport`)
    "labels.read",
    "labels.unreadable",
    "labels.unmatched",
    "labels.unmatched_share",
    # checks that could not fit on the reference
    "checks.not_fitted",
    # the monitoring job's own cost per step (footprint.<step>.wall_s, …) and the window's verdict
    "footprint.*.wall_s",
    "footprint.*.cpu_s",
    "footprint.*.peak_rss_mb",
    "verdict.level",
    # a check's own finding standing as a rule: finding.<section>.<rule>.<severity> (alerting/judge.py)
    "finding.*",
)

# Per-segment figures repeat the drift and performance names under segments.<column>.<value>.
FIELD_PATTERNS += tuple(f"segments.*.{p}" for p in FIELD_PATTERNS if p.startswith(("drift.", "perf.")))

_METRIC_RE = "(?:" + "|".join(METRICS) + ")"
# `*` is any non-empty name: column names may contain dots and (backquoted) spaces.
_WILDCARD_RE = r"[^.].*"


def _compile(pattern: str) -> re.Pattern[str]:
    parts = []
    for piece in re.split(r"(\*|<metric>)", pattern):
        if piece == "*":
            parts.append(_WILDCARD_RE)
        elif piece == "<metric>":
            parts.append(_METRIC_RE)
        else:
            parts.append(re.escape(piece))
    return re.compile("^" + "".join(parts) + "$")


_COMPILED: tuple[tuple[str, re.Pattern[str]], ...] = tuple((p, _compile(p)) for p in FIELD_PATTERNS)


@lru_cache(maxsize=4096)
def match_field(name: str) -> str | None:
    """The registry pattern that `name` matches, or None when it is not a known figure."""
    for pattern, regex in _COMPILED:
        if regex.match(name):
            return pattern
    return None


def is_known_field(name: str) -> bool:
    return match_field(name) is not None


def section_of(name: str) -> str:
    """The section a figure belongs to (`drift.share` → `drift`)."""
    return name.split(".", 1)[0]


def suggest_fields(name: str, limit: int = 5) -> list[str]:
    """Registry patterns close to an unknown name, for the error message."""
    import difflib

    section = section_of(name)
    same_section = [p for p in FIELD_PATTERNS if section_of(p) == section]
    close = difflib.get_close_matches(name, FIELD_PATTERNS, n=limit, cutoff=0.6)
    return close or same_section[:limit]


# Figures that exist only once a window's labels have arrived: realized metrics (also per version
# and per segment), concept drift and its detectors, label coverage, the target's drift, and the
# performance section's own findings (its realized thresholds).
_LABEL_PARTS = frozenset({"realized", "concept", "concept_drift", "label_coverage", "n_labeled"})
_LABEL_PREFIXES = ("drift.target.", "finding.perf.")


def needs_labels(name: str) -> bool:
    """Whether figure `name` comes from labels (a window inside its label lag may lack it yet)."""
    return name.startswith(_LABEL_PREFIXES) or not _LABEL_PARTS.isdisjoint(name.split("."))
