"""The alert engine: Alertmanager's semantics over monitoring windows, state in window time.

For each rule, one window at a time:

- The condition holds → the alert is *pending* until it has held `for` consecutive windows, then
  *firing*. It does not hold → a firing alert is *resolved* (announced if `send_resolved` and its
  firing was announced), a pending one goes back to *inactive*.
- The condition is *unknown* (a figure it needs is missing from the window's report, e.g. no drift
  figures in a no-data window, no realized metrics before labels arrive) → the alert is reported
  as `unknown` in this window and its memory is carried through unchanged: it neither advances,
  fires, nor resolves. Only alerts whose condition holds are firing in a window, so every firing
  alert is one of the window's reasons (`judge.py`).
- The rules are the model's configured and built-in rules, plus one per check finding that stands
  as its own rule (`judge.finding_rules`): such an alert resolves once its check runs without it.
- Identity is a fingerprint of model, rule name and labels (severity included).
- State follows window time: evaluating a window reads each alert's state as of the window before
  it (`store.load_states_as_of`) and writes the state after it, keyed by the window's end, never a
  later window's. A re-run on the same figures starts from the state that window started from the
  first time (kept in its row), so it reproduces its report even after an earlier window was
  re-evaluated; a re-evaluation on new figures (late labels) starts from the state as of the window
  now, so realized-performance alerts advance window by window as labels land. The delivery ledger
  (keys carry the window end) makes sure nothing is sent twice. If a re-run no longer fires what the first run announced,
  a resolved message says so. A window that ends after `now` is refused (`FutureWindowError`): it
  would be judged on data that does not exist yet.
- A firing alert is announced once, then again only every `repeat_interval`, measured in *window*
  time (`window_end`), so a backfill of 30 windows behaves as 30 scheduled runs would have.
- Muting decides who is notified, never the verdict: a firing critical alert inhibits the warning
  alert of the same rule name; a firing alert on `window.no_data` inhibits the model's alerts on
  drift and performance figures; silences (`store.add_silence`) mute matching alerts until they
  expire (wall-clock time: silences are human decisions). A muted alert keeps its state but is not
  announced; once unmuted and still firing it is.
- All the model's announcements of a run form one message per channel (grouping), filtered by each
  channel's minimum severity; delivery goes through the outbox (`delivery.py`).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from watchkeeper.alerting import store as db
from watchkeeper.alerting.channels import Channel, SecretResolver, build_channels
from watchkeeper.alerting.config import AlertsConfig, RuleConfig
from watchkeeper.alerting.delivery import NotificationRecord, deliver, flush_outbox
from watchkeeper.alerting.judge import (
    CHECK_FAILED,
    FINDING_SECTION,
    finding_rule,
    is_finding_rule,
    judged_marker,
    parse_finding_figure,
    resolved_summary,
    rule_summary,
    rule_variables,
)
from watchkeeper.alerting.messages import AlertEvent, AlertMessage
from watchkeeper.alerting.report import AlertsReport, AlertState, AlertStatus, Outcome
from watchkeeper.alerting.templates import render_template
from watchkeeper.state import StateStore
from watchkeeper.timegrid import FutureWindowError
from watchkeeper.timeutil import parse_utc
from watchkeeper.verdict import Severity

# Sections whose alerts a firing "no data" alert mutes: without rows, their figures mean nothing.
NO_DATA_FIELD = "window.no_data"
NO_DATA_MUTES = frozenset({"drift", "perf"})
MAX_DETAILS = 200


@dataclass(frozen=True)
class AlertContext:
    """Facts about the window for the notification's reader (all optional)."""

    model_version: str | None = None
    window_start: datetime | None = None
    mlflow_run_url: str | None = None
    prefect_flow_run_url: str | None = None
    verdict: str | None = None  # the window's verdict label (OK / Warning / Critical)
    hindsight: bool = False  # judged with every label known today, not as of its evaluation


