"""Render an `AlertMessage` for each channel: console text, Slack Block Kit, webhook JSON, PagerDuty.

Slack rejects a message that breaks a Block Kit limit (`invalid_blocks`), and a rejected alert is a
lost alert, so `render_slack` enforces every limit it relies on — at most 50 blocks, a header of at
most 150 characters, section text of at most 3000, at most 10 fields of at most 2000 — whatever the
report holds (a window with 200 drifted columns, 100 rules firing at once). What does not fit is
summarised ("… and 12 more alerts") and the full list stays in the window report.

Every channel leads with the window, not with this message's events: the model, the window, the
window's verdict and how many alerts fire in it (`header`), which say the same as the window's report
and the Prefect run, whatever subset of the events a run newly announces. What this message carries
("1 new, 2 resolved") comes after. A message judged in hindsight (with every label known today) says
so. Each event then says what the reader acts on: since when it fires (``firing since 2026-03-10
(3 windows)``), the figure against its threshold, the numbers behind the rule (`AlertEvent.evidence`:
the failed expectations, realized against estimated, the target's score, the features with the most
impact), the drifted columns, the runbook; then the dashboard, MLflow and Prefect links. A notice
(a promotion, a rollback) is rendered as one: no [FIRING], no severity; PagerDuty gets it as a change
event. Messages without a window verdict (rows queued in the outbox before messages carried it, the
tracking-outage and retraining notices) keep the event title (`title`).
"""

from __future__ import annotations

from typing import Any

from watchkeeper.alerting.messages import AlertEvent, AlertMessage, firing_since
from watchkeeper.presentation import verdict_state_name, versions_label, window_name
from watchkeeper.quoting import MAX_EXAMPLES, MAX_QUOTED_CHARS, MAX_TEXT_CHARS, cap_text
from watchkeeper.verdict import Severity

MAX_BLOCKS = 50
MAX_HEADER = 150
MAX_SECTION = 3000
MAX_FIELDS = 10
MAX_FIELD = 2000
MAX_FALLBACK = 3000
PAGERDUTY_SUMMARY = 1024

_ICON = {
    "critical": ":red_circle:",
    "warning": ":large_orange_circle:",
    "resolved": ":white_check_mark:",
    "notice": ":information_source:",
}
# Sentences of evidence an event shows (the window report has the rest).
MAX_EVIDENCE = 10


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def _window(message: AlertMessage) -> str:
    # The exact bounds in UTC, beside the window's name in the header (which is in the model's calendar).
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
    """`drift.share = 0.62 (>= 0.5)`: the figure and the threshold it crossed (resolved:
    `drift.share = 0.1 (fires at >= 0.5)`); empty for a check's
    own finding (`finding.…` is 1 while it holds: its sentence says everything), for a flag
    (`perf.concept_drift == 1`: its evidence has the numbers) and for a notice without a figure."""
    if event.metric.startswith("finding."):
        return ""
    if event.op == "==" and event.threshold == 1 and event.value in (0, 1):
        return ""
    if event.value is None and event.threshold is None:
        return ""
    if event.status == "resolved":  # the figure no longer crosses the threshold: say where it fires
        return f"{event.metric} = {_num(event.value)} (fires at {event.op} {_num(event.threshold)})"
    return f"{event.metric} = {_num(event.value)} ({event.op} {_num(event.threshold)})"


def _window_name(message: AlertMessage) -> str:
    """The window's name (`presentation.window_name`): ``credit-risk 2026-03-09 → 03-10``."""
    if message.window_start is None:  # an outbox row from before messages carried the start
        return f"{message.model} · until {message.window_end:%Y-%m-%d %H:%M}"
    return window_name(message.model, message.window_start, message.window_end, message.timezone)


def event_label(event: AlertEvent) -> str:
    """``CRITICAL``, ``WARNING``, ``RESOLVED`` or ``NOTICE`` (a notice has no severity)."""
    if event.status == "resolved":
        return "RESOLVED"
    if event.is_notice:
        return "NOTICE"
    return event.severity.upper()


def since_line(event: AlertEvent) -> str | None:
    """``firing since 2026-03-10 (3 windows)`` for a firing alert, ``had fired 2026-03-10`` for a
    resolved one; None for a notice."""
    if event.is_notice or event.fired_at is None:
        return None
    if event.status == "resolved":
        return (firing_since(event.fired_at, None) or "").replace("firing since", "had fired", 1)
    return firing_since(event.fired_at, event.windows)


def evidence_lines(event: AlertEvent) -> list[str]:
    """The numbers behind the rule, each sentence capped (they may quote the data)."""
    lines = [cap_text(line, MAX_TEXT_CHARS) for line in event.evidence[:MAX_EVIDENCE]]
    if len(event.evidence) > MAX_EVIDENCE:
        lines.append(f"… and {len(event.evidence) - MAX_EVIDENCE} more in the window report")
    return lines


def _verdict_level(message: AlertMessage) -> Severity | None:
    if message.verdict is None:
        return None
    try:
        return Severity.parse(message.verdict)
    except ValueError:
        return None


