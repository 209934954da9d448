"""The CLI talks to people: a config or input error is one message and exit status 2; the audit
says which rule at which severity."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from watchkeeper.cli import main
from watchkeeper.config import ConfigError

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    config = yaml.safe_load((REPO / "configs/models/credit-risk.yaml").read_text())
    config["window"]["sizee"] = "1d"  # a typo
    path = tmp_path / "model.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _valid(tmp_path: Path, **window: str) -> Path:
    config = yaml.safe_load((REPO / "configs/models/credit-risk.yaml").read_text())
    config["window"].update(window)
    path = tmp_path / "ok.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_a_config_error_is_one_message_naming_file_and_key(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["monitor", "--config", str(config_file)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"watchkeeper: error: {config_file}: invalid configuration (1 error(s))")
    assert "window.sizee: unknown key (check for a typo)" in err
    assert "Value error" not in err
    assert "Traceback" not in err and len(err.splitlines()) == 3


def test_debug_shows_the_traceback(config_file: Path) -> None:
    with pytest.raises(ConfigError, match=r"window\.sizee"):
        main(["--debug", "monitor", "--config", str(config_file)])


@pytest.mark.parametrize(
    ("argv", "window", "message"),
    [
        # a window end that is not a boundary of the calendar names the nearest ones
        (
            ["--window-end", "2026-03-05T06:00Z"],
            {},
            "--window-end: 2026-03-05T06:00:00+00:00 is not a window boundary",
        ),
        # monthly windows end on the first of a month
        (["--window-end", "2026-03-05"], {"size": "1mo"}, "the nearest are 2026-03-01T00:00:00+00:00"),
        (["--window-end", "2999-01-01"], {}, "has not ended yet"),
        (["--window-end", "yesterday"], {}, "--window-end: expected an ISO date"),
    ],
)
def test_bad_windows_are_refused_before_any_flow_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], window: dict[str, str], message: str
) -> None:
    assert main(["monitor", "--config", str(_valid(tmp_path, **window)), *argv]) == 2
    assert message in capsys.readouterr().err


def test_the_plain_audit_shows_rule_and_severity(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from datetime import UTC, datetime

    from watchkeeper.state import open_state

    monkeypatch.setenv("WATCHKEEPER_STATE_DIR", str(tmp_path))
    monkeypatch.delenv("WATCHKEEPER_STATE_DB_URL", raising=False)
    store = open_state()
    for severity in ("warning", "critical"):
        store.append_audit(
            model="churn",
            event="alert.fired",
            decision="firing",
            reasons=["60% of the feature columns drifted"],
            evidence={"rule": "data_drift", "severity": severity},
            window_end=datetime(2026, 3, 2, tzinfo=UTC),
        )
    assert main(["audit", "--model", "churn"]) == 0
    lines = capsys.readouterr().out.splitlines()
    # the warning and the critical of one rule do not read alike
    assert "data_drift/warning  60% of the feature columns drifted" in lines[0]
    assert "data_drift/critical  60% of the feature columns drifted" in lines[1]


def test_prefect_log_lines_about_user_errors_lose_their_traceback_only() -> None:
    import logging
    import sys as _sys

    from watchkeeper.cli import _QuietUserErrors
    from watchkeeper.sources import SourceError

    def record_for(exc: Exception) -> logging.LogRecord:
        try:
            raise exc
        except Exception:
            info = _sys.exc_info()
        return logging.LogRecord("prefect.flow_runs", logging.ERROR, __file__, 1, "failed", (), info)

    quiet = _QuietUserErrors()
    user = record_for(SourceError("parquet source 'x': cannot read"))
    assert quiet.filter(user) and user.exc_info is None and user.getMessage() == "failed"
    bug = record_for(KeyError("a bug keeps its traceback"))
    assert quiet.filter(bug) and bug.exc_info is not None


def test_a_damaged_state_database_is_one_message_naming_the_file_and_the_remedy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "state.db").write_bytes(b"\x07" * 8192)  # not a database
    monkeypatch.setenv("WATCHKEEPER_STATE_DIR", str(state))
    assert main(["audit", "verify"]) == 2
    err = capsys.readouterr().err
    assert str(state / "state.db") in err and "quick_check" in err and ".recover" in err
    assert "Traceback" not in err
