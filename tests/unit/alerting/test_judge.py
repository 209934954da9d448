"""One judge: the verdict is the worst rule that holds, and every reason is a named rule."""

from __future__ import annotations

from datetime import timedelta

from watchkeeper.alerting import AlertsConfig, MemoryChannel, evaluate_alerts
from watchkeeper.alerting.judge import judge_window, metric_label
from watchkeeper.alerting.render import render_text
from watchkeeper.report import MonitoringReport
from watchkeeper.report import SnapshotSection as Snapshot
from watchkeeper.state import StateStore
from watchkeeper.verdict import Finding, Severity

from .conftest import NOW, day

RULES = AlertsConfig().effective_rules()


class _Section:
    """A section with fixed figures and findings (what a check returns)."""

    def __init__(self, figures: dict[str, float], findings: list[Finding] | None = None) -> None:
        self._figures, self._findings = figures, findings or []

    def figures(self) -> dict[str, float]:
        return dict(self._figures)

    def findings(self) -> list[Finding]:
        return list(self._findings)

    def to_dict(self) -> dict[str, object]:
        return {}

    def publish(self) -> object:
        return Snapshot("x", NOW, {}).publish()


def report(sections: dict[str, _Section], errors: dict[str, str] | None = None) -> MonitoringReport:
    return MonitoringReport(
        model="churn",
        window_start=day(1),
        window_end=day(2),
        evaluated_at=NOW,
        model_versions=("1",),
        config_hash="h",
        sections=sections,  # type: ignore[arg-type]
        errors=errors or {},
        rules=RULES,
    )


def test_a_rule_that_tests_accuracy_makes_the_verdict_critical() -> None:
    # The field case: the performance check judged only ROC AUC (fine), the built-in critical rule
    # also tests accuracy (below its band): the verdict now says what the alert says.
    perf = _Section(
        {
            "realized.roc_auc": 0.96,
            "band.roc_auc.lower": 0.95,
            "realized.accuracy": 0.932,
            "band.accuracy.lower": 0.937,
        }
    )
    r = report({"perf": perf})
    assert r.verdict is Severity.CRITICAL
    assert r.reasons == ["[critical] performance_drop: Realized accuracy 0.932 fell below its band (0.937)"]
    assert [f.rule_name for f in r.findings] == ["performance_drop"]


def test_check_findings_become_rules_unless_a_rule_of_that_name_judges() -> None:
    drift = _Section(
        {"share": 0.2, "n_drifted": 2, "n_columns": 10},
        [
            # the built-in data_drift rule judges dataset drift: this finding is dropped
            Finding("drift", Severity.WARNING, "Data drift: 2 of 10", rule="data_drift"),
            # no built-in rule for prediction drift: the finding is its own rule
            Finding("drift", Severity.WARNING, "Prediction drift in score", rule="prediction_drift"),
        ],
    )
    r = report({"drift": drift}, errors={"validation": "OSError: suite gone"})
    assert r.verdict is Severity.WARNING
    assert [(f.rule_name, f.severity.label) for f in r.findings] == [
        ("prediction_drift", "warning"),
        ("check_failed", "warning"),
    ]
    figures = r.figures()
    assert figures["finding.drift.prediction_drift.warning"] == 1
    assert figures["finding.validation.check_failed.warning"] == 1
    assert r.to_dict()["findings"][1]["message"] == "validation check failed: OSError: suite gone"


def test_unknown_rules_name_the_figures_they_lacked() -> None:
    judgement = judge_window(
        {"window.rows": 10.0, "window.no_data": 0.0},
        section_findings={},
        errors={},
        rules=RULES,
        model="churn",
    )
    unknown = {(u.rule, u.severity): u.missing for u in judgement.unknown}
    assert unknown[("data_drift", "warning")] == ("drift.share",)
    assert unknown[("performance_drop", "warning")] == ("perf.estimated.roc_auc", "perf.band.roc_auc.lower")
    assert ("no_data", "critical") not in unknown


