"""The Alertmanager channel: Watchkeeper's alerts posted to a Prometheus Alertmanager (v2 API).

```yaml
alerts:
  channels:
    - type: alertmanager
      url_env: ALERTMANAGER_URL          # http://alertmanager:9093
      labels: {source: watchkeeper, team: ml-platform}
      expires_after: 4d                  # endsAt of a firing alert; keep it above repeat_interval
      runbook_base_url: https://git.example/watchkeeper/blob/main/
```

Watchkeeper decides *that* an alert fires or resolves (its rules, `for`, repeat and escalation, its
own silences); Alertmanager decides *who hears of it and how*: routing, grouping, inhibition, its
silences, receivers. Each event of a message becomes one alert of ``POST /api/v2/alerts``:

- ``labels``: the rule's labels with ``alertname`` (the rule), ``severity`` and ``model``, plus the
  channel's static `labels`. That set is the alert's identity in Alertmanager, so it holds nothing
  that changes from window to window: the resolve posted windows later must carry the same set;
- ``annotations``: summary, description, the figure against its threshold, since when it fires,
  the numbers behind it (`evidence`), the window (start, end, verdict), the model version, runbook,
  MLflow, Prefect and dashboard links when known;
- ``startsAt``: when the alert fired (the end of the window it started firing in), ``endsAt``: now +
  `expires_after` while it fires — Watchkeeper posts a firing alert again only every
  `repeat_interval`, not every few seconds as Prometheus does — and now when it resolves;
- ``generatorURL``: the Prefect flow run of the window, else its MLflow run.

Alertmanager deduplicates by label set, so a post whose answer never came is simply posted again
(`redelivery = "dedup"`), within the run and from the outbox on the next one. The HTTP client is
urllib with the channels' `RetryPolicy` (backoff, 429 Retry-After): slack-sdk's `WebhookClient`
only posts JSON objects, and the v2 API takes an array.
"""

from __future__ import annotations

import base64
import json
import math
import os
import urllib.request
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from http.client import BadStatusLine, IncompleteRead, InvalidURL
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

from watchkeeper.alerting.channels import (
    CHANNEL_TYPES,
    BaseChannel,
    DeliveryError,
    DeliveryUnknown,
    Redelivery,
    RetryPolicy,
    SecretResolver,
    SecretSource,
    postable_url,
)
from watchkeeper.alerting.config import AlertmanagerChannelConfig
from watchkeeper.alerting.messages import AlertEvent, AlertMessage
from watchkeeper.alerting.render import details_text, evidence_lines, metric_line, since_line, verdict_label
from watchkeeper.presentation import window_name
from watchkeeper.redaction import Redactor

ALERTS_PATH = "api/v2/alerts"
# Statuses worth another try within the run; any other 4xx is a payload Alertmanager refuses.
_RETRY_STATUSES = frozenset({500, 502, 503, 504})
# The request went out and no answer came back: it may have arrived.
_UNANSWERED = (TimeoutError, ConnectionError, BadStatusLine, IncompleteRead)


def _rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _absolute(url: str | None, base: str | None) -> str | None:
    if not url:
        return None
    if base and not urlsplit(url).scheme:
        return urljoin(base, url)
    return url


def alertmanager_alerts(
    message: AlertMessage,
    *,
    now: datetime,
    config: AlertmanagerChannelConfig,
) -> list[dict[str, Any]]:
    """The v2 API's postable alerts for the message's events (pure: `now` is given).

    Notices (a promotion, a rollback) are not alerts: Alertmanager would hold them as firing until
    they expire, so they are left out (the other channels carry them)."""
    generator = message.prefect_flow_run_url or message.mlflow_run_url
    own = config.dashboard_url.replace("{model}", message.model) if config.dashboard_url else None
    dashboard = own or message.dashboard_url
    window = {
        # The window's name (`presentation.window_name`) beside its RFC 3339 bounds.
        "window": None
        if message.window_start is None
        else window_name(message.model, message.window_start, message.window_end, message.timezone),
        "window_start": None if message.window_start is None else _rfc3339(message.window_start),
        "window_end": _rfc3339(message.window_end),
        "window_verdict": verdict_label(message),
        "model_version": message.model_version,
        "mlflow_run_url": message.mlflow_run_url,
        "prefect_flow_run_url": message.prefect_flow_run_url,
        "dashboard_url": dashboard,
        "hindsight": "judged with every label known today" if message.hindsight else None,
    }
    return [
        _alert(event, window, generator, now=now, config=config)
        for event in message.events
        if not event.is_notice
    ]


