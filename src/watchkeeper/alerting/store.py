"""Alerting tables in the state database: alert state, silences, the delivery ledger and the outbox.

Declared on `watchkeeper.state.metadata`, so `open_state()` creates them. Scheduled runs are
stateless; everything the engine remembers between windows lives here:

- `alert_transitions`: the state of each alert identity (fingerprint) *after* each window, keyed by
  (fingerprint, window end): pending/firing, how many consecutive windows the condition held, when it
  was last announced. Alert state follows window time: a window reads the latest row before its own
  end (`load_states_as_of`) and writes its own row, never a later one, so re-running or
  re-evaluating an old window reproduces it and leaves what later windows saw alone.
- `alert_silences`: label matchers with an expiry (`watchkeeper silence add/list/expire`).
- `alert_deliveries`: the ledger of idempotency keys (fingerprint + state + window_end + channel).
  A key is written before its notification is sent; it is never sent twice. Its status is `queued`,
  `sent`, or `unknown` (posts timed out and the receiver cannot be asked: given up, maybe delivered).
  A key another run wrote first (a unique-key conflict) means "already delivered or being delivered".
- `alert_outbox`: every notification waits here until a channel accepted it. A run claims a row,
  sends, and deletes it; a failure leaves it for the next run (the transactional outbox pattern), so a
  notification is lost neither to a down server nor to a crash between "decide" and "send". Before
  each send the row's `sending_since` is committed (`mark_sending`) and every outcome clears it, so a
  row whose claim expired with `sending_since` still set was being sent by a run that stopped before
  the answer (killed, crashed): `claim_pending` counts that attempt as `unknown`, as after a timeout,
  and audits it (`alert.delivery_unknown`).
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from watchkeeper.state import StateStore, metadata, with_audit_defaults
from watchkeeper.timeutil import as_utc, utcnow

alert_transitions = sa.Table(
    "alert_transitions",
    metadata,
    sa.Column("fingerprint", sa.String(64), primary_key=True),
    sa.Column("window_end", sa.DateTime(timezone=True), primary_key=True),
    sa.Column("model", sa.String(200), nullable=False),
    sa.Column("rule", sa.String(200), nullable=False),
    sa.Column("severity", sa.String(20), nullable=False),
    sa.Column("labels", sa.Text, nullable=False),
    # The rule's condition, so an alert whose rule is no longer evaluated (a check's finding that
    # went away) can still be judged and resolved.
    sa.Column("condition", sa.Text, nullable=False),
    sa.Column("state", sa.Text, nullable=False),  # JSON of the alert's memory after this window
    # The memory it started from, and a hash of the figures it was judged on: a re-run on the same
    # figures starts from the same memory, even if an earlier window was re-evaluated since.
    sa.Column("previous", sa.Text, nullable=False),
    sa.Column("inputs", sa.String(64), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_alert_transitions_model_window", "model", "window_end"),
)

alert_silences = sa.Table(
    "alert_silences",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("model", sa.String(200), nullable=False, index=True),
    sa.Column("matchers", sa.Text, nullable=False),
    sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("comment", sa.Text, nullable=False),
    sa.Column("author", sa.String(200), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

alert_deliveries = sa.Table(
    "alert_deliveries",
    metadata,
    sa.Column("key", sa.String(400), primary_key=True),
    sa.Column("model", sa.String(200), nullable=False, index=True),
    sa.Column("channel", sa.String(200), nullable=False),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),  # queued | sent | unknown
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("sent_at", sa.DateTime(timezone=True)),
)

alert_outbox = sa.Table(
    "alert_outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("model", sa.String(200), nullable=False, index=True),
    sa.Column("channel", sa.String(200), nullable=False),
    sa.Column("keys", sa.Text, nullable=False),  # JSON list of idempotency keys in the message
    sa.Column("payload", sa.Text, nullable=False),  # JSON of AlertMessage
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    # Attempts whose outcome is unknown (timed out after sending): the message may be there already.
    sa.Column("unknown_attempts", sa.Integer, nullable=False, default=0, server_default="0"),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_attempt_at", sa.DateTime(timezone=True)),
    sa.Column("last_error", sa.Text),
    sa.Column("claimed_until", sa.DateTime(timezone=True)),
    # Set (committed) just before a send goes out, cleared by its outcome: still set once the claim
    # expired means the sending run stopped before the receiver answered.
    sa.Column("sending_since", sa.DateTime(timezone=True)),
)


def _require_aware(value: datetime, what: str) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"{what} must be timezone-aware (UTC), got {value!r}")
    return value.astimezone(UTC)


@dataclass(frozen=True)
class Silence:
    """Mutes notifications of a model's alerts whose labels match every matcher (glob values)."""

    id: str
    model: str
    matchers: dict[str, str]
    starts_at: datetime
    ends_at: datetime
    comment: str
    author: str
    created_at: datetime

    def active(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at

    def matches(self, model: str, labels: Mapping[str, str]) -> bool:
        if self.model not in ("*", model):
            return False
        return all(fnmatch.fnmatchcase(labels.get(k, ""), v) for k, v in self.matchers.items())

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "model": self.model,
            "matchers": dict(self.matchers),
            "starts_at": self.starts_at.isoformat(),
            "ends_at": self.ends_at.isoformat(),
            "comment": self.comment,
            "author": self.author,
            "created_at": self.created_at.isoformat(),
        }


