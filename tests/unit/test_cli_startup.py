"""What the CLI does before a flow starts, for speed: which slow libraries a config's checks will
import (imported while Prefect's temporary server starts), and when there is no server to start."""

from __future__ import annotations

from pathlib import Path

import pytest

from tasks.temporary_server import start_temporary_server
from watchkeeper.checks import slow_imports
from watchkeeper.config import MonitorConfig, load_config

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def credit_risk() -> MonitorConfig:
    return load_config(REPO / "configs/models/credit-risk.yaml")


def test_a_suite_and_the_page_name_great_expectations_and_evidently(credit_risk: MonitorConfig) -> None:
    assert slow_imports(credit_risk) == ("great_expectations", "evidently", "evidently.presets")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        # No suite: Great Expectations is never imported by the run.
        ({"expectations": {"suite": None}}, ("evidently", "evidently.presets")),
        # The page switched off: Evidently is never imported by the run.
        ({"drift": {"evidently_report": False}}, ("great_expectations",)),
        # Drift switched off takes the page with it.
        ({"drift": {"enabled": False}, "expectations": {"enabled": False}}, ()),
    ],
)
def test_only_what_the_config_uses_is_imported_early(
    credit_risk: MonitorConfig, change: dict[str, dict[str, object]], expected: tuple[str, ...]
) -> None:
    updated = credit_risk.model_copy(
        update={key: getattr(credit_risk, key).model_copy(update=value) for key, value in change.items()}
    )
    assert slow_imports(updated) == expected


def test_no_temporary_server_when_an_api_url_is_set() -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: "http://127.0.0.1:9/api"}):
        assert start_temporary_server() is None
