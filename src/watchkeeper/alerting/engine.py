"""The alert engine: Alertmanager's semantics over monitoring windows, state in window time.

For each rule, one window at a time, the lifecycle of `lifecycle.py` (drawn in docs/alerts.md):

- The window judges the rule: it *holds*, is *clear*, *awaits* the window's labels (a label figure
  is missing and the window is inside its label lag: nothing is decided), or is *unjudged* (any other
  missing figure, a rule removed from the config, labels that never came). Holding `for` windows in a
  row fires it; clear resolves it; `resolve_after` unjudged windows in a row resolve it as "no longer
  evaluated". Only alerts whose condition holds are firing in a window, so every firing alert is one
  of the window's reasons (`judge.py`).
- The rules are the model's configured and built-in rules, plus one per check finding that stands
  as its own rule (`judge.finding_rules`): such an alert is clear once its check (or sub-section:
  `drift.multivariate`) runs without it.
- Identity is a fingerprint of model, rule name and labels (severity included).
- Every transition (fired, resolved with its reason) is stored in the window's row, audited once
  and announced once per channel (the delivery ledger's keys carry the window end).
- State follows window time: evaluating a window reads each alert's memory after the window before
  it (`store.load_states_as_of`) and writes its own row, keyed by the window's end. A re-evaluation
  on new figures (late labels) starts from the memory before the window as known now, and what it
  decides is carried forward into the later windows that did not judge the alert (`_carry_forward`),
  so the next window starts from it. A re-run on the same figures starts from the memory that window
  started from the first time (kept in its row) and reproduces its report. A re-run that no longer
  fires what the first run announced resolves it (retracted). A window that ends after `now` is
  refused (`FutureWindowError`): it would be judged on data that does not exist yet.
- A firing alert is announced when it fires, again every `repeat_interval` measured in *window* time
  (`window_end`, so a backfill of 30 windows behaves as 30 scheduled runs would have), and again when
  it got `escalate_by` times worse.
- Muting decides who is notified, never the verdict: a firing critical alert inhibits the warning
  alert of the same rule name; a firing alert on `window.no_data` inhibits the model's alerts on
  drift and performance figures; silences (`store.add_silence`) mute matching alerts until they
  expire (wall-clock time: silences are human decisions). A muted alert keeps its state but is not
  announced; once unmuted and still firing it is.
- An announced alert carries what its reader acts on: since when it fires and for how many windows,
  the numbers behind it (`alerting.evidence`), its runbook (absolute with `alerts.links`) and the
  dashboard, MLflow and Prefect links. A rule's warning line is not counted beside its critical one.
- All the model's announcements of a run form one message per channel (grouping), filtered by each
  channel's minimum severity; delivery goes through the outbox (`delivery.py`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

from watchkeeper.alerting import store as db
from watchkeeper.alerting.channels import Channel, SecretResolver, build_channels
from watchkeeper.alerting.config import AlertsConfig, RuleConfig
from watchkeeper.alerting.delivery import NotificationRecord, deliver, flush_outbox
from watchkeeper.alerting.evidence import drift_details, is_feature_drift_rule, rule_evidence
from watchkeeper.alerting.fields import needs_labels
from watchkeeper.alerting.judge import (
    CHECK_FAILED,
    FINDING_SECTION,
    evidence_for,
    finding_rule,
    is_finding_rule,
    judged_marker,
    parse_finding_figure,
    resolved_summary,
    rule_summary,
    rule_variables,
)
from watchkeeper.alerting.lifecycle import (
    NOT_EVALUATED,
    RETRACTED,
    AlertMemory,
    Judgement,
    Transition,
    awaits_in_vain,
    escalates,
    excess,
    judgement,
    step,
)
from watchkeeper.alerting.messages import AlertEvent, AlertMessage
from watchkeeper.alerting.report import AlertsReport, AlertState, AlertStatus, Outcome, count_firing
from watchkeeper.alerting.rules import RESERVED_LABELS
from watchkeeper.alerting.templates import render_template
from watchkeeper.state import StateStore
from watchkeeper.timegrid import FutureWindowError
from watchkeeper.verdict import Severity

# Sections whose alerts a firing "no data" alert mutes: without rows, their figures mean nothing.
NO_DATA_FIELD = "window.no_data"
NO_DATA_MUTES = frozenset({"drift", "perf"})


@dataclass(frozen=True)
class AlertContext:
    """Facts about the window for the notification's reader (all optional)."""

    model_version: str | None = None
    window_start: datetime | None = None
    mlflow_run_url: str | None = None
    prefect_flow_run_url: str | None = None
    verdict: str | None = None  # the window's verdict label (OK / Warning / Critical)
    hindsight: bool = False  # judged with every label known today, not as of its evaluation
    timezone: str = "UTC"  # the model's calendar: the window's name is written in it
    dashboard_url: str | None = None  # the model's dashboard file (`alerts.links.dashboard_url` first)


