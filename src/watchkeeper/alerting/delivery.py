"""Delivery that loses nothing and sends nothing twice.

Every notification goes through the outbox in the state database:

1. *enqueue*: in one transaction, the idempotency keys of the message's events (fingerprint + state
   + window_end + channel) are written to the ledger and the message to the outbox, claimed by this
   run. Keys already in the ledger are dropped — they were sent, or are queued, by an earlier run —
   so re-running a window (or a retried flow run) sends nothing again.
2. *send* with retries (backoff, 429 Retry-After) through the channel.
3. on success the keys are marked sent and the outbox row deleted; on failure the row stays, its
   claim released, and the next run's `flush_outbox` sends it again — exactly once when it succeeds.

A post whose answer timed out is `unknown`, not failed: it may have arrived. The row stays in the
outbox, and the next attempt depends on the channel's `redelivery`: PagerDuty is posted again (it
deduplicates on `dedup_key`); a Slack bot first looks for its own message by the idempotency key in
the message metadata and posts only when it is not there; an incoming webhook, which cannot be
asked, is posted once more with a note that it may be a repeat, and after that given up (ledger
status `unknown`) — at most two copies, never five.

A run killed in the middle leaves a claimed row; the claim expires after `delivery.claim_s` and a
later run takes it. Just before each send, the row's `sending_since` is committed (one small write);
every outcome clears it. A later run that finds it still set knows the killed run may have posted
and got no answer: the attempt is `unknown` (audited as `alert.delivery_unknown`, reported as an
`unknown` record), and the row goes the same way as after a timeout. A run killed before its send
started re-sends plainly. So across a crash: exactly once where the receiver can be asked or
deduplicates (Slack bot, PagerDuty), at most two copies, the second marked as a possible repeat,
where it cannot (incoming webhooks, console).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from watchkeeper.alerting import store as db
from watchkeeper.alerting.channels import Channel, DeliveryError, DeliveryRefused, DeliveryUnknown
from watchkeeper.alerting.config import DeliveryConfig
from watchkeeper.alerting.messages import AlertMessage
from watchkeeper.state import StateStore

log = logging.getLogger("watchkeeper.alerting")

DeliveryStatus = Literal["sent", "queued", "duplicate", "unknown", "refused"]

# Posts with an unknown outcome a channel that cannot be asked gets before it is given up.
MAX_BLIND_POSTS = 2


@dataclass(frozen=True)
class NotificationRecord:
    """What happened to one message on one channel in this run (or, reported first, to the send of
    an earlier run that stopped before its answer: `unknown`, `error` says so)."""

    channel: str
    # sent | queued (failed, waiting in the outbox) | duplicate (sent before) | unknown (timed out or
    # its run stopped: may have arrived; waiting in the outbox for a safe retry, or given up when
    # `error` says so)
    status: DeliveryStatus
    fingerprints: tuple[str, ...]
    states: tuple[str, ...]
    window_end: datetime
    attempts: int  # sends tried so far for this message, across runs
    error: str | None = None
    from_outbox: bool = False  # a message from an earlier run, retried now
    outbox_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "status": self.status,
            "fingerprints": list(self.fingerprints),
            "states": list(self.states),
            "window_end": self.window_end.isoformat(),
            "attempts": self.attempts,
            "error": self.error,
            "from_outbox": self.from_outbox,
            "outbox_id": self.outbox_id,
        }


def _record(
    channel: Channel,
    row: db.OutboxRow,
    message: AlertMessage,
    status: DeliveryStatus,
    attempts: int,
    error: str | None = None,
    *,
    from_outbox: bool,
) -> NotificationRecord:
    fps = tuple(e.fingerprint for e in message.events)
    states = tuple(e.status for e in message.events)
    return NotificationRecord(
        channel.name, status, fps, states, message.window_end, attempts, error, from_outbox, row.id
    )


def _attempt(
    store: StateStore, channel: Channel, row: db.OutboxRow, *, now: datetime, from_outbox: bool
) -> NotificationRecord:
    message = AlertMessage.from_dict(row.payload)

    def record(status: DeliveryStatus, attempts: int, error: str | None = None) -> NotificationRecord:
        return _record(channel, row, message, status, attempts, error, from_outbox=from_outbox)

    key = row.idempotency_key
    maybe_repeat = False
    if row.unknown_attempts:
        found = channel.find_delivered(key) if channel.redelivery == "lookup" else None
        if found:
            db.mark_sent(store, row, now=now)
            log.info("notification to %s had arrived (found by its idempotency key)", channel.name)
            return record("sent", row.attempts)
        # "dedup" receivers drop the copy themselves; the others might show it twice.
        maybe_repeat = channel.redelivery == "once" or (channel.redelivery == "lookup" and found is None)
        if maybe_repeat and row.unknown_attempts >= MAX_BLIND_POSTS:
            # Unanswered posts that cannot be ruled out, the repeat among them (its run stopped
            # while waiting): a third copy is not safe.
            error = (
                f"{row.last_error}; given up after {row.unknown_attempts} unanswered posts (may have arrived)"
            )
            cause = "interrupted" if row.interrupted_at is not None else "timeout"
            db.mark_unknown(store, row, error=error, now=now, give_up=True, posted=False, cause=cause)
            log.warning("notification to %s: %s", channel.name, error)
            return record("unknown", row.attempts, error)
    # Committed before the request goes out: a run killed while waiting for the answer leaves it set,
    # and the next run treats the post as unanswered instead of sending a plain copy.
    db.mark_sending(store, row, now=now)
    try:
        channel.send(message, key=key, maybe_repeat=maybe_repeat)
    except DeliveryUnknown as exc:
        blind = channel.redelivery == "once" or (channel.redelivery == "lookup" and maybe_repeat)
        give_up = blind and row.unknown_attempts + 1 >= MAX_BLIND_POSTS
        attempts = db.mark_unknown(store, row, error=str(exc), now=now, give_up=give_up)
        if give_up:
            error = f"{exc}; given up after {MAX_BLIND_POSTS} unanswered posts (may have arrived)"
            log.warning("notification to %s: %s", channel.name, error)
            return record("unknown", attempts, error)
        log.warning("notification to %s: outcome unknown, kept for a safe retry: %s", channel.name, exc)
        return record("unknown", attempts, str(exc))
    except DeliveryRefused as exc:
        # Nothing went out and retrying cannot help: ended (ledger status `refused`), audited, said.
        db.mark_refused(store, row, error=str(exc), now=now)
        log.error("notification to %s refused by its own settings: %s", channel.name, exc)
        return record("refused", row.attempts + 1, str(exc))
    except DeliveryError as exc:
        attempts = db.mark_failed(store, row, error=str(exc), now=now)
        log.warning(
            "notification to %s failed (attempt %d), kept in the outbox: %s", channel.name, attempts, exc
        )
        return record("queued", attempts, str(exc))
    except Exception as exc:
        # A bug in a channel must not lose the notification either; the type is enough to debug
        # and the message text might hold a secret, so it is not recorded.
        error = f"{channel.name}: unexpected {type(exc).__name__}"
        attempts = db.mark_failed(store, row, error=error, now=now)
        log.exception("notification to %s failed unexpectedly, kept in the outbox", channel.name)
        return record("queued", attempts, error)
    db.mark_sent(store, row, now=now)
    return record("sent", row.attempts + 1)


def _interrupted(channel: Channel, row: db.OutboxRow) -> NotificationRecord:
    """The record of an earlier run's send that never got its answer (that run stopped)."""
    log.warning("notification to %s: %s", channel.name, row.last_error)
    message = AlertMessage.from_dict(row.payload)
    return _record(channel, row, message, "unknown", row.attempts, row.last_error, from_outbox=True)


