"""Render an `AlertMessage` for each channel: console text, Slack Block Kit, webhook JSON, PagerDuty.

Slack rejects a message that breaks a Block Kit limit (`invalid_blocks`), and a rejected alert is a
lost alert, so `render_slack` enforces every limit it relies on — at most 50 blocks, a header of at
most 150 characters, section text of at most 3000, at most 10 fields of at most 2000 — whatever the
report holds (a window with 200 drifted columns, 100 rules firing at once). What does not fit is
summarised ("… and 12 more alerts") and the full list stays in the window report.
"""

from __future__ import annotations

from typing import Any

from watchkeeper.alerting.messages import AlertEvent, AlertMessage

MAX_BLOCKS = 50
MAX_HEADER = 150
MAX_SECTION = 3000
MAX_FIELDS = 10
MAX_FIELD = 2000
MAX_FALLBACK = 3000
PAGERDUTY_SUMMARY = 1024

_ICON = {"critical": ":red_circle:", "warning": ":large_orange_circle:", "resolved": ":white_check_mark:"}


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def _window(message: AlertMessage) -> str:
    end = message.window_end.strftime("%Y-%m-%d %H:%M")
    if message.window_start is None:
        return f"until {end} UTC"
    return f"{message.window_start.strftime('%Y-%m-%d %H:%M')} → {end} UTC"


def details_text(details: tuple[str, ...]) -> str:
    """`("Drifted columns (2):", "age (0.31)", "income")` → `Drifted columns (2): age (0.31), income`."""
    if details and details[0].endswith(":"):
        return f"{details[0]} {', '.join(details[1:])}"
    return ", ".join(details)


def metric_line(event: AlertEvent) -> str:
    """`drift.share = 0.62 (>= 0.5)`: the figure and the threshold it crossed; empty for a check's
    own finding (`finding.…` is 1 while it holds: its sentence says everything)."""
    if event.metric.startswith("finding."):
        return ""
    return f"{event.metric} = {_num(event.value)} ({event.op} {_num(event.threshold)})"


def title(message: AlertMessage) -> str:
    firing, resolved = message.firing, message.resolved
    parts = []
    if firing:
        parts.append(f"[FIRING:{len(firing)}]")
    if resolved:
        parts.append(f"[RESOLVED:{len(resolved)}]")
    rules = ", ".join(dict.fromkeys(e.rule for e in message.events))
    return f"{' '.join(parts)} {message.model}: {rules}"


def render_text(message: AlertMessage) -> str:
    lines = [title(message), f"  window: {_window(message)}"]
    if message.model_version:
        lines.append(f"  version: {message.model_version}")
    for e in message.events:
        label = "RESOLVED" if e.status == "resolved" else e.severity.upper()
        again = " (still firing)" if e.repeat else ""
        figure = f" [{metric_line(e)}]" if metric_line(e) else ""
        lines.append(f"  - {label} {e.rule}{again}: {e.summary}{figure}")
        if e.details:
            lines.append(f"      {details_text(e.details)}")
        if e.runbook_url:
            lines.append(f"      runbook: {e.runbook_url}")
    for name, url in (
        ("MLflow run", message.mlflow_run_url),
        ("Prefect flow run", message.prefect_flow_run_url),
    ):
        if url:
            lines.append(f"  {name}: {url}")
    return "\n".join(lines)


def _esc(text: str) -> str:
    # Slack mrkdwn control characters; `>=` in a condition would otherwise be mangled.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _link(url: str, text: str) -> str | None:
    # A link Slack cannot parse (or one too long to fit) is better dropped than breaking the message.
    if not url.startswith(("http://", "https://")) or len(url) > 1500 or any(c in url for c in "<>|"):
        return None
    return f"<{url}|{text}>"


def _event_section(event: AlertEvent) -> dict[str, Any]:
    icon = _ICON["resolved"] if event.status == "resolved" else _ICON.get(event.severity, "")
    state = "RESOLVED" if event.status == "resolved" else event.severity.upper()
    head = f"{icon} *{state} · {_esc(event.rule)}*"
    if event.repeat:
        head += " _(still firing)_"
    lines = [head, _esc(event.summary)]
    if metric_line(event):
        lines.append(f"`{_esc(metric_line(event))}`")
    if event.description:
        lines.append(_esc(event.description))
    if event.runbook_url:
        link = _link(event.runbook_url, "Runbook")
        if link:
            lines.append(link)
    text = "\n".join(lines)
    if event.details:
        # Details (e.g. 200 drifted columns) go last so clipping only ever shortens them.
        room = MAX_SECTION - len(text) - 1
        details = _esc(details_text(event.details))
        if room > 20:
            text += "\n" + clip(details, room)
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, MAX_SECTION)}}


