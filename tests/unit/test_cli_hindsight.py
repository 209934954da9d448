"""`--hindsight` reaches the monitor and backfill flows; without it, windows are judged as of their time."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from watchkeeper import cli
from watchkeeper.verdict import Severity

REPO = Path(__file__).resolve().parents[2]
CONFIG = str(REPO / "configs/models/credit-risk.yaml")


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    calls: list[tuple[str, dict[str, Any]]] = []

    def start_flow(args: Any, command: str, *call_args: Any, **kwargs: Any) -> Any:
        calls.append((command, kwargs))
        if command == "monitor":
            end = kwargs["window_end"]
            return SimpleNamespace(
                verdict=Severity.OK,
                reasons=[],
                mlflow_run_id=None,
                window_name="credit-risk 2026-03-04 → 03-05",
                window_start=end,
                window_end=end,
                model_versions=(),
            )
        return []

    monkeypatch.setattr(cli, "start_flow", start_flow)
    return calls


@pytest.mark.parametrize(
    "argv",
    [
        ["monitor", "--config", CONFIG, "--window-end", "2026-03-05"],
        ["backfill", "--config", CONFIG, "--start", "2026-03-01", "--end", "2026-03-05"],
    ],
)
def test_hindsight_is_off_unless_asked(argv: list[str], started: list[tuple[str, dict[str, Any]]]) -> None:
    assert cli.main(argv) == 0
    assert cli.main([*argv, "--hindsight"]) == 0
    assert [kwargs["hindsight"] for _, kwargs in started] == [False, True]
    if argv[0] == "monitor":
        assert started[0][1]["window_end"] == datetime(2026, 3, 5, tzinfo=UTC)