def test_a_finding_rule_fires_and_resolves_through_the_engine(store: StateStore) -> None:
    ch = MemoryChannel()
    held = report(
        {
            "drift": _Section(
                {"share": 0.0},
                [Finding("drift", Severity.WARNING, "Prediction drift", rule="prediction_drift")],
            )
        }
    )
    cfg = AlertsConfig()

    def alert(r: MonitoringReport, n: int) -> list[tuple[str, str]]:
        out = evaluate_alerts(
            r.figures(),
            findings=r.judgement.finding_messages,
            model="churn",
            window_end=day(n),
            config=cfg,
            store=store,
            channels=[ch],
            now=NOW,
        )
        return [(a.rule, a.state) for a in out.alerts if a.rule == "prediction_drift"]

    assert alert(held, 1) == [("prediction_drift", "firing")]
    assert ch.messages[-1].events[0].summary == "Prediction drift"
    # the console line is the finding's sentence, without the internal `finding.…` figure
    assert "  - WARNING prediction_drift: Prediction drift\n" in render_text(ch.messages[-1]) + "\n"
    # the drift check ran again without the finding: resolved, with its own sentence
    assert alert(report({"drift": _Section({"share": 0.0})}), 2) == [("prediction_drift", "resolved")]
    assert ch.messages[-1].events[0].summary == "drift no longer reports prediction drift"
    # a window where the drift check did not run does not judge it: neither fires nor resolves
    assert alert(report({}), 3) == [("prediction_drift", "unknown")]


def test_metric_labels_are_for_people() -> None:
    assert metric_label("perf.realized.roc_auc") == "ROC AUC"
    assert metric_label("perf.band.accuracy.lower") == "accuracy"
    assert metric_label("serving.error_rate") == "error rate"


def test_the_summary_names_the_rules_not_judged_and_what_they_lacked() -> None:
    md = report({"window": _Section({"rows": 10.0, "no_data": 0.0})}).to_markdown()
    assert "## Not judged (a figure is missing)" in md
    assert "- data_drift/warning: lacks `drift.share`" in md
    assert report({"window": _Section({"rows": 10.0})}).to_dict()["unknown_rules"][0]["missing"]


def test_inhibition_and_silences_never_change_the_verdict(store: StateStore) -> None:
    # no data mutes drift alerts and a critical mutes its warning: who is notified, not the verdict
    r = report({"window": _Section({"no_data": 1.0}), "drift": _Section({"share": 0.9})})
    # Only a rule's highest severity is a finding: data_drift's warning line says nothing more.
    assert {(f.rule_name, f.severity.label) for f in r.findings} == {
        ("no_data", "critical"),
        ("data_drift", "critical"),
    }
    alerts = evaluate_alerts(
        r.figures(),
        model="churn",
        window_end=day(1),
        config=AlertsConfig(),
        store=store,
        channels=[],
        now=NOW,
    )
    muted = {(a.rule, a.severity): a.muted_by for a in alerts.alerts if a.state == "firing"}
    assert muted == {
        ("no_data", "critical"): None,
        ("data_drift", "warning"): "inhibited:data_drift/critical",
        ("data_drift", "critical"): "inhibited:no_data/critical",
    }
    assert r.verdict is Severity.CRITICAL


class _Judging(_Section):
    """A section that says which of its rules it could judge (here: realized ones need labels)."""

    def __init__(self, figures: dict[str, float], findings: list[Finding], labeled: bool) -> None:
        super().__init__(figures, findings)
        self.labeled = labeled

    def judged_rules(self) -> frozenset[str]:
        return frozenset({"performance_threshold"} if self.labeled else set())


def test_a_finding_the_window_could_not_judge_is_neither_raised_nor_cleared(store: StateStore) -> None:
    breach = Finding(
        "perf", Severity.WARNING, "Realized f1 0.41 is below the threshold 0.5", rule="performance_threshold"
    )

    def states(section: _Judging, n: int) -> list[str]:
        r = report({"perf": section})
        out = evaluate_alerts(
            r.figures(),
            findings=r.judgement.finding_messages,
            model="churn",
            window_end=day(n),
            config=AlertsConfig(),
            store=store,
            channels=[],
            now=NOW,
            labels_complete_until=None if section.labeled else day(n) - timedelta(days=7),
        )
        return [a.state for a in out.alerts if a.rule == "performance_threshold"]

    assert states(_Judging({"n_labeled": 50.0}, [breach], labeled=True), 1) == ["firing"]
    # no labels yet (inside the label lag): the realized threshold awaits them, so it is not cleared
    assert states(_Judging({"n_labeled": 0.0}, [], labeled=False), 2) == ["unknown"]
    # labels, and no breach: cleared
    assert states(_Judging({"n_labeled": 50.0}, [], labeled=True), 3) == ["resolved"]
