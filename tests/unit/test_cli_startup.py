"""What the CLI does before a flow starts, for speed: which slow libraries a config's checks will
import (imported while Prefect's temporary server starts), when there is no server to start, and the
temporary server it starts itself (Prefect's command, at the CLI's first step)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tasks import temporary_server
from tasks.temporary_server import start_temporary_server
from watchkeeper.checks import slow_imports, uses_evidently_page
from watchkeeper.config import MonitorConfig, load_config

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def credit_risk() -> MonitorConfig:
    return load_config(REPO / "configs/models/credit-risk.yaml")


def test_a_suite_names_great_expectations_and_the_page_the_page_process(credit_risk: MonitorConfig) -> None:
    assert slow_imports(credit_risk) == ("great_expectations",)
    assert uses_evidently_page(credit_risk)


@pytest.mark.parametrize(
    ("change", "expected", "page"),
    [
        # No suite: Great Expectations is never imported by the run.
        ({"expectations": {"suite": None}}, (), True),
        # The page switched off: no page process.
        ({"drift": {"evidently_report": False}}, ("great_expectations",), False),
        # Drift switched off takes the page with it.
        ({"drift": {"enabled": False}, "expectations": {"enabled": False}}, (), False),
    ],
)
def test_only_what_the_config_uses_is_started_early(
    credit_risk: MonitorConfig, change: dict[str, dict[str, object]], expected: tuple[str, ...], page: bool
) -> None:
    updated = credit_risk.model_copy(
        update={key: getattr(credit_risk, key).model_copy(update=value) for key, value in change.items()}
    )
    assert slow_imports(updated) == expected
    assert uses_evidently_page(updated) is page


def test_no_temporary_server_when_an_api_url_is_set() -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: "http://127.0.0.1:9/api"}):
        assert start_temporary_server() is None


def test_a_server_started_early_is_stopped_when_the_settings_name_one() -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    early = temporary_server.launch_early()
    assert early is not None and early.alive()
    with temporary_settings({PREFECT_API_URL: "http://127.0.0.1:9/api"}):
        assert start_temporary_server() is None
    assert not early.alive() and not temporary_server.in_use()


@pytest.mark.slow
def test_flows_run_against_the_server_started_early_and_it_stops_at_the_end() -> None:
    """The CLI's path: started before Prefect is imported, confirmed, used by a flow, stopped."""
    import os

    from prefect import flow, get_client
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_SERVER_EPHEMERAL_ENABLED,
        PREFECT_UI_URL,
        temporary_settings,
    )

    @flow(name="temporary-server-check")
    def check() -> str:
        return str(PREFECT_API_URL.value())

    # No server configured, whatever the tests before this one left in Prefect's settings.
    no_server = {"updates": {PREFECT_SERVER_EPHEMERAL_ENABLED: True}, "restore_defaults": {PREFECT_API_URL}}
    with temporary_settings(**no_server), pytest.MonkeyPatch.context() as env:
        env.delenv("PREFECT_API_URL", raising=False)
        early = temporary_server.launch_early()
        server = start_temporary_server()
    assert server is early and server is not None and temporary_server.in_use()
    with server.use():
        assert os.environ["PREFECT_API_URL"] == server.api_url
        assert not PREFECT_UI_URL.value()  # no UI links: the temporary server serves none
        assert check() == server.api_url
        with get_client(sync_client=True) as client:
            runs = client.read_flow_runs()
        assert [r.name for r in runs if r.state and r.state.is_completed()]
    assert "PREFECT_API_URL" not in os.environ
    server.stop()
    assert server.process.returncode is not None and not temporary_server.in_use()


@pytest.mark.slow
def test_a_server_that_cannot_start_is_a_clear_error(tmp_path: Path) -> None:
    from prefect.settings import (
        PREFECT_API_DATABASE_CONNECTION_URL,
        PREFECT_API_URL,
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS,
        temporary_settings,
    )

    # In Prefect's settings (the server's environment is built from them, as Prefect does) and under
    # both of the setting's names in the environment (whatever the tests before this one set there).
    url = f"sqlite+aiosqlite:///{tmp_path / 'no-dir' / 'x.db'}"
    unwritable = {PREFECT_API_DATABASE_CONNECTION_URL: url}
    patient = {PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS: 120}  # two failed boots on a busy CI host
    with (
        temporary_settings(updates={**unwritable, **patient}, restore_defaults={PREFECT_API_URL}),
        pytest.MonkeyPatch.context() as env,
    ):
        env.delenv("PREFECT_API_URL", raising=False)
        for name in ("PREFECT_API_DATABASE_CONNECTION_URL", "PREFECT_SERVER_DATABASE_CONNECTION_URL"):
            env.setenv(name, url)
        server = start_temporary_server()
        assert server is not None
        try:
            with pytest.raises(RuntimeError, match=r"temporary server exited with status \d+ while starting"):
                server.wait_ready()
        finally:
            server.stop()
    assert not server.alive() and not temporary_server.in_use()