def fingerprint(model: str, labels: Mapping[str, str]) -> str:
    """Stable identity of an alert: model + labels (which include the rule name and severity)."""
    text = json.dumps({"model": model, "labels": dict(sorted(labels.items()))}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def alert_labels(model: str, rule: RuleConfig) -> dict[str, str]:
    return {**rule.labels, "alertname": rule.name, "severity": rule.severity, "model": model}


@dataclass
class _Eval:
    """One alert in one window: how the window judged it and what the lifecycle made of that."""

    rule: RuleConfig
    labels: dict[str, str]
    fp: str
    outcome: bool | None
    judged: Judgement
    missing: tuple[str, ...]
    base: AlertMemory  # the memory it started the window with
    memory: AlertMemory  # the memory it ends the window with
    transition: Transition | None
    reason: str | None
    inputs: str
    # A re-run of this window: what its earlier run recorded (already stored and audited once), and
    # whether that run announced a firing here (the receivers were told).
    done: str | None = None
    announced_here: bool = False
    # A re-run on the same figures of a window whose row a re-evaluation of an earlier window has
    # carried forward since: its report is reproduced from the memory it started from, and its row —
    # which holds what is known now — is left as it is (nothing is stored, audited or sent again).
    replayed: dict[str, Any] | None = None
    muted_by: str | None = None

    @property
    def decided(self) -> bool:
        """Judged (or unjudged) in this window; False while it awaits the window's labels."""
        return self.judged != "awaiting"

    def row_state(self) -> dict[str, Any]:
        if self.replayed is not None:
            return self.replayed
        return _row_state(self.memory, self.judged, self.transition, self.reason)


# Marks a row whose memory a re-evaluation of an earlier window carried forward (`_carry_forward`).
CARRIED = "carried"


def _row_state(
    memory: AlertMemory, judged: Judgement, transition: Transition | None, reason: str | None
) -> dict[str, Any]:
    """What an alert's row stores for a window: its memory after it, and what the window did."""
    return {**memory.to_dict(), "judged": judged, "transition": transition, "reason": reason}


def _inputs(rule: RuleConfig, figures: Mapping[str, float], judged: Judgement) -> str:
    """A hash of what the rule is judged on: its figures (missing ones included as such), and for an
    unknown outcome whether the window still awaited its labels."""
    values: dict[str, Any] = {name: figures.get(name) for name in rule.parsed.fields}
    if judged in ("awaiting", "unjudged"):
        values["__judged__"] = judged
    text = json.dumps(values, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _sections_that_ran(figures: Mapping[str, float]) -> set[str]:
    """Every section (and dotted sub-section: `drift.multivariate`) that published a figure."""
    ran: set[str] = set()
    for name in figures:
        if name.startswith(f"{FINDING_SECTION}."):
            continue
        parts = name.split(".")
        ran.update(".".join(parts[:i]) for i in range(1, len(parts)))
    return ran


def _rules_for_window(
    config: AlertsConfig,
    figures: Mapping[str, float],
    findings: Mapping[str, str],
    before: Mapping[str, db.AlertStateRow],
) -> tuple[list[RuleConfig], dict[str, float], set[str]]:
    """The rules to evaluate; the figures with the checks' findings that no longer hold set to 0; and
    the alerts whose rule is gone from the config (never judged again, so they resolve).

    A finding-rule that held before this window but is absent now is clear when its check ran (its
    section published figures, or — for `check_failed` — the check did not fail again); when its
    check did not run, it is not judged.
    """
    rules = list(config.effective_rules())
    figures = dict(figures)
    ran = _sections_that_ran(figures)
    for name, value in list(figures.items()):
        parsed = parse_finding_figure(name)
        if parsed is not None and value == 1:
            section, rule, severity = parsed
            rules.append(finding_rule(section, rule, severity, findings.get(name)))
    wanted: set[tuple[str, str, str]] = {(r.name, r.severity, r.condition) for r in rules}
    removed: set[str] = set()
    for row in before.values():
        if (row.rule, row.severity, row.condition) in wanted:
            continue
        if row.condition.startswith(f"`{FINDING_SECTION}."):
            figure = row.condition.split("`")[1]
            section, rule = row.labels.get("check", ""), row.rule
            # A section that says which rules it judged has published 0 for those; one that does not
            # judged them all when it ran.
            if rule == CHECK_FAILED or (section in ran and judged_marker(section) not in figures):
                figures.setdefault(figure, 0.0)
            rules.append(finding_rule(section, rule, row.severity))
        elif row.state.get("status") in ("pending", "firing"):
            # A configured rule taken out of the config while its alert was live: it is never judged
            # again, so it resolves as no longer evaluated instead of firing for ever.
            own = {k: v for k, v in row.labels.items() if k not in RESERVED_LABELS}
            rules.append(
                RuleConfig.model_validate(
                    {"name": row.rule, "condition": row.condition, "severity": row.severity, "labels": own}
                )
            )
            removed.add(row.fingerprint)
        else:
            continue
        wanted.add((row.rule, row.severity, row.condition))
    return rules, figures, removed


def _judge(
    rule: RuleConfig,
    figures: Mapping[str, float],
    model: str,
    window_end: datetime,
    config: AlertsConfig,
    before: Mapping[str, db.AlertStateRow],
    at: Mapping[str, db.AlertStateRow],
    *,
    removed: set[str],
    labels_complete_until: datetime | None,
) -> _Eval:
    """Step one alert's lifecycle through this window (a re-run reconciled with its earlier run)."""
    labels = alert_labels(model, rule)
    fp = fingerprint(model, labels)
    outcome = None if fp in removed else rule.parsed.evaluate(figures)
    missing = tuple(f for f in rule.parsed.fields if figures.get(f) is None or figures[f] != figures[f])
    awaiting = (
        labels_complete_until is not None
        and window_end > labels_complete_until
        and fp not in removed
        and any(needs_labels(f) for f in missing)
    )
    judged = judgement(outcome, awaiting=awaiting)
    previous, here = before.get(fp), at.get(fp)
    inputs = _inputs(rule, figures, judged)
    if here is not None and here.inputs == inputs:
        # A re-run on the same figures: the same start, whatever happened to earlier windows since
        # (a late-label re-evaluation), so it reproduces its report.
        base = AlertMemory.from_dict(dict(here.previous))
    else:
        base = AlertMemory.from_dict(dict(previous.state)) if previous is not None else AlertMemory()
    if judged == "awaiting" and awaits_in_vain(base, labels_complete_until):
        judged = "unjudged"
    result = step(
        base, judged, for_=rule.for_, resolve_after=config.resolve_after_for(rule), window_end=window_end
    )
    memory, transition, reason = result.memory, result.transition, result.reason
    evaluated = functools.partial(_Eval, rule, labels, fp, outcome, judged, missing, base)
    if here is not None and here.inputs == inputs and here.state.get(CARRIED):
        return evaluated(memory, transition, reason, inputs, done=transition, replayed=dict(here.state))
    done = None if here is None else here.state.get("transition")
    announced_here = (
        here is not None
        and here.state.get("notified") == "firing"
        and here.state.get("notified_at") == window_end.isoformat()
    )
    if announced_here and memory.status != "firing" and transition is None:
        # Re-evaluated on new figures, the window no longer fires what its first run announced.
        transition, reason = "resolved", RETRACTED
    elif done == "resolved" and memory.status == "firing" and transition is None:
        # Its first run resolved it here, its re-evaluation does not: the episode goes on, so it
        # fires again (and is announced again: the receivers were told it was over).
        transition, reason, memory = "fired", None, replace(memory, fired_at=window_end, notified=False)
    return evaluated(memory, transition, reason, inputs, done=done, announced_here=announced_here)


def evaluate_alerts(
    figures: Mapping[str, float],
    *,
    model: str,
    window_end: datetime,
    config: AlertsConfig,
    store: StateStore,
    findings: Mapping[str, str] | None = None,
    evidence: Mapping[str, Sequence[str]] | None = None,
    context: AlertContext | None = None,
    channels: Sequence[Channel] | None = None,
    secret_resolver: SecretResolver | None = None,
    env: Mapping[str, str] | None = None,
    now: datetime | None = None,
    sleep: Callable[[float], None] = time.sleep,
    labels_complete_until: datetime | None = None,
) -> AlertsReport:
    """Evaluate the model's rules on one window's figures, update alert state and notify.

    `figures` are the window report's full dotted names (`drift.share`, `perf.estimated.roc_auc`,
    and `finding.…` for the checks' findings that stand as rules, whose sentences `findings` holds
    by figure name: `MonitoringReport.judgement`). `evidence` holds the sections' own sentences about
    the rules that judge them (`Judgement.rule_evidence`): an alert carries them as the numbers
    behind it, with those read from the figures (`alerting.evidence`).
    `labels_complete_until` is the latest window end whose labels are all in at this evaluation (its `as_of` less the label lag; None: every window's
    are): a later window awaits its labels, so a rule lacking label figures there is not unjudged. `channels` defaults to those of `config.channels` (console when none is
    configured); secrets come from `env` (default `os.environ`) or `secret_resolver` (Prefect
    Secret blocks). The outbox is flushed first, so notifications that failed in earlier runs go
    out before new ones. `now` (wall clock; default: the current time) is used for silences, outbox
    claims and refusing windows in the future.
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
    rules, figures, removed = _rules_for_window(config, figures, findings or {}, before)
    evals = [
        _judge(
            rule,
            figures,
            model,
            window_end,
            config,
            before,
            at,
            removed=removed,
            labels_complete_until=labels_complete_until,
        )
        for rule in rules
    ]

    _apply_muting(evals, db.list_silences(store, model, now=now), model, now)

    events: list[AlertEvent] = []
    statuses: list[AlertStatus] = []
    states_out: list[db.AlertStateRow] = []
    audits: list[dict[str, Any]] = []
    for ev in evals:
        event = (
            None
            if ev.replayed is not None
            else _decide(ev, figures, model, window_end, config, context, evidence or {})
        )
        if event is not None:
            events.append(event)
        statuses.append(_status(ev, event, figures, model, window_end, context))
        # Awaiting alerts are written too: their row records what this window started from, so a
        # re-run reproduces it, and a later re-evaluation of an earlier window carries into it.
        states_out.append(
            db.AlertStateRow(
                fingerprint=ev.fp,
                model=model,
                rule=ev.rule.name,
                severity=ev.rule.severity,
                labels=ev.labels,
                condition=ev.rule.condition,
                state=ev.row_state(),
                window_end=window_end,
                previous=ev.base.to_dict(),
                inputs=ev.inputs,
            )
        )
        if ev.transition is not None and ev.transition != ev.done:
            audits.append(
                _audit_row(ev.rule, ev.fp, ev.labels, statuses[-1], ev.transition, window_end, context, now)
            )
    carried_rows, carried_events, carried_audits = _carry_forward(
        store, model, evals, config, window_end, now
    )
    # One transaction for every rule's state and the audit entries: a model with hundreds of rules
    # costs one commit, and state and trail never disagree.
    db.save_states(store, [*states_out, *carried_rows], [*audits, *carried_audits])
    events.extend(carried_events)

    window_firing = count_firing(statuses)
    # A configured dashboard (reachable by every reader) before the file the flow writes.
    dashboard_url = config.links.dashboard(model) or context.dashboard_url
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
            timezone=context.timezone,
            dashboard_url=dashboard_url,
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
        window_start=context.window_start,
        timezone=context.timezone,
    )


def _carry_forward(
    store: StateStore,
    model: str,
    evals: Sequence[_Eval],
    config: AlertsConfig,
    window_end: datetime,
    now: datetime,
) -> tuple[list[db.AlertStateRow], list[AlertEvent], list[dict[str, Any]]]:
    """Carry what this window decided into the later windows that did not judge the alert.

    A window re-evaluated with its late labels changes an alert's memory after it; the later windows
    already evaluated that awaited their labels (or did not judge the rule) started from the old
    memory. Their rows are rewritten from the new one, window by window, until a window that judged
    the alert (its own re-evaluation will start from here) or one whose row does not change. An
    alert that this makes resolve as no longer evaluated in a later window is resolved there:
    stored, audited and announced once, like any transition.
    """
    decided = {ev.fp: ev for ev in evals if ev.decided and ev.replayed is None}
    later = db.load_later_states(store, model, list(decided), window_end)
    rows: list[db.AlertStateRow] = []
    events: list[AlertEvent] = []
    audits: list[dict[str, Any]] = []
    for fp, chain in later.items():
        ev = decided[fp]
        memory = ev.memory
        for row in chain:
            judged = row.state.get("judged")
            if judged not in ("awaiting", "unjudged"):
                break
            result = step(
                memory,
                judged,
                for_=ev.rule.for_,
                resolve_after=config.resolve_after_for(ev.rule),
                window_end=row.window_end,
            )
            state = _row_state(result.memory, judged, result.transition, result.reason)
            stored = {k: v for k, v in row.state.items() if k != CARRIED}
            if state == stored:
                break
            # The window's own start (`previous`) stays: a re-run of it on the same figures reproduces
            # its report (`_Eval.replayed`), while its memory after it is what is known now.
            rows.append(replace(row, state={**state, CARRIED: True}))
            if result.transition == "resolved" and row.state.get("transition") != "resolved":
                status = _carried_status(ev, row.window_end, result.reason)
                audits.append(
                    _audit_row(
                        ev.rule, fp, ev.labels, status, "resolved", row.window_end, AlertContext(), now
                    )
                )
                if memory.notified and ev.rule.send_resolved:
                    events.append(_resolved_event(ev, status, row.window_end, config))
            memory = result.memory
    return rows, events, audits


def _wants(channel: Channel, event: AlertEvent) -> bool:
    if event.severity_level < channel.min_severity:
        return False
    return event.status == "firing" or channel.send_resolved


def _apply_muting(evals: list[_Eval], silences: list[db.Silence], model: str, now: datetime) -> None:
    firing = [e for e in evals if e.memory.status == "firing" and e.judged == "holds"]
    critical_names = {e.rule.name for e in firing if e.rule.severity_level is Severity.CRITICAL}
    no_data = [e for e in firing if NO_DATA_FIELD in e.rule.parsed.fields]
    active = [s for s in silences if s.active(now)]
    for ev in evals:
        silence = next((s for s in active if s.matches(model, ev.labels)), None)
        if silence is not None:
            ev.muted_by = f"silence:{silence.id}"
            continue
        if ev.memory.status != "firing" or ev.judged != "holds":
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


def _not_evaluated_summary(rule: RuleConfig, missing: Sequence[str]) -> str:
    lacking = f" (no {', '.join(missing)})" if missing else ""
    return f"{rule.name} is no longer evaluated{lacking}: resolved"


def _resolved_sentence(
    ev: _Eval, figures: Mapping[str, float], variables: Mapping[str, Any], reason: str | None
) -> str:
    if reason == NOT_EVALUATED:
        return _not_evaluated_summary(ev.rule, ev.missing)
    sentence = resolved_summary(ev.rule, figures, variables)
    return f"{sentence} ({RETRACTED})" if reason == RETRACTED else sentence


def _decide(
    ev: _Eval,
    figures: Mapping[str, float],
    model: str,
    window_end: datetime,
    config: AlertsConfig,
    context: AlertContext,
    evidence: Mapping[str, Sequence[str]],
) -> AlertEvent | None:
    """The event to announce for this alert in this window, updating `ev.memory`'s announcements.

    A firing alert is announced when it starts firing, when `repeat_interval` of window time has
    passed since its last announcement, and when it got `escalate_by` times worse. A resolution is
    announced when the episode's firing was, silenced or not: whoever was told it fired (a PagerDuty
    incident) is told it is over.
    """
    rule, memory = ev.rule, ev.memory
    variables = _variables(rule, figures, model, window_end, context)
    if memory.status == "firing" and ev.judged == "holds" and ev.muted_by is None:
        distance = excess(str(variables["op"]), variables["value"], variables["threshold"])
        repeat = escalated = False
        if not memory.notified or memory.notified_at is None:
            pass
        elif window_end - memory.notified_at >= config.repeat_interval_for(rule):
            repeat = True
        elif escalates(distance, memory.notified_excess, config.escalate_by_for(rule)):
            escalated = True
        else:
            return None
        ev.memory = memory.announced(window_end, distance)
        return _event(
            ev,
            "firing",
            figures,
            variables,
            window_end,
            config=config,
            evidence=evidence,
            repeat=repeat,
            escalated=escalated,
        )
    if ev.transition == "resolved":
        announced = ev.base.notified or ev.announced_here
        if announced and rule.send_resolved:
            return _event(ev, "resolved", figures, variables, window_end, config=config, evidence=evidence)
    return None


def _event(
    ev: _Eval,
    status: Literal["firing", "resolved"],
    figures: Mapping[str, float],
    variables: Mapping[str, Any],
    window_end: datetime,
    *,
    config: AlertsConfig,
    evidence: Mapping[str, Sequence[str]],
    repeat: bool = False,
    escalated: bool = False,
) -> AlertEvent:
    rule = ev.rule
    firing = status == "firing"
    if firing:
        summary = rule_summary(rule, figures, variables)
    else:
        summary = _resolved_sentence(ev, figures, variables, ev.reason)
    description = rule.annotations.description
    # The drifted feature columns for a rule on them; a target- or prediction-drift alert has its own
    # score as evidence instead.
    details = drift_details(figures) if firing and is_feature_drift_rule(rule) else ()
    behind: tuple[str, ...] = ()
    if firing:
        said = evidence_for(evidence, rule.name, rule.severity)
        behind = (*said, *rule_evidence(rule, figures, section_said=bool(said)))
    return AlertEvent(
        fingerprint=ev.fp,
        rule=rule.name,
        status=status,
        severity=rule.severity,
        labels=dict(ev.labels),
        summary=summary,
        description=None
        if description is None or status == "resolved"
        else render_template(description, variables, figures),
        runbook_url=config.links.runbook(rule.annotations.runbook_url),
        condition=rule.condition,
        metric=str(variables["metric"]),
        value=variables["value"],
        op=str(variables["op"]),
        threshold=variables["threshold"],
        window_end=window_end,
        fired_at=ev.base.fired_at or ev.memory.fired_at,
        repeat=repeat,
        escalated=escalated,
        details=details,
        evidence=behind,
        windows=ev.memory.count if firing else None,
    )


def _resolved_event(ev: _Eval, status: AlertStatus, window_end: datetime, config: AlertsConfig) -> AlertEvent:
    """The resolved event of an alert resolved in a later window by `_carry_forward`."""
    return AlertEvent(
        fingerprint=ev.fp,
        rule=ev.rule.name,
        status="resolved",
        severity=ev.rule.severity,
        labels=dict(ev.labels),
        summary=status.summary,
        condition=ev.rule.condition,
        metric=status.metric,
        value=None,
        op=status.op,
        threshold=None,
        window_end=window_end,
        fired_at=ev.memory.fired_at,
        runbook_url=config.links.runbook(ev.rule.annotations.runbook_url),
    )


def _carried_status(ev: _Eval, window_end: datetime, reason: str | None) -> AlertStatus:
    """The status of an alert in a later window that did not judge it, resolved there."""
    metric, _, op, _ = ev.rule.parsed.primary({})
    return AlertStatus(
        fingerprint=ev.fp,
        rule=ev.rule.name,
        severity=ev.rule.severity,
        state="resolved",
        outcome="unknown",
        labels=dict(ev.labels),
        condition=ev.rule.condition,
        metric=metric,
        value=None,
        op=op,
        threshold=None,
        summary=_not_evaluated_summary(ev.rule, ()),
        consecutive=0,
        fired_at=ev.memory.fired_at,
        reason=reason,
    )


def _status(
    ev: _Eval,
    event: AlertEvent | None,
    figures: Mapping[str, float],
    model: str,
    window_end: datetime,
    context: AlertContext,
) -> AlertStatus:
    # Only alerts whose condition holds in this window are firing in it (every firing alert is one
    # of the window's reasons); one that was not judged here is "unknown" until it resolves.
    state: AlertState
    if ev.transition == "resolved":
        state = "resolved"
    elif ev.outcome is None:
        state = "unknown"
    else:
        state = ev.memory.status
    outcome: Outcome = "unknown" if ev.outcome is None else ("true" if ev.outcome else "false")
    variables = _variables(ev.rule, figures, model, window_end, context)
    if state == "resolved":
        summary = _resolved_sentence(ev, figures, variables, ev.reason)
    else:
        summary = rule_summary(ev.rule, figures, variables)
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
        consecutive=ev.memory.count,
        fired_at=ev.memory.fired_at or ev.base.fired_at,
        muted_by=ev.muted_by,
        notified=None if event is None else ("resolved" if event.status == "resolved" else "firing"),
        reason=ev.reason if state == "resolved" else None,
        awaiting_labels=ev.judged == "awaiting",
    )


def _audit_row(
    rule: RuleConfig,
    fp: str,
    labels: Mapping[str, str],
    status: AlertStatus,
    transition: Transition,
    window_end: datetime,
    context: AlertContext,
    now: datetime,
) -> dict[str, Any]:
    """The audit-trail entry of a transition: fired (silenced, when a silence held it), resolved."""
    if transition == "fired":
        # Fired while a silence holds it: recorded as such, so the trail shows who muted what.
        silenced = (status.muted_by or "").startswith("silence:")
        event = "alert.silenced" if silenced else "alert.fired"
    else:
        event = "alert.resolved"
    return {
        "at": now,
        "model": status.labels.get("model", ""),
        "event": event,
        "decision": status.state,
        "reasons": [f"[{rule.severity}] {rule.name}: {status.summary}"],
        "evidence": {
            "fingerprint": fp,
            "rule": rule.name,
            "severity": rule.severity,
            "labels": dict(labels),
            "metric": status.metric,
            "value": status.value,
            "threshold": status.threshold,
            "muted_by": status.muted_by,
            "reason": status.reason,
            "fired_at": None if status.fired_at is None else status.fired_at.isoformat(),
        },
        "window_start": context.window_start,
        "window_end": window_end,
    }
