"""The latest health sample per model, kept in the state database by the system-health flow and
carried into the model's monitoring windows (the ``health`` section), so alert rules on a window
can use `health.*` figures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from watchkeeper.health.report import HealthReport
from watchkeeper.report import SnapshotSection
from watchkeeper.state import StateStore

LATEST_NAMESPACE = "health-latest"
# A sample older than this says nothing about the window being judged.
MAX_AGE = timedelta(hours=1)


def store_latest_health(store: StateStore, model: str, report: HealthReport, *, at: datetime) -> None:
    store.put_json(
        LATEST_NAMESPACE, model, {"at": at.timestamp(), "host": report.host, "figures": report.figures()}
    )


def read_latest_health(
    store: StateStore, model: str, *, now: datetime, max_age: timedelta = MAX_AGE
) -> SnapshotSection | None:
    """The serving host's latest health sample, if recent enough to matter."""
    latest = store.get_json(LATEST_NAMESPACE, model)
    if not latest:
        return None
    taken = datetime.fromtimestamp(latest["at"], UTC)
    if now - taken > max_age:
        return None
    return SnapshotSection(
        source=f"system-health on {latest['host']}", taken_at=taken, values=latest["figures"]
    )