def parse_matchers(items: Iterable[str]) -> dict[str, str]:
    """`["alertname=data_drift", "severity=warn*"]` → matchers (for the CLI's `--match` options)."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"invalid matcher {item!r}: expected label=value (globs allowed in value)")
        out[key] = value.strip()
    return out


def add_silence(
    store: StateStore,
    model: str,
    matchers: Mapping[str, str],
    until: datetime,
    comment: str,
    author: str,
    *,
    starts_at: datetime | None = None,
    now: datetime | None = None,
) -> str:
    """Silence the alerts of `model` (`"*"`: every model) whose labels match `matchers` until `until`.

    Matchers compare label values with shell-style globs (`{"alertname": "data_drift"}`,
    `{"severity": "warn*"}`); an empty mapping silences every alert of the model. Silences are
    human decisions, so they run on wall-clock time (`now`), not window time. Returns the silence id.
    """
    now = _require_aware(now or utcnow(), "now")
    until = _require_aware(until, "until")
    start = _require_aware(starts_at, "starts_at") if starts_at is not None else now
    if until <= start:
        raise ValueError(f"silence would end ({until.isoformat()}) before it starts ({start.isoformat()})")
    if not comment.strip():
        raise ValueError("a silence needs a comment saying why")
    silence_id = uuid.uuid4().hex[:12]
    with store.begin() as conn:
        conn.execute(
            alert_silences.insert().values(
                id=silence_id,
                model=model,
                matchers=json.dumps(dict(matchers), sort_keys=True),
                starts_at=start,
                ends_at=until,
                comment=comment,
                author=author,
                created_at=now,
            )
        )
    store.append_audit(
        model=model,
        event="alert.silence_added",
        reasons=[comment],
        evidence={"silence_id": silence_id, "matchers": dict(matchers), "until": until.isoformat()},
        decision=author,
        at=now,
    )
    return silence_id


def _silence_from_row(row: sa.RowMapping) -> Silence:
    return Silence(
        id=row["id"],
        model=row["model"],
        matchers=json.loads(row["matchers"]),
        starts_at=as_utc(row["starts_at"]),
        ends_at=as_utc(row["ends_at"]),
        comment=row["comment"],
        author=row["author"],
        created_at=as_utc(row["created_at"]),
    )


def list_silences(
    store: StateStore,
    model: str | None = None,
    *,
    include_expired: bool = False,
    now: datetime | None = None,
) -> list[Silence]:
    """Silences of `model` (and the `"*"` ones), or of every model; active and future ones by default."""
    now = _require_aware(now or utcnow(), "now")
    query = sa.select(alert_silences).order_by(alert_silences.c.created_at, alert_silences.c.id)
    if model is not None:
        query = query.where(alert_silences.c.model.in_([model, "*"]))
    with store.begin() as conn:
        rows = conn.execute(query).mappings().all()
    silences = [_silence_from_row(r) for r in rows]
    return silences if include_expired else [s for s in silences if s.ends_at > now]


def expire_silence(store: StateStore, silence_id: str, *, now: datetime | None = None) -> bool:
    """End a silence now. Returns False when no such silence exists or it had already ended."""
    now = _require_aware(now or utcnow(), "now")
    where = (alert_silences.c.id == silence_id) & (alert_silences.c.ends_at > now)
    with store.begin() as conn:
        row = conn.execute(sa.select(alert_silences.c.model, alert_silences.c.starts_at).where(where)).first()
        if row is None:
            return False
        # A silence expired before it started gets its start pulled back, so ends_at >= starts_at.
        start = min(as_utc(row[1]) or now, now)
        conn.execute(alert_silences.update().where(where).values(ends_at=now, starts_at=start))
    store.append_audit(
        model=row[0], event="alert.silence_expired", evidence={"silence_id": silence_id}, at=now
    )
    return True


@dataclass(frozen=True)
class AlertStateRow:
    """An alert's memory after one window."""

    fingerprint: str
    model: str
    rule: str
    severity: str
    labels: Mapping[str, str]
    condition: str
    state: Mapping[str, Any]
    window_end: datetime
    previous: Mapping[str, Any]
    inputs: str