def verdict_name(message: AlertMessage) -> str | None:
    """The window's verdict as the Prefect run's state names it (``Critical``); None when unknown."""
    level = _verdict_level(message)
    if level is not None:
        return verdict_state_name(level)
    return message.verdict or None


def verdict_label(message: AlertMessage) -> str | None:
    """The window's verdict for machines (``critical``), as the report and the run tags spell it."""
    level = _verdict_level(message)
    return level.label if level is not None else message.verdict or None


def contents(message: AlertMessage) -> str:
    """What this message carries: ``1 new, 1 worse, 1 still firing, 2 resolved``."""
    new = sum(1 for e in message.firing if not e.repeat and not e.escalated)
    worse = sum(1 for e in message.firing if e.escalated)
    again = len(message.firing) - new - worse
    parts = [f"{n} {what}" for n, what in ((new, "new"), (worse, "worse"), (again, "still firing")) if n]
    if message.resolved:
        parts.append(f"{len(message.resolved)} resolved")
    if message.notices:
        parts.append(f"{len(message.notices)} notice{'s' if len(message.notices) != 1 else ''}")
    return ", ".join(parts) or "no events"


def header(message: AlertMessage, limit: int | None = None) -> str:
    """The first line everywhere: ``credit-risk 2026-03-09 → 03-10 · Critical · 5 firing``.

    The window's verdict and every alert firing in the window (announced in this message or not);
    ``(hindsight)`` when judged with every label known today. A message that carries neither (an
    outbox row from before, a tracking-outage or retraining notice) keeps its event title.
    """
    verdict = verdict_name(message)
    if verdict is None and message.window_firing is None:
        text = title(message)
    else:
        parts = [_window_name(message)]
        if verdict is not None:
            parts.append(verdict)
        if message.window_firing is not None:
            parts.append(f"{message.window_firing} firing")
        text = " · ".join(parts)
    suffix = " (hindsight)" if message.hindsight else ""
    if limit is not None:
        text = clip(text, limit - len(suffix))
    return text + suffix


def title(message: AlertMessage) -> str:
    """This message's events: ``[FIRING:1] [RESOLVED:1] churn: lat``."""
    firing, resolved = message.firing, message.resolved
    parts = []
    if firing:
        parts.append(f"[FIRING:{len(firing)}]")
    if resolved:
        parts.append(f"[RESOLVED:{len(resolved)}]")
    rules = ", ".join(dict.fromkeys(e.rule for e in message.events))
    if not parts:  # notices only: news of the loop, not alerts
        return f"{message.model} · notice · {rules}"
    return f"{' '.join(parts)} {message.model}: {rules}"


def render_text(message: AlertMessage) -> str:
    lines = [header(message), f"  window: {_window(message)}"]
    if message.model_version:
        lines.append(f"  version: {versions_label(message.model_version)}")
    lines.append(f"  in this message: {contents(message)}")
    for e in message.events:
        again = " (still firing)" if e.repeat else " (worse)" if e.escalated else ""
        figure = f" [{metric_line(e)}]" if metric_line(e) else ""
        lines.append(f"  - {event_label(e)} {e.rule}{again}: {cap_text(e.summary, MAX_TEXT_CHARS)}{figure}")
        since = since_line(e)
        if since:
            lines.append(f"      {since}")
        lines.extend(f"      {line}" for line in evidence_lines(e))
        if e.details:
            lines.append(f"      {cap_text(details_text(e.details), MAX_TEXT_CHARS)}")
        if e.runbook_url:
            lines.append(f"      runbook: {e.runbook_url}")
    for name, url in (
        ("Dashboard", message.dashboard_url),
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


def _event_icon(event: AlertEvent) -> str:
    if event.status == "resolved":
        return _ICON["resolved"]
    return _ICON["notice"] if event.is_notice else _ICON.get(event.severity, "")


def _event_section(event: AlertEvent) -> dict[str, Any]:
    head = f"{_event_icon(event)} *{event_label(event)} · {_esc(event.rule)}*"
    if event.repeat:
        head += " _(still firing)_"
    elif event.escalated:
        head += " _(worse since last announced)_"
    since = since_line(event)
    if since:
        head += f" · {since}"
    lines = [head, _esc(cap_text(event.summary, MAX_TEXT_CHARS))]
    if metric_line(event):
        lines.append(f"`{_esc(metric_line(event))}`")
    lines.extend(f"• {_esc(line)}" for line in evidence_lines(event))
    if event.description:
        lines.append(_esc(event.description))
    if event.runbook_url:
        # A repository-relative runbook (no `alerts.links.runbook_base_url`) is named, not linked.
        link = _link(event.runbook_url, "Runbook") or f"Runbook: `{_esc(clip(event.runbook_url, 300))}`"
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
    level = _verdict_level(message)
    if level is not None:  # the window's verdict, not only this message's events
        icon = _ICON["resolved"] if level == Severity.OK else _ICON[level.label]
    elif firing:
        icon = _ICON.get(message.severity.label, "")
    else:
        icon = _ICON["notice"] if message.status == "notice" else _ICON["resolved"]
    # The header says what happened in words; the verdict's icon leads the fallback text instead.
    fields = [
        ("Model", message.model),
        ("Version", versions_label(message.model_version)),
        ("Window", _window(message)),
    ]
    verdict = verdict_name(message)
    if verdict is not None:
        fields.append(("Verdict", f"{verdict} (hindsight)" if message.hindsight else verdict))
    else:  # an older message, or a notice: what its events say
        fields.append(("Severity", message.severity.label if firing else message.status))
    if message.window_firing is not None:
        fields.append(("Firing in window", str(message.window_firing)))
    fields.append(("In this message", contents(message)))
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": header(message, MAX_HEADER), "emoji": True},
        },
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
            _link(message.dashboard_url or "", "Dashboard"),
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
        "title": header(message),
        "model": message.model,
        "model_version": message.model_version,
        "window": {
            "name": None if message.window_start is None else _window_name(message),
            "start": None if message.window_start is None else message.window_start.isoformat(),
            "end": message.window_end.isoformat(),
            "verdict": verdict_label(message),
            "firing": message.window_firing,
            "hindsight": message.hindsight,
        },
        "in_message": {
            "firing": len(message.firing),
            "new": sum(1 for e in message.firing if not e.repeat and not e.escalated),
            "worse": sum(1 for e in message.firing if e.escalated),
            "resolved": len(message.resolved),
            "notices": len(message.notices),
        },
        "links": {
            "dashboard": message.dashboard_url,
            "mlflow_run": message.mlflow_run_url,
            "prefect_flow_run": message.prefect_flow_run_url,
        },
        # Texts capped (`quoting`): a finding's sentence may quote the data.
        "alerts": [_capped(e) for e in message.events],
    }