def fingerprint(model: str, labels: Mapping[str, str]) -> str:
    """Stable identity of an alert: model + labels (which include the rule name and severity)."""
    text = json.dumps({"model": model, "labels": dict(sorted(labels.items()))}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def alert_labels(model: str, rule: RuleConfig) -> dict[str, str]:
    return {**rule.labels, "alertname": rule.name, "severity": rule.severity, "model": model}


def _empty() -> dict[str, Any]:
    return {
        "status": "inactive",
        "count": 0,
        "fired_at": None,
        "notified": None,  # "firing" once a firing was announced in this episode
        "notified_at": None,  # window_end of that announcement
    }


def _transition(
    memory: Mapping[str, Any], outcome: bool | None, rule: RuleConfig, window_end: datetime
) -> tuple[dict[str, Any], bool]:
    """Next memory and whether the alert resolved in this window (was firing, condition false)."""
    mem = dict(memory)
    if outcome is None:
        return mem, False
    if outcome:
        mem["count"] = int(mem["count"]) + 1
        if mem["count"] >= rule.for_:
            if mem["status"] != "firing":
                mem["fired_at"] = window_end.isoformat()
            mem["status"] = "firing"
        else:
            mem["status"] = "pending"
        return mem, False
    resolved = mem["status"] == "firing"
    notified = mem.get("notified")
    fresh = _empty()
    # Keep whether the firing was announced until the caller decides on the resolved message.
    fresh["notified"] = notified if resolved else None
    return fresh, resolved


def _drift_details(figures: Mapping[str, float]) -> tuple[str, ...]:
    """The drifted feature columns, most impact first (`drift.impact.<column>.rank`), then the
    unranked ones worst score first: what a drift alert's reader wants to see next.

    Feature columns only, as `drift.share` and `drift.n_drifted` count them (prediction and target
    drift are rules of their own), so the count in the heading is the count of the list.
    """
    drifted = [
        name[len("drift.") : -len(".drifted")]
        for name, value in figures.items()
        if name.startswith("drift.")
        and name.endswith(".drifted")
        and value == 1
        and not name.startswith(("drift.prediction.", "drift.target."))
    ]

    def score(col: str) -> float:
        value = figures.get(f"drift.{col}.score")
        return float("-inf") if value is None or value != value else -abs(float(value))

    def rank(col: str) -> float:
        value = figures.get(f"drift.impact.{col}.rank")
        return float("inf") if value is None or value != value else float(value)

    def shown_as(col: str) -> str:
        facts = [f"{figures[f'drift.{col}.score']:.3g}"] if f"drift.{col}.score" in figures else []
        if f"drift.impact.{col}.rank" in figures:
            facts.append(f"impact rank {rank(col):.0f}")
        return f"{col} ({', '.join(facts)})" if facts else col

    drifted.sort(key=lambda c: (rank(c), score(c), c))
    shown = [shown_as(c) for c in drifted[:MAX_DETAILS]]
    if len(drifted) > MAX_DETAILS:
        shown.append(f"… and {len(drifted) - MAX_DETAILS} more")
    return (f"Drifted feature columns ({len(drifted)}):", *shown) if drifted else ()


@dataclass
class _Eval:
    rule: RuleConfig
    labels: dict[str, str]
    fp: str
    outcome: bool | None
    base: dict[str, Any]
    new: dict[str, Any]
    resolved: bool
    stored_status: str | None  # status already stored for this very window (a re-run), else None
    # A re-run of a window whose first run announced "firing" but that no longer fires: the receivers
    # were told, so they are told it resolved.
    retracted: bool = False
    inputs: str = ""
    muted_by: str | None = None

    @property
    def frozen(self) -> bool:
        """Unknown in this window: the memory is carried through, nothing is decided."""
        return self.outcome is None


def _inputs(rule: RuleConfig, figures: Mapping[str, float]) -> str:
    """A hash of the figures the rule is judged on (missing ones included as such)."""
    values = {name: figures.get(name) for name in rule.parsed.fields}
    text = json.dumps(values, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _rules_for_window(
    config: AlertsConfig,
    figures: Mapping[str, float],
    findings: Mapping[str, str],
    before: Mapping[str, db.AlertStateRow],
) -> tuple[list[RuleConfig], dict[str, float]]:
    """The rules to evaluate, and the figures with the checks' findings that no longer hold set to 0.

    A finding-rule that held before this window but is absent now resolves when its check ran
    (its section has figures, or — for `check_failed` — the check did not fail again); when its
    check did not run, it stays unknown.
    """
    rules = list(config.effective_rules())
    figures = dict(figures)
    present = {name.split(".", 1)[0] for name in figures}
    for name, value in list(figures.items()):
        parsed = parse_finding_figure(name)
        if parsed is not None and value == 1:
            section, rule, severity = parsed
            rules.append(finding_rule(section, rule, severity, findings.get(name)))
    wanted = {r.condition for r in rules}
    for row in before.values():
        if row.condition in wanted or not row.condition.startswith(f"`{FINDING_SECTION}."):
            continue
        figure = row.condition.split("`")[1]
        section, rule = row.labels.get("check", ""), row.rule
        # A section that says which rules it judged has published 0 for those; one that does not
        # judged them all when it ran.
        if rule == CHECK_FAILED or (section in present and judged_marker(section) not in figures):
            figures.setdefault(figure, 0.0)
        rules.append(finding_rule(section, rule, row.severity))
        wanted.add(row.condition)
    return rules, figures


def evaluate_alerts(
    figures: Mapping[str, float],
    *,
    model: str,
    window_end: datetime,
    config: AlertsConfig,
    store: StateStore,
    findings: Mapping[str, str] | None = None,
    context: AlertContext | None = None,
    channels: Sequence[Channel] | None = None,
    secret_resolver: SecretResolver | None = None,
    env: Mapping[str, str] | None = None,
    now: datetime | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> AlertsReport:
    """Evaluate the model's rules on one window's figures, update alert state and notify.

    `figures` are the window report's full dotted names (`drift.share`, `perf.estimated.roc_auc`,
    and `finding.…` for the checks' findings that stand as rules, whose sentences `findings` holds
    by figure name: `MonitoringReport.judgement`). `channels` defaults to those of
    `config.channels` (console when none is configured); secrets come from `env` (default
    `os.environ`) or `secret_resolver` (Prefect Secret blocks). The outbox is flushed first, so
    notifications that failed in earlier runs go out before new ones. `now` (wall clock; default:
    the current time) is used for silences, outbox claims and refusing windows in the future.
    """
    if window_end.tzinfo is None:
        raise ValueError("window_end must be timezone-aware (UTC)")
    context = context or AlertContext()
    now = now or db.utcnow()
    if window_end > now:
        raise FutureWindowError(
            f"window ending {window_end.isoformat()} is in the future (now {now.isoformat()}): "
            "its alert state is not touched"
        )
    if not config.enabled:
        return AlertsReport(model=model, window_end=window_end, enabled=False)
    if channels is None:
        channels = build_channels(
            config.channels, delivery=config.delivery, secret_resolver=secret_resolver, env=env, sleep=sleep
        )

    records: list[NotificationRecord] = flush_outbox(
        store, channels, model=model, delivery=config.delivery, now=now
    )

    before, at = db.load_states_as_of(store, model, window_end)
    rules, figures = _rules_for_window(config, figures, findings or {}, before)
    evals: list[_Eval] = []
    for rule in rules:
        labels = alert_labels(model, rule)
        fp = fingerprint(model, labels)
        outcome = rule.parsed.evaluate(figures)
        previous, here = before.get(fp), at.get(fp)
        inputs = _inputs(rule, figures)
        if here is not None and here.inputs == inputs:
            # A re-run on the same figures: the same start, whatever happened to earlier windows
            # since (a late-label re-evaluation), so it reproduces its report.
            base = dict(here.previous)
        else:
            base = dict(previous.state) if previous is not None else _empty()
        stored_status = None if here is None else str(here.state["status"])
        announced_here = (
            here is not None
            and here.state.get("notified") == "firing"
            and here.state.get("notified_at") == window_end.isoformat()
        )
        if outcome is None:
            new, resolved, retracted = dict(base), False, False
        else:
            new, resolved = _transition(base, outcome, rule, window_end)
            retracted = announced_here and new["status"] != "firing"
        evals.append(
            _Eval(
                rule, labels, fp, outcome, base, new, resolved or retracted, stored_status, retracted, inputs
            )
        )

    _apply_muting(evals, db.list_silences(store, model, now=now), model, now)

    events: list[AlertEvent] = []
    statuses: list[AlertStatus] = []
    states_out: list[db.AlertStateRow] = []
    audits: list[dict[str, Any]] = []
    for ev in evals:
        event = None if ev.frozen else _decide(ev, figures, model, window_end, config, context)
        if event is not None:
            events.append(event)
        statuses.append(_status(ev, event, figures, model, window_end, context))
        # Unknown alerts are written too: their row records what this window started from, so a
        # re-run reproduces it.
        states_out.append(
            db.AlertStateRow(
                fingerprint=ev.fp,
                model=model,
                rule=ev.rule.name,
                severity=ev.rule.severity,
                labels=ev.labels,
                condition=ev.rule.condition,
                state=ev.new,
                window_end=window_end,
                previous=ev.base,
                inputs=ev.inputs,
            )
        )
        if not ev.frozen:
            audit = _audit_row(ev, statuses[-1], model, window_end, context, now)
            if audit is not None:
                audits.append(audit)
    # One transaction for every rule's state and the audit entries: a model with hundreds of rules
    # costs one commit, and state and trail never disagree.
    db.save_states(store, states_out, audits)

    window_firing = sum(1 for s in statuses if s.state == "firing")
    for channel in channels:
        chosen = tuple(e for e in events if _wants(channel, e))
        if not chosen:
            continue
        message = AlertMessage(
            model=model,
            window_end=window_end,
            events=chosen,
            model_version=context.model_version,
            window_start=context.window_start,
            mlflow_run_url=context.mlflow_run_url,
            prefect_flow_run_url=context.prefect_flow_run_url,
            verdict=context.verdict,
            window_firing=window_firing,
            hindsight=context.hindsight,
        )
        parts = [message] if channel.grouped else [message.with_events((e,)) for e in chosen]
        for part in parts:
            record = deliver(store, channel, part, delivery=config.delivery, now=now)
            if record is not None:
                records.append(record)

    return AlertsReport(
        model=model,
        window_end=window_end,
        enabled=True,
        alerts=tuple(statuses),
        notifications=tuple(records),
        outbox_pending=db.outbox_size(store, model),
    )


def _wants(channel: Channel, event: AlertEvent) -> bool:
    if event.severity_level < channel.min_severity:
        return False
    return event.status == "firing" or channel.send_resolved


def _apply_muting(evals: list[_Eval], silences: list[db.Silence], model: str, now: datetime) -> None:
    firing = [e for e in evals if e.new["status"] == "firing" and e.outcome is True]
    critical_names = {e.rule.name for e in firing if e.rule.severity_level is Severity.CRITICAL}
    no_data = [e for e in firing if NO_DATA_FIELD in e.rule.parsed.fields]
    active = [s for s in silences if s.active(now)]
    for ev in evals:
        silence = next((s for s in active if s.matches(model, ev.labels)), None)
        if silence is not None:
            ev.muted_by = f"silence:{silence.id}"
            continue
        if ev.new["status"] != "firing" or ev.outcome is not True:
            continue
        if ev.rule.severity_level is Severity.WARNING and ev.rule.name in critical_names:
            ev.muted_by = f"inhibited:{ev.rule.name}/critical"
        elif no_data and NO_DATA_FIELD not in ev.rule.parsed.fields and _muted_by_no_data(ev.rule):
            src = no_data[0].rule
            ev.muted_by = f"inhibited:{src.name}/{src.severity}"


def _muted_by_no_data(rule: RuleConfig) -> bool:
    if is_finding_rule(rule):
        return rule.labels.get("check") in NO_DATA_MUTES
    return bool(rule.parsed.sections & NO_DATA_MUTES)


def _variables(
    rule: RuleConfig, figures: Mapping[str, float], model: str, window_end: datetime, context: AlertContext
) -> dict[str, Any]:
    return rule_variables(
        rule,
        figures,
        model=model,
        window_end=window_end,
        window_start=context.window_start,
        version=context.model_version,
    )


def _decide(
    ev: _Eval,
    figures: Mapping[str, float],
    model: str,
    window_end: datetime,
    config: AlertsConfig,
    context: AlertContext,
) -> AlertEvent | None:
    """The event to announce for this alert in this window, updating `ev.new`'s announcement memory."""
    rule, new = ev.rule, ev.new
    status: str | None = None
    repeat = False
    if new["status"] == "firing" and ev.outcome is True and ev.muted_by is None:
        last = parse_utc(new.get("notified_at"))
        if new.get("notified") != "firing" or last is None:
            status = "firing"
        elif window_end - last >= config.repeat_interval_for(rule):
            status, repeat = "firing", True
        if status is not None:
            new["notified"], new["notified_at"] = "firing", window_end.isoformat()
    elif ev.resolved:
        announced = new.get("notified") == "firing" or ev.retracted
        new["notified"] = None
        if announced and rule.send_resolved and ev.muted_by is None:
            status = "resolved"
    if status is None:
        return None
    variables = _variables(rule, figures, model, window_end, context)
    if status == "firing":
        summary = rule_summary(rule, figures, variables)
    else:
        summary = resolved_summary(rule, figures, variables)
    description = rule.annotations.description
    details = _drift_details(figures) if "drift" in rule.parsed.sections and status == "firing" else ()
    return AlertEvent(
        fingerprint=ev.fp,
        rule=rule.name,
        status=status,  # type: ignore[arg-type]
        severity=rule.severity,
        labels=dict(ev.labels),
        summary=summary,
        description=None
        if description is None or status == "resolved"
        else render_template(description, variables, figures),
        runbook_url=rule.annotations.runbook_url,
        condition=rule.condition,
        metric=str(variables["metric"]),
        value=variables["value"],
        op=str(variables["op"]),
        threshold=variables["threshold"],
        window_end=window_end,
        fired_at=parse_utc(ev.base.get("fired_at")) or parse_utc(new.get("fired_at")),
        repeat=repeat,
        details=details,
    )


def _status(
    ev: _Eval,
    event: AlertEvent | None,
    figures: Mapping[str, float],
    model: str,
    window_end: datetime,
    context: AlertContext,
) -> AlertStatus:
    state: AlertState = "unknown" if ev.outcome is None else "resolved" if ev.resolved else ev.new["status"]
    outcome: Outcome = "unknown" if ev.outcome is None else ("true" if ev.outcome else "false")
    variables = _variables(ev.rule, figures, model, window_end, context)
    summary = (
        resolved_summary(ev.rule, figures, variables)
        if state == "resolved"
        else rule_summary(ev.rule, figures, variables)
    )
    return AlertStatus(
        fingerprint=ev.fp,
        rule=ev.rule.name,
        severity=ev.rule.severity,
        state=state,
        outcome=outcome,
        labels=dict(ev.labels),
        condition=ev.rule.condition,
        metric=str(variables["metric"]),
        value=variables["value"],
        op=str(variables["op"]),
        threshold=variables["threshold"],
        summary=summary,
        consecutive=int(ev.new["count"]),
        fired_at=parse_utc(ev.new.get("fired_at")) or parse_utc(ev.base.get("fired_at")),
        muted_by=ev.muted_by,
        notified=None if event is None else event.status,
    )


def _audit_row(
    ev: _Eval,
    status: AlertStatus,
    model: str,
    window_end: datetime,
    context: AlertContext,
    now: datetime,
) -> dict[str, Any] | None:
    """The audit-trail entry of a fired / resolved / silenced transition (once per window), if any."""
    event: str | None = None
    if status.state == "firing" and ev.base["status"] != "firing":
        # Fired while a silence holds it: recorded as such, so the trail shows who muted what.
        silenced = (status.muted_by or "").startswith("silence:")
        event = "alert.silenced" if silenced else "alert.fired"
    elif status.state == "resolved":
        event = "alert.resolved"
    if event is None:
        return None
    # A re-run of the same window that reaches the same state has already been recorded.
    if ev.stored_status is not None and ev.stored_status == ev.new["status"]:
        return None
    return {
        "at": now,
        "model": model,
        "event": event,
        "decision": status.state,
        "reasons": [f"[{ev.rule.severity}] {ev.rule.name}: {status.summary}"],
        "evidence": {
            "fingerprint": ev.fp,
            "rule": ev.rule.name,
            "severity": ev.rule.severity,
            "labels": ev.labels,
            "metric": status.metric,
            "value": status.value,
            "threshold": status.threshold,
            "muted_by": status.muted_by,
        },
        "window_start": context.window_start,
        "window_end": window_end,
    }