def _state_row(row: sa.RowMapping) -> AlertStateRow:
    return AlertStateRow(
        fingerprint=row["fingerprint"],
        model=row["model"],
        rule=row["rule"],
        severity=row["severity"],
        labels=json.loads(row["labels"]),
        condition=row["condition"],
        state=json.loads(row["state"]),
        window_end=as_utc(row["window_end"]),
        previous=json.loads(row["previous"]),
        inputs=row["inputs"],
    )


def load_states_as_of(
    store: StateStore, model: str, window_end: datetime
) -> tuple[dict[str, AlertStateRow], dict[str, AlertStateRow]]:
    """The model's alert states as of a window: (before, at).

    `before` is each alert's latest row *before* `window_end` (where the window starts from); `at`
    its row for `window_end` itself, when the window was evaluated already (a re-run: on the same
    figures it starts from that row's `previous`).
    """
    window_end = _require_aware(window_end, "window_end")
    t = alert_transitions
    latest = (
        sa.select(t.c.fingerprint, sa.func.max(t.c.window_end).label("window_end"))
        .where((t.c.model == model) & (t.c.window_end < window_end))
        .group_by(t.c.fingerprint)
        .subquery()
    )
    before_q = sa.select(t).join(
        latest, (t.c.fingerprint == latest.c.fingerprint) & (t.c.window_end == latest.c.window_end)
    )
    at_q = sa.select(t).where((t.c.model == model) & (t.c.window_end == window_end))
    with store.begin() as conn:
        before = [_state_row(r) for r in conn.execute(before_q).mappings().all()]
        at = [_state_row(r) for r in conn.execute(at_q).mappings().all()]
    return {r.fingerprint: r for r in before}, {r.fingerprint: r for r in at}


def load_later_states(
    store: StateStore, model: str, fingerprints: list[str], window_end: datetime
) -> dict[str, list[AlertStateRow]]:
    """The rows of these alerts for windows after `window_end`, oldest first, by fingerprint."""
    if not fingerprints:
        return {}
    window_end = _require_aware(window_end, "window_end")
    t = alert_transitions
    query = (
        sa.select(t)
        .where((t.c.model == model) & (t.c.window_end > window_end) & t.c.fingerprint.in_(fingerprints))
        .order_by(t.c.fingerprint, t.c.window_end)
    )
    out: dict[str, list[AlertStateRow]] = {}
    with store.begin() as conn:
        for row in conn.execute(query).mappings().all():
            out.setdefault(row["fingerprint"], []).append(_state_row(row))
    return out


def save_states(
    store: StateStore, rows: list[AlertStateRow], audits: list[dict[str, Any]] | None = None
) -> None:
    """Write each alert's row for its window (replacing a re-run's) and append audit entries
    (`append_audit`'s fields), in one transaction."""
    now = utcnow()
    t = alert_transitions
    with store.begin() as conn:
        for row in rows:
            window_end = _require_aware(row.window_end, "window_end")
            values = {
                "model": row.model,
                "rule": row.rule,
                "severity": row.severity,
                "labels": json.dumps(dict(row.labels), sort_keys=True),
                "condition": row.condition,
                "state": json.dumps(dict(row.state), sort_keys=True),
                "previous": json.dumps(dict(row.previous), sort_keys=True),
                "inputs": row.inputs,
                "updated_at": now,
            }
            key = (t.c.fingerprint == row.fingerprint) & (t.c.window_end == window_end)
            updated = conn.execute(t.update().where(key).values(**values))
            if updated.rowcount == 0:
                conn.execute(t.insert().values(fingerprint=row.fingerprint, window_end=window_end, **values))
        if audits:
            store.chain_audit(conn, [_encode_audit(a) for a in audits])


