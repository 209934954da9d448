"""The pieces that bound an MLflow outage: MLflow's HTTP knobs, the unreachable test, retries, the state.

The e2e test (`tests/e2e/test_tracking_outage.py`) runs them together against a real `mlflow
server`; these pin each decision with exact values.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from prefect.states import Failed, State

from tasks.outage_tasks import (
    TRACKING_UNAVAILABLE_STATE,
    GuardedClient,
    TrackingOutage,
    TrackingUnavailable,
    run_final_state,
    should_retry_logging,
)
from watchkeeper.outage import OUTAGE_BOUND_S, is_unreachable, mlflow_http_env, worst_call_s
from watchkeeper.presentation import RunVerdict
from watchkeeper.report import MonitoringReport
from watchkeeper.verdict import Severity


def test_defaults_give_up_well_within_the_bound() -> None:
    # 3 tries of 20 s, urllib3's backoff (0, then 2 s) and 0.5 s jitter.
    assert worst_call_s(timeout_s=20, max_retries=2, backoff_factor=1) == pytest.approx(62.5)
    assert worst_call_s(timeout_s=20, max_retries=2, backoff_factor=1) < OUTAGE_BOUND_S
    # MLflow's own defaults (7 retries, 120 s, factor 2): the 1,536 s run was this, six times over.
    assert worst_call_s(timeout_s=120, max_retries=7, backoff_factor=2) > 900


def test_operator_env_wins_but_our_own_earlier_values_do_not() -> None:
    env = {"MLFLOW_HTTP_REQUEST_TIMEOUT": "5"}
    got = mlflow_http_env(timeout_s=20, max_retries=2, backoff_factor=1, environ=env)
    assert "MLFLOW_HTTP_REQUEST_TIMEOUT" not in got
    assert got["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "2"
    assert got["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] == "true"
    ours = {"MLFLOW_HTTP_REQUEST_TIMEOUT": "5"}
    again = mlflow_http_env(timeout_s=30, max_retries=2, backoff_factor=1, environ=env, ours=ours)
    assert again["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "30"


class MlflowException(Exception):  # the name is what `is_unreachable` reads, as from mlflow
    pass


@pytest.mark.parametrize(
    ("exc", "unreachable"),
    [
        (ConnectionRefusedError(111, "refused"), True),
        (MlflowException("API request to http://h/api failed with exception Max retries exceeded"), True),
        (MlflowException("RESOURCE_DOES_NOT_EXIST: Registered Model with name=x not found"), False),
        (ValueError("bad metric"), False),
    ],
)
def test_unreachable_means_no_answer_not_an_answer_with_an_error(exc: Exception, unreachable: bool) -> None:
    assert is_unreachable(exc) is unreachable


def test_guard_stops_calling_after_the_first_unreachable_call_and_redacts() -> None:
    calls = []

    class Client:
        tracking_uri = "http://u:pw-SECRET@127.0.0.1:1"

        def search_runs(self) -> None:
            calls.append(1)
            raise MlflowException("API request to http://u:pw-SECRET@127.0.0.1:1/api failed with exception X")

    outage = TrackingOutage()
    client = GuardedClient(Client(), outage)
    assert client.tracking_uri == Client.tracking_uri
    with pytest.raises(TrackingUnavailable) as first:
        client.search_runs()
    assert "pw-SECRET" not in str(first.value) and first.value.__cause__ is None
    with pytest.raises(TrackingUnavailable):
        client.search_runs()
    assert calls == [1] and outage.down and "pw-SECRET" not in (outage.error or "")


def test_no_retry_once_mlflow_is_unreachable() -> None:
    assert should_retry_logging(None, None, Failed(data=TrackingUnavailable("down"))) is False
    assert should_retry_logging(None, None, Failed(data=RuntimeError("database is locked"))) is True


def test_final_state_is_named_apart_from_success() -> None:
    at = datetime(2026, 3, 2, tzinfo=UTC)
    report = MonitoringReport("m", at - timedelta(days=1), at, at, ("1",), "h")
    healthy = run_final_state(report, TrackingOutage())  # the verdict's own state
    assert healthy.name == "OK" and healthy.is_completed() and healthy.data is report
    state = run_final_state(report, TrackingOutage(error="ConnectionError: refused", spooled=["a.json"]))
    assert isinstance(state, State)
    assert state.name == TRACKING_UNAVAILABLE_STATE and state.is_completed()
    assert state.message == "ok; MLflow unavailable: report spooled (1)"
    # A re-evaluated window made the run critical: both states say so, the report stays the window's.
    outcome = RunVerdict(Severity.CRITICAL, "m: Critical — 2026-02-27 re-evaluated …")
    state = run_final_state(report, TrackingOutage(), outcome)
    assert (state.name, state.message, state.data) == ("Critical", outcome.message, report)
    state = run_final_state(
        report, TrackingOutage(error="ConnectionError: refused", spooled=["a.json"]), outcome
    )
    assert state.message == "critical; MLflow unavailable: report spooled (1)"


def test_guarded_client_travels_to_a_worker(tmp_path) -> None:
    # A parallel backfill ships the checks (the reset impact's model loader holds the client) to
    # Dask workers: the copy must unpickle and still guard its calls.
    import pickle

    from mlflow.tracking import MlflowClient

    from tasks.outage_tasks import GuardedClient, TrackingOutage

    guarded = GuardedClient(MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}"), TrackingOutage())
    copy = pickle.loads(pickle.dumps(guarded))
    assert copy.tracking_uri == guarded.tracking_uri
    assert copy.search_experiments()[0].name == "Default"
