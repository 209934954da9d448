"""Built-in alert rules: what a new model gets without writing any (`alerts.default_rules: true`).

Every built-in rule links its runbook, `docs/runbooks/<rule>.md` (`RUNBOOKS`), relative to the
repository; `alerts.links.runbook_base_url` makes the links absolute in every channel.

Each rule only needs the figures of one section; a model whose report lacks them (a regression model
has no `roc_auc`, a batch model no serving latency) sees the rule evaluate to *unknown*, which never
fires. A rule in the config with the same name and severity replaces the built-in one.

Thresholds are deliberately conservative defaults; latency and error rates in particular are
model-specific and worth overriding.
"""

from __future__ import annotations

from watchkeeper.alerting.rules import AnnotationsConfig, RuleConfig
from watchkeeper.bad_data import UNMATCHED_LABELS_SHARE

# Where the runbooks of the built-in rules live, relative to the repository (docs/runbooks/<rule>.md).
RUNBOOKS = "docs/runbooks"


def _rule(name: str, condition: str, severity: str, summary: str, description: str) -> RuleConfig:
    """A built-in rule; its runbook is docs/runbooks/<name>.md (absolute with `alerts.links`)."""
    return RuleConfig.model_validate(
        {
            "name": name,
            "condition": condition,
            "severity": severity,
            "annotations": AnnotationsConfig(
                summary=summary, description=description, runbook_url=f"{RUNBOOKS}/{name}.md"
            ),
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
        "The failed expectations are listed with their column, unexpected share and examples; the "
        "window's validation table has every result.",
    ),
    _rule(
        "validation_failure",
        "validation.critical_failures > 0",
        "critical",
        "{value:.0f} critical data expectation(s) failed",
        "The failed expectations are listed with their column, unexpected share and examples; the "
        "window is not used for retraining.",
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


def _data_rule(name: str, condition: str, severity: str, summary: str, description: str) -> RuleConfig:
    """A bad-data rule (issue 30): the window report's notes name what and where (the section's own
    finding of the same name, judged by this rule)."""
    return _rule(name, condition, severity, summary, description)


# Bad data is a finding, never silence. Critical where the window's judgement is missing a part
# (no labels at all, an estimator that could not fit): its verdict cannot be trusted as ok. Warning
# where the data is damaged but the window is still judged on what it holds.
DATA_RULES: tuple[RuleConfig, ...] = (
    _data_rule(
        # Any row: real traffic is never stamped in the future (beyond the clock-skew allowance).
        "rows_after_evaluation",
        "window.rows_after_evaluation > 0",
        "warning",
        "{value:.0f} logged row(s) stamped after the evaluation time",
        "Rows of the inference logs carry a time after the run's evaluation time: no window holds "
        "them. The window report's notes name the source and the time range.",
    ),
    _data_rule(
        # A few stray labels are normal (a lost log line, a label later than the label lag).
        "unmatched_labels",
        f"labels.unmatched_share > {UNMATCHED_LABELS_SHARE}",
        "warning",
        "{labels.unmatched:.0f} label(s) ({value:.1%}) match no logged request",
        "Labels whose request id is in no inference row of the windows that could hold them joined "
        "nothing. The window report's notes name the source, the range searched and a few ids.",
    ),
    _data_rule(
        "label_source_unreadable",
        "labels.unreadable == 1",
        "critical",
        "The configured label source cannot be read",
        "The windows were judged without labels: realized performance, concept drift and the "
        "target's drift are missing. The window report names the source and the error.",
    ),
    _data_rule(
        # Any column: the cast hides a producer that changed what it writes.
        "column_type_changed",
        "window.type_changed_columns > 0",
        "warning",
        "{value:.0f} column(s) changed type between the window's files",
        "A column holds one type in some files and another in others (ints, then numeric strings); "
        "the window read it as one. The window report names the column, both types and the files.",
    ),
    _data_rule(
        "check_not_fitted",
        "checks.not_fitted > 0",
        "critical",
        "{value:.0f} check part(s) could not be fitted on the reference",
        "A check could not fit on the reference (CBPE on a one-class reference): what it would "
        "estimate is missing from every window. The window report names the check and why.",
    ),
)

DEFAULT_RULES += DATA_RULES