def _encode_audit(entry: Mapping[str, Any]) -> dict[str, Any]:
    """`append_audit`'s fields encoded as `StateStore.append_audit` does, for `chain_audit` inside
    the caller's transaction."""
    return {
        **with_audit_defaults(dict(entry)),
        "reasons": json.dumps(entry.get("reasons") or []),
        "evidence": json.dumps(entry.get("evidence") or {}, default=str),
    }


@dataclass(frozen=True)
class OutboxRow:
    id: int
    model: str
    channel: str
    keys: tuple[str, ...]
    payload: dict[str, Any]
    attempts: int
    last_error: str | None
    unknown_attempts: int = 0
    # When this claim found the row's last send unanswered (its run stopped): that send's start.
    interrupted_at: datetime | None = None

    @property
    def idempotency_key(self) -> str:
        """One key for the whole message (its events' keys), carried to receivers that can be asked."""
        return hashlib.sha256("\n".join(sorted(self.keys)).encode()).hexdigest()[:32]


# Audit event of a send whose outcome is unknown (timed out, or its run stopped before the answer).
DELIVERY_UNKNOWN_EVENT = "alert.delivery_unknown"
# Audit event of a notification its channel's own settings cannot deliver (never retried).
DELIVERY_REFUSED_EVENT = "alert.delivery_refused"


def _unknown_audit(
    row: OutboxRow, *, cause: str, error: str, attempts: int, given_up: bool, at: datetime
) -> dict[str, Any]:
    window_end = row.payload.get("window_end")
    return {
        "at": at,
        "model": row.model,
        "event": DELIVERY_UNKNOWN_EVENT,
        "decision": "given_up" if given_up else "kept_for_safe_retry",
        "reasons": [error],
        "evidence": {
            "channel": row.channel,
            "outbox_id": row.id,
            "idempotency_key": row.idempotency_key,
            "keys": list(row.keys),
            "attempts": attempts,
            "cause": cause,
        },
        "window_end": datetime.fromisoformat(window_end) if isinstance(window_end, str) else None,
    }


def _interrupted_error(since: datetime) -> str:
    """The outbox error of a send whose run stopped before the receiver answered."""
    return (
        f"no answer: the run sending it at {since.isoformat()} stopped before the receiver answered "
        "(it may have arrived)"
    )


def enqueue(
    store: StateStore,
    *,
    model: str,
    channel: str,
    entries: list[tuple[str, str, str, datetime]],
    payload: Mapping[str, Any],
    claim_until: datetime,
    now: datetime,
) -> OutboxRow | None:
    """Record keys (key, fingerprint, state, window_end) as queued and put the message in the outbox.

    The caller has dropped keys already in the ledger; if one appeared since (a concurrent run queued
    it), nothing is written and None is returned. The row comes back claimed until `claim_until`.
    """
    try:
        row_id = _insert_queued(store, model, channel, entries, payload, claim_until, now)
    except sa.exc.IntegrityError:
        # A concurrent run wrote one of these keys between our check and our insert: that run owns
        # the message (the key is the ledger's primary key, so this is "already delivered").
        return None
    if row_id is None:
        return None
    keys = [e[0] for e in entries]
    return OutboxRow(row_id, model, channel, tuple(keys), dict(payload), 0, None)


def _insert_queued(
    store: StateStore,
    model: str,
    channel: str,
    entries: list[tuple[str, str, str, datetime]],
    payload: Mapping[str, Any],
    claim_until: datetime,
    now: datetime,
) -> int | None:
    with store.begin() as conn:
        known = set(
            conn.execute(
                sa.select(alert_deliveries.c.key).where(alert_deliveries.c.key.in_([e[0] for e in entries]))
            ).scalars()
        )
        if known:
            # Queued by a concurrent run since the caller checked: that run owns this message.
            return None
        conn.execute(
            alert_deliveries.insert(),
            [
                {
                    "key": key,
                    "model": model,
                    "channel": channel,
                    "fingerprint": fp,
                    "state": state,
                    "window_end": window_end,
                    "status": "queued",
                    "created_at": now,
                }
                for key, fp, state, window_end in entries
            ],
        )
        keys = [e[0] for e in entries]
        result = conn.execute(
            alert_outbox.insert().values(
                model=model,
                channel=channel,
                keys=json.dumps(keys),
                payload=json.dumps(dict(payload), default=str),
                attempts=0,
                created_at=now,
                claimed_until=claim_until,
            )
        )
        return int(result.inserted_primary_key[0])  # type: ignore[index]


