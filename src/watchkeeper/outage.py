"""Bounded, visible outages of the tracking server: MLflow's HTTP knobs and the alert that says so.

Against a tracking server that is down, MLflow's client retries every call 7 times with backoff and
waits up to 120 s per try: a window's ~6 calls took 1,536 s once, and the run still ended
`Completed`. Watchkeeper sets MLflow's own knobs (`MLFLOW_HTTP_REQUEST_TIMEOUT`, `…_MAX_RETRIES`,
`…_BACKOFF_FACTOR`, `…_BACKOFF_JITTER`) from the `tracking:` config — an env var the operator set
explicitly wins — and the flow stops calling MLflow after the first call that could not reach it
(`is_unreachable`), so a whole window gives up within one call's worst case (`worst_call_s`,
about 65 s by default; the promise is 2 minutes). The report is spooled and a `tracking_unavailable`
alert goes out through the ordinary outbox.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from watchkeeper.alerting.messages import AlertEvent, AlertMessage
from watchkeeper.redaction import redact

TIMEOUT_ENV = "MLFLOW_HTTP_REQUEST_TIMEOUT"
MAX_RETRIES_ENV = "MLFLOW_HTTP_REQUEST_MAX_RETRIES"
BACKOFF_FACTOR_ENV = "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"
BACKOFF_JITTER_ENV = "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER"
# MLflow prints "View run … at: <tracking URI>/#/…" to stdout, the URI's password included.
SUPPRESS_URL_ENV = "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"

# The whole window's logging must give up within this many seconds with the defaults.
OUTAGE_BOUND_S = 120.0

TRACKING_UNAVAILABLE = "tracking_unavailable"

# Exceptions (by class name, anywhere in the cause chain) that mean "could not reach the server",
# as opposed to the server answering with an error (a missing registered model, a bad key).
_UNREACHABLE = {
    "ConnectionError",
    "ConnectTimeout",
    "ReadTimeout",
    "Timeout",
    "MaxRetryError",
    "NewConnectionError",
    "ProtocolError",
    "RemoteDisconnected",
    "ConnectionRefusedError",
    "ConnectionResetError",
    "TimeoutError",
}


def mlflow_http_env(
    *,
    timeout_s: int,
    max_retries: int,
    backoff_factor: int,
    environ: Mapping[str, str],
    ours: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The MLflow HTTP env vars to set: the configured values, except those the operator set.

    `ours` holds what an earlier call set in this process (a value we set is not the operator's).
    MLflow parses timeout, retries and backoff factor as integers.
    """
    ours = ours or {}
    wanted = {
        TIMEOUT_ENV: str(int(timeout_s)),
        MAX_RETRIES_ENV: str(int(max_retries)),
        BACKOFF_FACTOR_ENV: str(int(backoff_factor)),
        BACKOFF_JITTER_ENV: "0.5",
        SUPPRESS_URL_ENV: "true",
    }
    return {k: v for k, v in wanted.items() if not environ.get(k) or environ.get(k) == ours.get(k)}


def worst_call_s(*, timeout_s: float, max_retries: int, backoff_factor: float, jitter: float = 0.5) -> float:
    """Longest one MLflow call can take against a server that never answers: every try times out,
    with urllib3's backoff (factor × 2^(n-1), the first retry immediate) and jitter in between."""
    waits = sum(backoff_factor * 2 ** (n - 1) + jitter for n in range(2, max_retries + 1))
    return (max_retries + 1) * timeout_s + waits


def is_unreachable(exc: BaseException) -> bool:
    """Whether `exc` says the tracking server could not be reached (walks causes and contexts)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if type(current).__name__ in _UNREACHABLE:
            return True
        text = str(current)
        # MLflow wraps requests' errors in MlflowException("API request to … failed with exception …").
        if type(current).__name__ == "MlflowException" and "failed with exception" in text:
            return True
        current = current.__cause__ or current.__context__
    return False


def tracking_unavailable_message(
    *, model: str, window_end: datetime, error: str, spooled: list[str], quarantined: list[str]
) -> AlertMessage:
    """The `tracking_unavailable` alert of one window (its key includes the window: sent once)."""
    detail = [f"spooled: {p}" for p in spooled] + [f"quarantined: {p}" for p in quarantined]
    event = AlertEvent(
        fingerprint=f"{TRACKING_UNAVAILABLE}:{model}",
        rule=TRACKING_UNAVAILABLE,
        status="firing",
        severity="warning",
        labels={"alertname": TRACKING_UNAVAILABLE, "model": model},
        summary=redact(f"MLflow unavailable: {error}; the report is spooled and logged by a later run"),
        condition="tracking reachable",
        metric="tracking.unavailable",
        value=1.0,
        op="==",
        threshold=1.0,
        window_end=window_end,
        details=tuple(redact(d) for d in detail),
    )
    return AlertMessage(model=model, window_end=window_end, events=(event,))