def _capped(event: AlertEvent) -> dict[str, Any]:
    out = event.to_dict()
    out["figure"] = metric_line(event) or None
    out["firing_since"] = since_line(event)
    out["summary"] = cap_text(str(out.get("summary") or ""), MAX_TEXT_CHARS)
    out["details"] = [cap_text(str(d), MAX_QUOTED_CHARS) for d in out.get("details") or []][:MAX_EXAMPLES]
    out["evidence"] = [cap_text(str(d), MAX_TEXT_CHARS) for d in out.get("evidence") or []][:MAX_EVIDENCE]
    out["kind"] = "notice" if out.get("status") == "notice" else "alert"
    return out


def _links(event: AlertEvent, message: AlertMessage) -> list[dict[str, str]]:
    # PagerDuty opens links in a browser elsewhere: http(s) only (not the local dashboard file).
    return [
        {"href": url, "text": text}
        for url, text in (
            (message.dashboard_url, "Dashboard"),
            (message.mlflow_run_url, "MLflow run"),
            (message.prefect_flow_run_url, "Prefect flow run"),
            (event.runbook_url, "Runbook"),
        )
        if url and url.startswith(("http://", "https://"))
    ]


def render_pagerduty_change(event: AlertEvent, message: AlertMessage, routing_key: str) -> dict[str, Any]:
    """A notice as a PagerDuty change event (Events API v2, ``/v2/change/enqueue``): shown beside the
    service's incidents as what changed, never an incident that pages someone."""
    body: dict[str, Any] = {
        "routing_key": routing_key,
        "payload": {
            "summary": clip(f"{message.model}: {event.rule}: {event.summary}", PAGERDUTY_SUMMARY),
            "timestamp": event.window_end.isoformat(),
            "source": message.model,
            "custom_details": {
                "event": event.rule,
                "model_version": message.model_version,
                "labels": dict(event.labels),
                "figure": metric_line(event) or None,
                "evidence": evidence_lines(event),
            },
        },
    }
    links = _links(event, message)
    if links:
        body["links"] = links
    return body


def render_pagerduty(event: AlertEvent, message: AlertMessage, routing_key: str) -> dict[str, Any]:
    """A PagerDuty Events API v2 event; `dedup_key` is the alert's fingerprint, so resolve matches.
    A notice is a change event instead (`render_pagerduty_change`)."""
    if event.is_notice:
        return render_pagerduty_change(event, message, routing_key)
    body: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": "resolve" if event.status == "resolved" else "trigger",
        "dedup_key": event.fingerprint,
    }
    if event.status == "resolved":
        return body
    hindsight = " (hindsight)" if message.hindsight else ""
    body["payload"] = {
        "summary": clip(f"{message.model}: {event.rule}: {event.summary}{hindsight}", PAGERDUTY_SUMMARY),
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
            "window_verdict": verdict_label(message),
            "window_firing": message.window_firing,
            "hindsight": message.hindsight,
            "labels": dict(event.labels),
            "description": event.description,
            "figure": metric_line(event) or None,
            "firing_since": since_line(event),
            "evidence": evidence_lines(event),
            "details": list(event.details[:100]),
        },
    }
    body["client"] = "Watchkeeper"
    links = _links(event, message)
    if links:
        body["links"] = links
    return body
