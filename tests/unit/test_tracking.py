"""MLflow key naming and tags are built in one place and stay stable."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from watchkeeper import tracking
from watchkeeper.report import MonitoringReport
from watchkeeper.verdict import Finding, Severity


@dataclass(frozen=True)
class FakeSection:
    values: dict[str, float]
    severity: Severity = Severity.OK

    def figures(self) -> dict[str, float]:
        return self.values

    def findings(self) -> list[Finding]:
        return [] if self.severity is Severity.OK else [Finding("drift", self.severity, "drifted")]

    def to_dict(self) -> dict[str, Any]:
        return {"values": self.values}


def report() -> MonitoringReport:
    return MonitoringReport(
        model="credit-risk",
        window_start=datetime(2026, 3, 1, tzinfo=UTC),
        window_end=datetime(2026, 3, 2, tzinfo=UTC),
        evaluated_at=datetime(2026, 3, 2, 2, tzinfo=UTC),
        model_versions=("1", "2"),
        config_hash="abc",
        sections={
            "drift": FakeSection({"share": 0.5, "income.score": 0.2, "bad": float("nan")}, Severity.WARNING)
        },
        flow_run_id="run-1",
    )


def test_metric_keys_use_slashes_and_drop_non_finite() -> None:
    metrics = tracking.metrics_for(report())
    # the section's finding (no rule of its name in this report) stands as a rule: a figure too
    assert metrics == {
        "drift/share": 0.5,
        "drift/income/score": 0.2,
        "finding/drift/drift/warning": 1.0,
        "verdict/level": 1.0,
    }


def test_metric_key_sanitizes_characters_mlflow_rejects() -> None:
    assert tracking.metric_key("drift.weird col(€).score") == "drift/weird col___/score"


def test_tags_identify_the_window() -> None:
    tags = tracking.run_tags(report())
    assert tags[tracking.TAG_WINDOW_KEY] == "credit-risk@2026-03-01T00:00:00Z/2026-03-02T00:00:00Z"
    assert tags[tracking.TAG_MODEL_VERSION] == "1,2"
    assert tags[tracking.TAG_VERDICT] == "warning"
    assert tags[tracking.TAG_FLOW_RUN_ID] == "run-1"
    assert tracking.metric_timestamp_ms(report()) == 1772409600000


def test_report_json_is_clean() -> None:
    data = report().to_dict()
    assert data["verdict"] == "warning"
    assert data["reasons"] == ["[warning] drift: drifted"]  # every reason names its rule
    assert data["sections"]["drift"]["values"]["bad"] is None  # NaN is not valid JSON
    assert report().to_json()


def test_ui_links_from_a_tracking_server_never_carry_its_password() -> None:
    from watchkeeper.tracking import ui_base_url

    url = ui_base_url(None, "http://watchkeeper:s3cret-pw@mlflow.internal:5000/")
    assert url == "http://mlflow.internal:5000" and "s3cret" not in url
