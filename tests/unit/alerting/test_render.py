"""Rendering: Slack Block Kit stays within Slack's limits whatever the report holds."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from watchkeeper.alerting import AlertContext, AlertsConfig, evaluate_alerts
from watchkeeper.alerting.messages import AlertEvent, AlertMessage
from watchkeeper.alerting.render import header, render_generic, render_pagerduty, render_slack, render_text
from watchkeeper.state import StateStore

from .conftest import NOW, RecordingServer, day


def assert_block_kit_valid(payload: dict[str, Any]) -> None:
    """The Block Kit limits Slack enforces (and rejects a whole message for breaking)."""
    assert payload["text"], "top-level fallback text is required"
    blocks = payload["blocks"]
    assert 1 <= len(blocks) <= 50
    for block in blocks:
        if block["type"] == "header":
            assert block["text"]["type"] == "plain_text"
            assert 1 <= len(block["text"]["text"]) <= 150
        elif block["type"] == "section":
            assert "text" in block or "fields" in block
            if "text" in block:
                assert 1 <= len(block["text"]["text"]) <= 3000
            fields = block.get("fields", [])
            assert len(fields) <= 10
            assert all(1 <= len(f["text"]) <= 2000 for f in fields)
        elif block["type"] == "context":
            assert 1 <= len(block["elements"]) <= 10
        else:
            raise AssertionError(f"unexpected block type {block['type']}")


def test_200_drifted_columns_through_slack(server: RecordingServer, store: StateStore) -> None:
    columns = [f"feature_with_a_rather_long_name_{i:03d}" for i in range(200)]
    figures: dict[str, float] = {"drift.share": 1.0, "drift.n_drifted": 200, "drift.n_columns": 200}
    for i, col in enumerate(columns):
        figures[f"drift.{col}.drifted"] = 1.0
        figures[f"drift.{col}.score"] = i / 1000
    # one rule per column as well, so both a long detail list and many alerts are exercised
    rules = [{"name": f"col_{i:03d}", "condition": f"drift.{c}.drifted == 1"} for i, c in enumerate(columns)]
    cfg = AlertsConfig.model_validate(
        {
            "rules": rules,  # plus the built-in data_drift warning and critical
            "channels": [{"type": "slack", "webhook_url_env": "SLACK_URL"}],
        }
    )
    report = evaluate_alerts(
        figures,
        model="a-model-name-that-is-quite-long-" * 3,
        window_end=day(1),
        config=cfg,
        store=store,
        context=AlertContext(model_version="12", mlflow_run_url="http://mlflow/r/1"),
        env={"SLACK_URL": f"{server.url}/hook"},
        now=NOW,
    )
    # 200 column rules and data_drift, counted once at its highest severity (critical).
    assert report.figures()["firing"] == 201
    assert [n.status for n in report.notifications] == ["sent"]
    (req,) = server.requests
    payload = req.body
    assert_block_kit_valid(payload)
    texts = [b["text"]["text"] for b in payload["blocks"] if b["type"] == "section" and "text" in b]
    # 201 events (the drift warning is inhibited by the critical): 46 shown, the overflow names the rest
    assert texts[-1].startswith("… and 155 more alert(s): col_045, col_046")
    # the critical drift alert lists the worst-scoring columns first, clipped to the section limit
    drift = next(t for t in texts if "CRITICAL · data_drift" in t)
    assert "Drifted feature columns (200): feature_with_a_rather_long_name_199 (0.199), " in drift
    assert drift.endswith("…")
    assert drift.index("feature_with_a_rather_long_name_199") < drift.index(
        "feature_with_a_rather_long_name_198"
    )
    assert payload["blocks"][-1]["type"] == "context"  # links survive the truncation


_text = st.text(min_size=0, max_size=4000)


@settings(max_examples=40, deadline=None)
@given(
    model=st.text(min_size=1, max_size=300),
    summary=_text,
    description=_text,
    details=st.lists(st.text(max_size=200), max_size=50),
    n_events=st.integers(1, 80),
    # The window's verdict and count as the engine fills them, an old outbox row's None, or text
    # that is no severity at all.
    verdict=st.one_of(st.none(), st.sampled_from(["ok", "warning", "critical"]), st.text(max_size=300)),
    window_firing=st.one_of(st.none(), st.integers(0, 10**9)),
    hindsight=st.booleans(),
)
def test_any_message_fits_block_kit(
    model: str,
    summary: str,
    description: str,
    details: list[str],
    n_events: int,
    verdict: str | None,
    window_firing: int | None,
    hindsight: bool,
) -> None:
    events = tuple(
        AlertEvent(
            fingerprint=f"fp{i}",
            rule=f"rule<{i}>&" * 20,
            status="firing" if i % 3 else "resolved",
            severity="critical" if i % 2 else "warning",
            labels={},
            summary=summary,
            description=description,
            condition="drift.share > 0.5",
            metric="drift.share",
            value=0.7,
            op=">",
            threshold=0.5,
            window_end=day(1),
            runbook_url="https://runbooks/" + "x" * 3000,
            details=tuple(details),
        )
        for i in range(n_events)
    )
    message = AlertMessage(
        model=model,
        window_end=day(1),
        events=events,
        model_version=model,
        verdict=verdict,
        window_firing=window_firing,
        hindsight=hindsight,
    )
    text, blocks = render_slack(message)
    assert_block_kit_valid({"text": text, "blocks": blocks})
    if hindsight:  # said, however long the model's name
        assert blocks[0]["text"]["text"].endswith(" (hindsight)")


def _event(status: str = "firing") -> AlertEvent:
    return AlertEvent(
        fingerprint="abc",
        rule="lat",
        status=status,  # type: ignore[arg-type]
        severity="warning",
        labels={"alertname": "lat"},
        summary="p95 300 ms > 250 ms",
        condition="serving.latency_p95_ms > 250",
        metric="serving.latency_p95_ms",
        value=300.0,
        op=">",
        threshold=250.0,
        window_end=day(2),
        runbook_url="https://runbooks.example/lat",
    )


def test_slack_layout_and_escaping() -> None:
    message = AlertMessage(
        model="churn",
        window_end=day(2),
        window_start=day(1),
        model_version="4",
        events=(_event(), _event("resolved"), replace(_event(), fingerprint="def", repeat=True)),
        mlflow_run_url="http://mlflow/r/1",
        prefect_flow_run_url="http://prefect/fr/2",
        verdict="critical",
        window_firing=5,
    )
    text, blocks = render_slack(message)
    # The window's verdict and every alert firing in it, whatever this message announces.
    assert blocks[0]["text"]["text"] == "churn 2024-03-01 → 03-02 · Critical · 5 firing"
    fields = [f["text"] for f in blocks[1]["fields"]]
    assert fields == [
        "*Model*\nchurn",
        "*Version*\nv4",
        "*Window*\n2024-03-01 00:00 → 2024-03-02 00:00 UTC",
        "*Verdict*\nCritical",
        "*Firing in window*\n5",
        "*In this message*\n1 new, 1 still firing, 1 resolved",
    ]
    firing = blocks[2]["text"]["text"]
    assert "`serving.latency_p95_ms = 300 (&gt; 250)`" in firing  # `>` escaped for mrkdwn
    assert "<https://runbooks.example/lat|Runbook>" in firing
    assert blocks[3]["text"]["text"].startswith(":white_check_mark: *RESOLVED · lat*")
    assert (
        blocks[5]["elements"][0]["text"]
        == "<http://mlflow/r/1|MLflow run> · <http://prefect/fr/2|Prefect flow run>"
    )
    # The fallback leads with the verdict's icon and the same header.
    assert text.split("\n")[:4] == [
        ":red_circle: churn 2024-03-01 → 03-02 · Critical · 5 firing",
        "  window: 2024-03-01 00:00 → 2024-03-02 00:00 UTC",
        "  version: v4",
        "  in this message: 1 new, 1 still firing, 1 resolved",
    ]


def test_resolutions_of_a_window_still_critical_keep_its_colour() -> None:
    # Only resolutions in this message, but the window is still critical with 3 alerts firing.
    message = AlertMessage(
        model="churn", window_end=day(2), events=(_event("resolved"),), verdict="critical", window_firing=3
    )
    text, blocks = render_slack(message)
    assert blocks[0]["text"]["text"] == "churn · until 2024-03-02 00:00 · Critical · 3 firing"
    assert text.startswith(":red_circle: churn · until 2024-03-02 00:00 · Critical · 3 firing\n")
    # An OK window whose last alert resolved: the check mark.
    ok = replace(message, verdict="ok", window_firing=0)
    assert render_slack(ok)[0].startswith(
        ":white_check_mark: churn · until 2024-03-02 00:00 · OK · 0 firing\n"
    )


def test_hindsight_is_said_in_every_channel() -> None:
    message = AlertMessage(
        model="m" * 200,
        window_end=day(2),
        window_start=day(1),
        events=(_event(),),
        verdict="warning",
        window_firing=1,
        hindsight=True,
    )
    header = render_slack(message)[1][0]["text"]["text"]
    # Clipped to Slack's 150 characters, the long model name gives way, the word does not.
    assert len(header) == 150 and header.endswith("m… (hindsight)")
    assert render_text(message).splitlines()[0] == (
        f"{'m' * 200} 2024-03-01 → 03-02 · Warning · 1 firing (hindsight)"
    )
    fields = [f["text"] for f in render_slack(message)[1][1]["fields"]]
    assert "*Verdict*\nWarning (hindsight)" in fields
    assert render_generic(message)["window"]["hindsight"] is True
    payload = render_pagerduty(_event(), message, "key")["payload"]
    assert payload["summary"] == f"{'m' * 200}: lat: p95 300 ms > 250 ms (hindsight)"
    assert payload["custom_details"]["hindsight"] is True


def test_old_outbox_rows_render_as_before() -> None:
    # A message queued before messages carried the window's verdict: read back from its JSON, it
    # has no verdict and no count; it says what its events say, and claims nothing about the window.
    data = AlertMessage(model="churn", window_end=day(2), window_start=day(1), events=(_event(),)).to_dict()
    for key in ("verdict", "window_firing", "hindsight"):
        del data[key]
    message = AlertMessage.from_dict(data)
    assert (message.verdict, message.window_firing, message.hindsight) == (None, None, False)
    text, blocks = render_slack(message)
    assert blocks[0]["text"]["text"] == "[FIRING:1] churn: lat"
    assert [f["text"] for f in blocks[1]["fields"]][3:] == ["*Severity*\nwarning", "*In this message*\n1 new"]
    assert text.startswith(":large_orange_circle: [FIRING:1] churn: lat\n")
    body = render_generic(message)
    assert body["title"] == "[FIRING:1] churn: lat"
    assert body["window"]["verdict"] is None and body["window"]["firing"] is None
    details = render_pagerduty(_event(), message, "key")["payload"]["custom_details"]
    assert (details["window_verdict"], details["window_firing"]) == (None, None)


def test_text_generic_and_pagerduty_say_the_verdict() -> None:
    message = AlertMessage(
        model="churn", window_end=day(2), events=(_event(),), verdict="Critical", window_firing=4
    )
    assert AlertMessage.from_dict(message.to_dict()) == message
    assert render_text(message).splitlines() == [
        "churn · until 2024-03-02 00:00 · Critical · 4 firing",
        "  window: until 2024-03-02 00:00 UTC",
        "  in this message: 1 new",
        "  - WARNING lat: p95 300 ms > 250 ms [serving.latency_p95_ms = 300 (> 250)]",
        "      runbook: https://runbooks.example/lat",
    ]
    body = render_generic(message)
    assert body["title"] == "churn · until 2024-03-02 00:00 · Critical · 4 firing"
    # Machine-readable: the verdict as the report and the run tags spell it.
    assert body["window"] == {
        "name": None,
        "start": None,
        "end": day(2).isoformat(),
        "verdict": "critical",
        "firing": 4,
        "hindsight": False,
    }
    pd = render_pagerduty(_event(), message, "key")
    assert pd["event_action"] == "trigger" and pd["dedup_key"] == "abc"
    assert pd["payload"]["summary"] == "churn: lat: p95 300 ms > 250 ms"
    details = pd["payload"]["custom_details"]
    assert (details["window_verdict"], details["window_firing"], details["hindsight"]) == (
        "critical",
        4,
        False,
    )
    assert pd["payload"]["class"] == "serving" and pd["links"] == [
        {"href": "https://runbooks.example/lat", "text": "Runbook"}
    ]


def test_hourly_windows_show_their_times() -> None:
    message = AlertMessage(
        model="churn",
        window_start=day(2).replace(hour=6),
        window_end=day(2).replace(hour=12),
        events=(_event(),),
        verdict="ok",
        window_firing=0,
    )
    assert header(message) == "churn 2024-03-02 06:00 → 12:00 · OK · 0 firing"


def test_an_escalation_says_it_got_worse() -> None:
    worse = replace(_event(), value=900.0, summary="p95 900 ms > 250 ms", escalated=True)
    message = AlertMessage(
        model="churn", window_end=day(2), events=(worse,), verdict="warning", window_firing=1
    )
    lines = render_text(message).splitlines()
    assert "  in this message: 1 worse" in lines
    assert "  - WARNING lat (worse): p95 900 ms > 250 ms [serving.latency_p95_ms = 900 (> 250)]" in lines
    _, blocks = render_slack(message)
    assert "*In this message*\n1 worse" in [f["text"] for f in blocks[1]["fields"]]
    assert "*WARNING · lat* _(worse since last announced)_" in blocks[2]["text"]["text"]
    assert render_generic(message)["in_message"] == {
        "firing": 1,
        "new": 0,
        "worse": 1,
        "resolved": 0,
        "notices": 0,
    }