def render_slack(message: AlertMessage) -> tuple[str, list[dict[str, Any]]]:
    """Fallback text and Block Kit blocks, within Slack's limits."""
    firing = message.firing
    icon = _ICON["resolved"] if not firing else _ICON.get(message.severity.label, "")
    # The header says what happened in words; the severity icon leads the fallback text instead.
    header = clip(title(message), MAX_HEADER)
    fields = [
        ("Model", message.model),
        ("Version", message.model_version or "n/a"),
        ("Window", _window(message)),
        ("Severity", message.severity.label if firing else "resolved"),
        ("Firing", str(len(firing))),
        ("Resolved", str(len(message.resolved))),
    ]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": header, "emoji": True}},
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": clip(f"*{name}*\n{_esc(value)}", MAX_FIELD)}
                for name, value in fields[:MAX_FIELDS]
            ],
        },
    ]
    links = [
        link
        for link in (
            _link(message.mlflow_run_url or "", "MLflow run"),
            _link(message.prefect_flow_run_url or "", "Prefect flow run"),
        )
        if link
    ]
    tail: list[dict[str, Any]] = []
    if links:
        tail.append({"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(links)}]})
    room = MAX_BLOCKS - len(blocks) - len(tail)
    events = list(message.events)
    shown = events if len(events) <= room else events[: room - 1]
    blocks.extend(_event_section(e) for e in shown)
    if len(shown) < len(events):
        more = len(events) - len(shown)
        rest = ", ".join(e.rule for e in events[len(shown) :])
        text = clip(f"… and {more} more alert(s): {_esc(rest)}", MAX_SECTION)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text}})
    blocks.extend(tail)
    fallback = clip(f"{icon} {render_text(message)}", MAX_FALLBACK)
    return fallback, blocks


def render_generic(message: AlertMessage) -> dict[str, Any]:
    """An Alertmanager-like JSON payload: status, common fields and the list of alerts."""
    return {
        "version": "1",
        "source": "watchkeeper",
        "status": message.status,
        "title": title(message),
        "model": message.model,
        "model_version": message.model_version,
        "window": {
            "start": None if message.window_start is None else message.window_start.isoformat(),
            "end": message.window_end.isoformat(),
        },
        "links": {"mlflow_run": message.mlflow_run_url, "prefect_flow_run": message.prefect_flow_run_url},
        "alerts": [e.to_dict() for e in message.events],
    }


def render_pagerduty(event: AlertEvent, message: AlertMessage, routing_key: str) -> dict[str, Any]:
    """A PagerDuty Events API v2 event; `dedup_key` is the alert's fingerprint, so resolve matches."""
    body: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": "resolve" if event.status == "resolved" else "trigger",
        "dedup_key": event.fingerprint,
    }
    if event.status == "resolved":
        return body
    body["payload"] = {
        "summary": clip(f"{message.model}: {event.rule}: {event.summary}", PAGERDUTY_SUMMARY),
        "source": message.model,
        "severity": event.severity if event.severity in ("critical", "warning") else "info",
        "timestamp": event.window_end.isoformat(),
        "component": message.model,
        "group": event.rule,
        "class": event.metric.split(".", 1)[0],
        "custom_details": {
            "metric": event.metric,
            "value": event.value,
            "op": event.op,
            "threshold": event.threshold,
            "condition": event.condition,
            "model_version": message.model_version,
            "window_start": None if message.window_start is None else message.window_start.isoformat(),
            "window_end": message.window_end.isoformat(),
            "labels": dict(event.labels),
            "description": event.description,
            "details": list(event.details[:100]),
        },
    }
    body["client"] = "Watchkeeper"
    links = [
        {"href": url, "text": text}
        for url, text in (
            (message.mlflow_run_url, "MLflow run"),
            (message.prefect_flow_run_url, "Prefect flow run"),
            (event.runbook_url, "Runbook"),
        )
        if url
    ]
    if links:
        body["links"] = links
    return body