def fresh_keys(store: StateStore, keys: list[str]) -> set[str]:
    """The subset of `keys` not yet in the ledger."""
    with store.begin() as conn:
        known = set(
            conn.execute(sa.select(alert_deliveries.c.key).where(alert_deliveries.c.key.in_(keys))).scalars()
        )
    return set(keys) - known


def claim_pending(
    store: StateStore,
    *,
    channels: list[str],
    model: str | None,
    now: datetime,
    claim_until: datetime,
) -> list[OutboxRow]:
    """Claim the outbox rows of these channels that nobody holds, oldest first.

    A row still `sending_since` was being sent by a run that stopped before the answer (its claim
    expired): it comes back with that send counted as unknown (`interrupted_at` set), audited.
    """
    free = sa.or_(alert_outbox.c.claimed_until.is_(None), alert_outbox.c.claimed_until < now)
    query = (
        sa.select(alert_outbox)
        .where(alert_outbox.c.channel.in_(channels) & free)
        .order_by(alert_outbox.c.created_at, alert_outbox.c.id)
    )
    if model is not None:
        query = query.where(alert_outbox.c.model == model)
    claimed = []
    audits = []
    with store.begin() as conn:
        for row in conn.execute(query).mappings().all():
            item = OutboxRow(
                id=row["id"],
                model=row["model"],
                channel=row["channel"],
                keys=tuple(json.loads(row["keys"])),
                payload=json.loads(row["payload"]),
                attempts=row["attempts"],
                last_error=row["last_error"],
                unknown_attempts=row["unknown_attempts"] or 0,
            )
            values: dict[str, Any] = {"claimed_until": claim_until}
            since = as_utc(row["sending_since"])
            if since is not None:
                # Its claim expired mid-send: that run stopped before the answer. The send counts as
                # one whose answer never came, exactly as a timeout (and is audited as one).
                item = replace(
                    item,
                    attempts=item.attempts + 1,
                    unknown_attempts=item.unknown_attempts + 1,
                    last_error=_interrupted_error(since),
                    interrupted_at=since,
                )
                values.update(
                    attempts=item.attempts,
                    unknown_attempts=item.unknown_attempts,
                    last_attempt_at=since,
                    last_error=item.last_error,
                    sending_since=None,
                )
            # Conditional update: if another run claimed it in between, rowcount is 0 and we skip it.
            got = conn.execute(
                alert_outbox.update().where((alert_outbox.c.id == row["id"]) & free).values(**values)
            )
            if got.rowcount == 1:
                claimed.append(item)
                if since is not None:
                    audits.append(
                        _unknown_audit(
                            item,
                            cause="interrupted",
                            error=item.last_error or "",
                            attempts=item.attempts,
                            given_up=False,
                            at=now,
                        )
                    )
        if audits:
            store.chain_audit(conn, [_encode_audit(a) for a in audits])
    return claimed


def mark_sending(store: StateStore, row: OutboxRow, *, now: datetime) -> None:
    """Commit that a send of `row` starts now, before its request goes out (cleared by its outcome)."""
    with store.begin() as conn:
        conn.execute(alert_outbox.update().where(alert_outbox.c.id == row.id).values(sending_since=now))


def mark_sent(store: StateStore, row: OutboxRow, *, now: datetime) -> None:
    with store.begin() as conn:
        conn.execute(
            alert_deliveries.update()
            .where(alert_deliveries.c.key.in_(list(row.keys)))
            .values(status="sent", sent_at=now)
        )
        conn.execute(alert_outbox.delete().where(alert_outbox.c.id == row.id))


def mark_failed(store: StateStore, row: OutboxRow, *, error: str, now: datetime) -> int:
    """Count the failed attempt and release the claim; returns the row's attempts so far."""
    attempts = row.attempts + 1
    with store.begin() as conn:
        conn.execute(
            alert_outbox.update()
            .where(alert_outbox.c.id == row.id)
            .values(
                attempts=attempts,
                last_attempt_at=now,
                last_error=error[:2000],
                claimed_until=None,
                sending_since=None,
            )
        )
    return attempts