def deliver(
    store: StateStore,
    channel: Channel,
    message: AlertMessage,
    *,
    delivery: DeliveryConfig,
    now: datetime,
) -> NotificationRecord | None:
    """Enqueue `message` for `channel` (dropping events already notified) and try to send it now.

    Returns None when the message holds no events.
    """
    if not message.events:
        return None
    by_key = {e.key(channel.name): e for e in message.events}
    fresh = db.fresh_keys(store, list(by_key))
    events = tuple(e for k, e in by_key.items() if k in fresh)
    if not events:
        return NotificationRecord(
            channel.name,
            "duplicate",
            tuple(e.fingerprint for e in message.events),
            tuple(e.status for e in message.events),
            message.window_end,
            0,
        )
    message = message.with_events(events)
    row = db.enqueue(
        store,
        model=message.model,
        channel=channel.name,
        entries=[(e.key(channel.name), e.fingerprint, e.status, e.window_end) for e in events],
        payload=message.to_dict(),
        claim_until=now + timedelta(seconds=delivery.claim_s),
        now=now,
    )
    if row is None:  # a concurrent run queued the same keys between our check and our insert
        return NotificationRecord(
            channel.name,
            "duplicate",
            tuple(e.fingerprint for e in events),
            tuple(e.status for e in events),
            message.window_end,
            0,
        )
    return _attempt(store, channel, row, now=now, from_outbox=False)


def flush_outbox(
    store: StateStore,
    channels: Sequence[Channel],
    *,
    model: str | None = None,
    delivery: DeliveryConfig | None = None,
    now: datetime | None = None,
) -> list[NotificationRecord]:
    """Send the notifications that earlier runs could not deliver, oldest first.

    Only rows of the given channels (by name) are tried, and only those of `model` when given; rows
    held by a concurrent run are left to it. Safe to call any time (the CLI, the start of every run).
    """
    delivery = delivery or DeliveryConfig()
    now = now or db.utcnow()
    by_name = {c.name: c for c in channels}
    rows = db.claim_pending(
        store,
        channels=list(by_name),
        model=model,
        now=now,
        claim_until=now + timedelta(seconds=delivery.claim_s),
    )
    records = []
    for row in rows:
        channel = by_name[row.channel]
        if row.interrupted_at is not None:
            records.append(_interrupted(channel, row))
        records.append(_attempt(store, channel, row, now=now, from_outbox=True))
    return records
