"""Built-in alert rules: what a new model gets without writing any (`alerts.default_rules: true`).

Each rule only needs the figures of one section; a model whose report lacks them (a regression model
has no `roc_auc`, a batch model no serving latency) sees the rule evaluate to *unknown*, which never
fires. A rule in the config with the same name and severity replaces the built-in one.

Thresholds are deliberately conservative defaults; latency and error rates in particular are
model-specific and worth overriding.
"""

from __future__ import annotations

from watchkeeper.alerting.rules import AnnotationsConfig, RuleConfig


def _rule(name: str, condition: str, severity: str, summary: str, description: str) -> RuleConfig:
    return RuleConfig.model_validate(
        {
            "name": name,
            "condition": condition,
            "severity": severity,
            "annotations": AnnotationsConfig(summary=summary, description=description),
        }
    )


DEFAULT_RULES: tuple[RuleConfig, ...] = (
    _rule(
        "no_data",
        "window.no_data == 1",
        "critical",
        "No inference logs in the window",
        "The window holds no rows: the model may be down or the log pipeline broken. "
        "Drift and performance alerts are muted while this fires.",
    ),
    _rule(
        "data_drift",
        "drift.share >= 0.3",
        "warning",
        "{value:.0%} of the feature columns drifted",
        "{drift.n_drifted:.0f} of {drift.n_columns:.0f} feature columns drifted against the reference.",
    ),
    _rule(
        "data_drift",
        "drift.share >= 0.5",
        "critical",
        "{value:.0%} of the feature columns drifted",
        "{drift.n_drifted:.0f} of {drift.n_columns:.0f} feature columns drifted against the reference.",
    ),
    _rule(
        # Unknown until labels arrive (the target is tested on labeled rows only), so a window
        # without labels neither fires nor resolves it.
        "target_drift",
        "drift.target.drifted == 1",
        "warning",
        "The target drifted: {drift.target.score:.3g} against the reference",
        "The share of outcomes changed against the reference (labeled rows of the window).",
    ),
    _rule(
        "performance_drop",
        "perf.estimated.roc_auc < perf.band.roc_auc.lower",
        "warning",
        "Estimated ROC AUC {value:.3f} fell below its band ({threshold:.3f})",
        "Estimated from the model's confidence (no labels needed); labels will confirm or refute it.",
    ),
    _rule(
        "performance_drop",
        "perf.realized.roc_auc < perf.band.roc_auc.lower or perf.realized.accuracy < perf.band.accuracy.lower",
        "critical",
        "Realized {metric_name} {value:.3f} fell below its band ({threshold:.3f})",
        "Measured on labelled traffic of the window.",
    ),
    _rule(
        "performance_drop_regression",
        "perf.realized.mae > perf.band.mae.upper or perf.estimated.mae > perf.band.mae.upper",
        "warning",
        "{metric_name} {value:.4g} rose above its band ({threshold:.4g})",
        "The regression error left the band measured on the reference period.",
    ),
    _rule(
        "concept_drift",
        "perf.concept_drift == 1",
        "critical",
        "Concept drift: the model's errors no longer match what its confidence predicts",
        "Realized quality left the label-free estimate's band, or DDM / Page-Hinkley detected a change "
        "in the error stream. Retraining on recent labeled data is the usual remedy.",
    ),
    _rule(
        "validation_failure",
        "validation.warning_failures > 0",
        "warning",
        "{value:.0f} data expectation(s) at warning level failed",
        "See the validation section of the window report for the failed expectations.",
    ),
    _rule(
        "validation_failure",
        "validation.critical_failures > 0",
        "critical",
        "{value:.0f} critical data expectation(s) failed",
        "See the validation section of the window report for the failed expectations.",
    ),
    _rule(
        "high_latency",
        "serving.latency_p95_ms > 500",
        "warning",
        "p95 latency {value:.0f} ms above {threshold:.0f} ms",
        "Serving latency over the window, from the inference logs.",
    ),
    _rule(
        "high_latency",
        "serving.latency_p95_ms > 2000",
        "critical",
        "p95 latency {value:.0f} ms above {threshold:.0f} ms",
        "Serving latency over the window, from the inference logs.",
    ),
    _rule(
        "high_error_rate",
        "serving.error_rate > 0.01",
        "warning",
        "Error rate {value:.2%} above {threshold:.0%}",
        "Share of requests whose status is not one of `columns.ok_statuses`.",
    ),
    _rule(
        "high_error_rate",
        "serving.error_rate > 0.05",
        "critical",
        "Error rate {value:.2%} above {threshold:.0%}",
        "Share of requests whose status is not one of `columns.ok_statuses`.",
    ),
)
