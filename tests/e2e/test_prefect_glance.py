"""How a critical window shows in Prefect, measured against a real server (the session's harness).

Pins the facts behind the choice in docs/architecture.md ("A critical window in Prefect"): a run's
colour in the runs list is its state's *type*; a `Failed` monitor run would be retried, run its
`on_failure` hooks and raise in whoever called it for its report, while the event automations match
is named after the state's *name*. Hence: the monitor run stays `Completed` (named "Critical") and a
child run of its own flow (`critical-window`) ends `Failed` — the red row, with no retry and nothing
raised in the caller.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId
from prefect.exceptions import FailedRun
from prefect.states import Completed, Failed, State

from flows.critical_window import mark_critical

pytestmark = pytest.mark.slow

END = datetime(2026, 3, 6, tzinfo=UTC)


def _events(flow_run_id: Any, wait_s: float = 10.0) -> list[dict[str, Any]]:
    """The state-change events of a flow run, as the server's event store holds them."""
    body = {"filter": {"any_resource": {"id": [f"prefect.flow-run.{flow_run_id}"]}}, "limit": 50}
    deadline = time.monotonic() + wait_s
    while True:
        with get_client(sync_client=True) as client:
            response = client.request("POST", "/events/filter", json=body)  # type: ignore[arg-type]
        events = [e for e in response.json()["events"] if e["event"].startswith("prefect.flow-run.")]
        if any(e["resource"].get("prefect.state-type") in ("COMPLETED", "FAILED") for e in events):
            return events
        if time.monotonic() > deadline:
            return events
        time.sleep(0.5)


def test_a_failed_monitor_run_would_be_retried_hooked_and_raise_in_its_caller() -> None:
    hooked: list[str] = []

    @flow(retries=1, retry_delay_seconds=0, on_failure=[lambda _f, run, _s: hooked.append(str(run.id))])
    def failed_critical() -> State[None]:
        # (With the report as its data, `result()` raises TypeError instead: an exception either way.)
        return Failed(name="Critical", message="critical window")

    state = failed_critical(return_state=True)
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(state.state_details.flow_run_id)
    assert (run.state.type.value, run.state.name) == ("FAILED", "Critical")
    assert run.run_count == 2  # the whole window monitored twice
    assert hooked == [str(run.id)]  # the failure hook ran
    with pytest.raises(FailedRun):
        state.result()  # a caller after the window's report gets an exception
    # The event automations match is the state's name: an automation on "Failed" would not fire.
    names = {e["event"] for e in _events(run.id)}
    assert "prefect.flow-run.Critical" in names and "prefect.flow-run.Failed" not in names


def test_a_critical_window_is_a_failed_child_of_a_completed_monitor_run() -> None:
    @flow(retries=1, retry_delay_seconds=0)
    def monitor_like() -> State[str]:
        child = mark_critical("m", END - timedelta(days=1), END, "m 2026-03-05: critical — drift")
        assert child is not None and child.is_failed()  # returned, not raised
        return Completed(name="Critical", message="m 2026-03-05: critical — drift", data="report")

    state = monitor_like(return_state=True)
    assert state.result() == "report"  # callers still get the window's report
    with get_client(sync_client=True) as client:
        parent = client.read_flow_run(state.state_details.flow_run_id)
        (child,) = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[parent.id]))
        )
        child_flow = client.read_flow(child.flow_id)
    assert (parent.state.type.value, parent.state.name, parent.run_count) == ("COMPLETED", "Critical", 1)
    assert (child.state.type.value, child.state.name) == ("FAILED", "Critical")
    assert child.run_count == 1 and child.deployment_id is None  # no retry; no deployment's failure
    assert child_flow.name == "critical-window"
    assert child.name.startswith("m 2026-03-05")  # the window's monitor run name
    assert set(child.tags) >= {"m", "verdict:critical"}  # a filter on the model keeps the red row
    assert child.state.message == "m 2026-03-05: critical — drift"
    assert "prefect.flow-run.Critical" in {e["event"] for e in _events(child.id)}