def mark_refused(store: StateStore, row: OutboxRow, *, error: str, now: datetime) -> None:
    """End a row its channel's settings cannot deliver (ledger status `refused`), audited with why."""
    with store.begin() as conn:
        conn.execute(
            alert_deliveries.update()
            .where(alert_deliveries.c.key.in_(list(row.keys)))
            .values(status="refused", sent_at=now)
        )
        conn.execute(alert_outbox.delete().where(alert_outbox.c.id == row.id))
        window_end = row.payload.get("window_end")
        entry = {
            "at": now,
            "model": row.model,
            "event": DELIVERY_REFUSED_EVENT,
            "decision": "refused",
            "reasons": [error[:2000]],
            "evidence": {
                "channel": row.channel,
                "outbox_id": row.id,
                "idempotency_key": row.idempotency_key,
                "keys": list(row.keys),
            },
            "window_end": datetime.fromisoformat(window_end) if isinstance(window_end, str) else None,
        }
        store.chain_audit(conn, [_encode_audit(entry)])


def mark_unknown(
    store: StateStore,
    row: OutboxRow,
    *,
    error: str,
    now: datetime,
    give_up: bool,
    posted: bool = True,
    cause: str = "timeout",
) -> int:
    """Count an attempt whose outcome is unknown; `give_up` ends the row (ledger status `unknown`).

    `posted=False`: nothing was sent now (earlier unanswered posts are given up without another).
    `cause` (`timeout`, `interrupted`) goes into the audit entry.
    Returns the row's attempts so far. A given-up row leaves the outbox: the receiver cannot be asked
    and posting it again would risk a third copy. Audited (`alert.delivery_unknown`) in the same
    transaction.
    """
    attempts = row.attempts + 1 if posted else row.attempts
    with store.begin() as conn:
        if give_up:
            conn.execute(
                alert_deliveries.update()
                .where(alert_deliveries.c.key.in_(list(row.keys)))
                .values(status="unknown", sent_at=now)
            )
            conn.execute(alert_outbox.delete().where(alert_outbox.c.id == row.id))
        else:
            conn.execute(
                alert_outbox.update()
                .where(alert_outbox.c.id == row.id)
                .values(
                    attempts=attempts,
                    unknown_attempts=row.unknown_attempts + 1,
                    last_attempt_at=now,
                    last_error=error[:2000],
                    claimed_until=None,
                    sending_since=None,
                )
            )
        audit = _unknown_audit(
            row,
            cause=cause,
            error=error[:2000],
            attempts=attempts,
            given_up=give_up,
            at=now,
        )
        store.chain_audit(conn, [_encode_audit(audit)])
    return attempts


def delivery_statuses(store: StateStore, model: str) -> dict[str, str]:
    """Ledger status (queued / sent / unknown) of every idempotency key of `model`."""
    query = sa.select(alert_deliveries.c.key, alert_deliveries.c.status).where(
        alert_deliveries.c.model == model
    )
    with store.begin() as conn:
        return {k: v for k, v in conn.execute(query).all()}


def outbox_size(store: StateStore, model: str | None = None) -> int:
    query = sa.select(sa.func.count()).select_from(alert_outbox)
    if model is not None:
        query = query.where(alert_outbox.c.model == model)
    with store.begin() as conn:
        return int(conn.execute(query).scalar_one())


def list_outbox(store: StateStore, model: str | None = None) -> list[dict[str, Any]]:
    """The notifications still waiting for delivery (for the CLI and reports)."""
    query = sa.select(alert_outbox).order_by(alert_outbox.c.created_at, alert_outbox.c.id)
    if model is not None:
        query = query.where(alert_outbox.c.model == model)
    with store.begin() as conn:
        rows = conn.execute(query).mappings().all()
    return [
        {
            "id": r["id"],
            "model": r["model"],
            "channel": r["channel"],
            "keys": json.loads(r["keys"]),
            "attempts": r["attempts"],
            "created_at": as_utc(r["created_at"]),
            "last_attempt_at": as_utc(r["last_attempt_at"]),
            "last_error": r["last_error"],
            # Being sent (or, once its claim expired, sent by a run that stopped before the answer).
            "sending_since": as_utc(r["sending_since"]),
        }
        for r in rows
    ]
