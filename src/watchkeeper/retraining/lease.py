"""Leases in the state database: at most one retraining in flight per model, one writer per window run.

A lease is a row in the state database's `kv_state` table, taken with an insert (or a
compare-and-swap on an expired row), so two monitor runs racing on the same window cannot both
start one. A crashed retraining frees its model when the lease expires (`retraining.lease_ttl`).
Other namespaces use the same mechanism: `hold_lease` waits for a lease and holds it around a block
(the create-or-update of a window's MLflow run, so concurrent runs of one window make one run).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from watchkeeper.state import StateStore, kv_state
from watchkeeper.timeutil import utcnow

LEASE_NAMESPACE = "retraining.lease"


@dataclass(frozen=True)
class Lease:
    """A retraining in flight: who holds it and until when (wall-clock)."""

    holder: str
    acquired_at: datetime
    expires_at: datetime
    window_end: datetime | None = None

    def active(self, now: datetime) -> bool:
        return now < self.expires_at

    def to_dict(self) -> dict[str, Any]:
        return {
            "holder": self.holder,
            "acquired_at": self.acquired_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
            "window_end": None if self.window_end is None else self.window_end.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Lease:
        end = data.get("window_end")
        return cls(
            holder=str(data["holder"]),
            acquired_at=datetime.fromisoformat(data["acquired_at"]),
            expires_at=datetime.fromisoformat(data["expires_at"]),
            window_end=None if end is None else datetime.fromisoformat(end),
        )


def read_lease(store: StateStore, model: str) -> Lease | None:
    value = store.get_json(LEASE_NAMESPACE, model)
    return None if value is None else Lease.from_dict(value)


def acquire_lease(
    store: StateStore,
    model: str,
    *,
    holder: str,
    ttl: timedelta,
    now: datetime | None = None,
    window_end: datetime | None = None,
    namespace: str = LEASE_NAMESPACE,
) -> bool:
    """Take the model's retraining lease; False when another holder has an unexpired one.

    Atomic across processes: a fresh lease is an insert on the (namespace, key) primary key, and an
    expired one is replaced only if it is still the row we read (compare-and-swap on its value).
    The same holder taking it again (a retried flow run) succeeds and extends it.
    """
    now = now or utcnow()
    lease = Lease(holder=holder, acquired_at=now, expires_at=now + ttl, window_end=window_end)
    text = json.dumps(lease.to_dict())
    where = (kv_state.c.namespace == namespace) & (kv_state.c.key == model)
    try:
        with store.begin() as conn:
            current = conn.execute(sa.select(kv_state.c.value).where(where)).scalar_one_or_none()
            if current is None:
                conn.execute(
                    kv_state.insert().values(namespace=namespace, key=model, value=text, updated_at=now)
                )
                return True
            held = Lease.from_dict(json.loads(current))
            if held.active(now) and held.holder != holder:
                return False
            swapped = conn.execute(
                kv_state.update()
                .where(where & (kv_state.c.value == current))
                .values(value=text, updated_at=now)
            )
            return bool(swapped.rowcount == 1)
    except sa.exc.IntegrityError:  # another process inserted first
        return False


def release_lease(
    store: StateStore, model: str, *, holder: str | None = None, namespace: str = LEASE_NAMESPACE
) -> bool:
    """Free the model's lease (only `holder`'s, when given); True when a row was removed."""
    where = (kv_state.c.namespace == namespace) & (kv_state.c.key == model)
    with store.begin() as conn:
        if holder is not None:
            current = conn.execute(sa.select(kv_state.c.value).where(where)).scalar_one_or_none()
            if current is None or json.loads(current).get("holder") != holder:
                return False
            return bool(conn.execute(kv_state.delete().where(where & (kv_state.c.value == current))).rowcount)
        return bool(conn.execute(kv_state.delete().where(where)).rowcount)


class LeaseTimeout(TimeoutError):
    """Another holder kept the lease longer than the caller would wait."""


@contextmanager
def hold_lease(
    store: StateStore,
    namespace: str,
    key: str,
    *,
    ttl: timedelta,
    wait: timedelta,
    poll_s: float = 0.05,
) -> Iterator[str]:
    """Wait (up to `wait`) for the lease `namespace`/`key`, hold it around the block, then free it.

    Yields the holder id. The TTL frees the lease of a holder that crashed inside the block.
    """
    holder = uuid.uuid4().hex
    deadline = time.monotonic() + wait.total_seconds()
    delay = poll_s
    while not acquire_lease(store, key, holder=holder, ttl=ttl, namespace=namespace):
        if time.monotonic() >= deadline:
            raise LeaseTimeout(f"lease {namespace}/{key} still held after {wait.total_seconds():.0f} s")
        time.sleep(delay)
        delay = min(delay * 1.5, 1.0)
    try:
        yield holder
    finally:
        release_lease(store, key, holder=holder, namespace=namespace)