def _alert(
    event: AlertEvent,
    window: Mapping[str, str | None],
    generator: str | None,
    *,
    now: datetime,
    config: AlertmanagerChannelConfig,
) -> dict[str, Any]:
    starts = event.fired_at or event.window_end
    # Alertmanager refuses an alert that ends before it starts (a window dated after the clock).
    ends = max(now, starts)
    if event.status == "firing":
        ends += config.expires_after
    annotations: dict[str, str | None] = {
        "summary": event.summary,
        "description": event.description,
        "figure": metric_line(event) or None,
        "firing_since": since_line(event),
        "evidence": "\n".join(evidence_lines(event)) or None,
        "details": details_text(event.details) or None,
        "runbook_url": _absolute(event.runbook_url, config.runbook_base_url),
        **window,
    }
    alert: dict[str, Any] = {
        "labels": {**config.labels, **event.labels},
        "annotations": {k: v for k, v in annotations.items() if v},
        "startsAt": _rfc3339(starts),
        "endsAt": _rfc3339(ends),
    }
    if generator:
        alert["generatorURL"] = generator
    return alert


class AlertmanagerChannel(BaseChannel):
    """Posts each message's events to Alertmanager's ``/api/v2/alerts`` as one JSON array."""

    redelivery: Redelivery = "dedup"  # Alertmanager merges an alert posted twice (same label set)

    def __init__(
        self,
        config: AlertmanagerChannelConfig,
        policy: RetryPolicy,
        *,
        secret_resolver: SecretResolver | None = None,
        env: Mapping[str, str] | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__(config.channel_name, config.min_severity, config.send_resolved)
        self.config = config
        self.policy = policy
        self.redact = Redactor()
        self._secrets = SecretSource(secret_resolver, os.environ if env is None else env, self.redact)
        self._clock = clock or (lambda: datetime.now(UTC))

    def _endpoint(self) -> tuple[str, dict[str, str]]:
        """The alerts URL, and an Authorization header for credentials in the URL (`https://user:pw@…`)."""
        cfg = self.config
        what = f"alertmanager:{self.name}"
        base = postable_url(self._secrets.get(cfg.url_env, cfg.url_secret, what), what)
        parts = urlsplit(base if base.endswith("/") else base + "/")
        auth: dict[str, str] = {}
        if parts.username is not None:
            password = unquote(parts.password or "")
            pair = f"{unquote(parts.username)}:{password}".encode()
            auth["Authorization"] = "Basic " + base64.b64encode(pair).decode()
            self.redact.add(password)
            self.redact.add(auth["Authorization"])
            host = parts.netloc.rpartition("@")[2]
            parts = parts._replace(netloc=host)
        return urljoin(urlunsplit(parts), ALERTS_PATH), auth

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        what = f"alertmanager:{self.name} header"
        for header, env_name in self.config.headers_env.items():
            headers[header] = self._secrets.get(env_name, None, f"{what} {header}")
        for header, block in self.config.headers_secret.items():
            headers[header] = self._secrets.get(None, block, f"{what} {header}")
        return headers

    def send(self, message: AlertMessage, *, key: str | None = None, maybe_repeat: bool = False) -> None:
        what = f"alertmanager:{self.name}"
        alerts = alertmanager_alerts(message, now=self._clock(), config=self.config)
        if not alerts:  # notices only: nothing for Alertmanager
            return
        url, auth = self._endpoint()
        headers = {**self._headers(), **auth}
        body = json.dumps(alerts).encode()
        unanswered = ""
        last = self.policy.max_retries
        for attempt in range(last + 1):
            request = urllib.request.Request(url, data=body, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=max(1, math.ceil(self.policy.timeout_s))):
                    return
            except HTTPError as exc:
                if exc.code == 429 and attempt < last:
                    self.policy.wait(self.policy.retry_after(dict(exc.headers.items()), attempt))
                    continue
                if exc.code not in _RETRY_STATUSES or attempt == last:
                    answer = self.redact(exc.read(300).decode(errors="replace"))
                    raise DeliveryError(f"{what}: HTTP {exc.code}: {answer}") from None
            except _UNANSWERED as exc:  # sent, no answer: it may have arrived; posting again is harmless
                unanswered = type(exc).__name__
            except URLError as exc:  # urllib wraps what fails before the request is sent (refused, DNS)
                if attempt == last:
                    raise DeliveryError(f"{what}: {self.redact(str(exc.reason))}") from None
            except (InvalidURL, ValueError) as exc:  # not a URL: no retry will help
                raise DeliveryError(f"{what}: {type(exc).__name__}: {self.redact(str(exc))}") from None
            if attempt < last:
                self.policy.wait(self.policy.backoff(attempt))
        raise DeliveryUnknown(f"{what}: no answer ({unanswered}): it may have arrived")


CHANNEL_TYPES[AlertmanagerChannelConfig] = AlertmanagerChannel
