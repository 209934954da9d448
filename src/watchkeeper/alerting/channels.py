"""Notification channels: Slack, webhooks (generic or PagerDuty Events v2), console, and in-memory.

A channel turns an `AlertMessage` into one or more HTTP requests and raises `DeliveryError` when the
receiver did not accept them after the retries of one run; the caller (`delivery.py`) keeps the
message in the outbox for the next run.

HTTP goes through slack-sdk's clients with its retry handlers: `WebhookClient` (a plain JSON POST
client, also used for generic and PagerDuty webhooks, which keeps retries and 429 handling in one
place) and `WebClient.chat_postMessage` for a bot token. `WebhookClient.send` does not raise on 4xx/5xx,
so every response's `status_code` is checked. The handlers here are slack-sdk's, with waits taken from
`DeliveryConfig` and an injectable `sleep`, so a 429's `Retry-After` is honoured (up to a cap) and
tests do not sleep.

A post whose answer never came (the read timed out, the connection dropped after the request went
out) may have been accepted: the channel raises `DeliveryUnknown`, and is not retried blindly within
the run. How a later attempt avoids a duplicate depends on the receiver (`redelivery`): PagerDuty
deduplicates on `dedup_key` (re-post freely), a Slack bot finds its own message by the idempotency
key carried in the message metadata (`find_delivered`), and an incoming webhook, which cannot be
asked, is re-posted once with a note that it may be a repeat.

Secrets (webhook URLs, tokens, routing keys, header values) come from env vars or, through a
caller-supplied resolver, Prefect Secret blocks — this module never imports prefect. They are
resolved at send time (a missing one is a delivery failure, so the notification waits in the outbox
instead of being dropped) and redacted from every error message and every log line of the clients.
"""

from __future__ import annotations

import email.utils
import logging
import math
import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from http.client import RemoteDisconnected
from typing import Any, Literal, Protocol
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.webhook import WebhookClient

from watchkeeper.alerting.config import (
    ChannelConfig,
    ConsoleChannelConfig,
    DeliveryConfig,
    SlackChannelConfig,
    WebhookChannelConfig,
    url_problem,
)
from watchkeeper.alerting.messages import AlertMessage
from watchkeeper.alerting.render import render_generic, render_pagerduty, render_slack, render_text
from watchkeeper.redaction import RedactingFilter, Redactor
from watchkeeper.verdict import Severity

log = logging.getLogger("watchkeeper.alerting")

PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
# Notices (a promotion, a rollback) go to PagerDuty as change events: context, never an incident.
PAGERDUTY_CHANGE_PATH = "/v2/change/enqueue"


def pagerduty_change_url(events_url: str) -> str:
    """The change-events URL beside an events URL (`…/v2/enqueue` → `…/v2/change/enqueue`); a URL
    of another shape (a proxy) takes both kinds."""
    if events_url.endswith("/v2/enqueue"):
        return events_url[: -len("/v2/enqueue")] + PAGERDUTY_CHANGE_PATH
    return events_url


# Resolves a Prefect Secret block name to its value (None when it does not exist). The flow passes
# e.g. `lambda name: Secret.load(name).get()`; the library itself never imports prefect.
SecretResolver = Callable[[str], "str | None"]


class DeliveryError(Exception):
    """A channel could not deliver a message; the text is already free of secrets."""


class DeliveryUnknown(DeliveryError):
    """The request went out but no answer came back: the receiver may have accepted it."""


class DeliveryRefused(DeliveryError):
    """The channel's own settings make delivery impossible (a `file://` URL in a Secret block):
    no request went out, and no retry can help until the settings change."""


def postable_url(url: str, what: str) -> str:
    """`url` when alerts may be posted to it, else `DeliveryRefused` naming the channel, not the URL.

    URLs from env vars are checked at load; a Prefect Secret block is read only when sending, so its
    URL is checked here, before any request.
    """
    problem = url_problem(url)
    if problem is not None:
        raise DeliveryRefused(
            f"{what}: {problem}; not retried (fix the Secret block; later notifications use it)"
        )
    return url


# How a message whose earlier post had an unknown outcome (timed out, or its run stopped before the
# answer) is sent again without a duplicate: "dedup" — the receiver deduplicates (PagerDuty's
# dedup_key): re-post; "lookup" — ask the receiver (`find_delivered`) first; "once" — it cannot be
# asked: re-post once, saying it may be a repeat. Every channel declares one.
Redelivery = Literal["dedup", "lookup", "once"]

# Slack message metadata event type carrying a notification's idempotency key.
METADATA_EVENT_TYPE = "watchkeeper_notification"
REPEAT_NOTE = "This notification may be a repeat: an earlier attempt to send it got no answer."

# An answer that never came back after the request was sent (urllib raises these raw from
# `getresponse`; failures before the request was sent come wrapped in URLError).
_UNANSWERED = (TimeoutError, ConnectionError)


def _client_logger(channel: str, redact: Redactor) -> logging.Logger:
    """A logger for slack-sdk's clients that redacts before anything reaches a handler.

    slack-sdk logs the full request URL on retries — for an incoming webhook that URL is the secret.
    A private (unregistered) logger whose parent is ours keeps the filter off the global tree.
    """
    logger = logging.Logger(f"watchkeeper.alerting.http.{channel}")
    logger.parent = logging.getLogger("watchkeeper.alerting.http")
    logger.addFilter(RedactingFilter(redact))
    return logger


@dataclass
class RetryPolicy:
    """Retries of one send within one run; `sleep` is injectable so tests never wait."""

    max_retries: int = 3
    backoff_s: float = 0.5
    max_backoff_s: float = 10.0
    max_retry_after_s: float = 30.0
    timeout_s: float = 10.0
    sleep: Callable[[float], None] = time.sleep

    @classmethod
    def from_config(cls, config: DeliveryConfig, sleep: Callable[[float], None] = time.sleep) -> RetryPolicy:
        return cls(
            max_retries=config.max_retries,
            backoff_s=config.backoff_s,
            max_backoff_s=config.max_backoff_s,
            max_retry_after_s=config.max_retry_after_s,
            timeout_s=config.timeout_s,
            sleep=sleep,
        )

    def wait(self, seconds: float) -> None:
        if seconds > 0:
            self.sleep(seconds)

    def backoff(self, attempt: int) -> float:
        return min(self.backoff_s * (2**attempt), self.max_backoff_s)

    def retry_after(self, headers: Mapping[str, Any], attempt: int) -> float:
        """Seconds to wait after a 429: its Retry-After (seconds or HTTP date), capped; else backoff."""
        raw: Any = None
        for key, value in headers.items():
            if key.lower() == "retry-after":
                raw = value[0] if isinstance(value, list | tuple) and value else value
                break
        seconds: float | None = None
        if raw is not None:
            try:
                seconds = float(raw)
            except (TypeError, ValueError):
                try:
                    when = email.utils.parsedate_to_datetime(str(raw))
                    seconds = (when - datetime.now(UTC)).total_seconds()
                except (TypeError, ValueError):
                    seconds = None
        if seconds is None or math.isnan(seconds):
            return self.backoff(attempt)
        return min(max(seconds, 0.0), self.max_retry_after_s)

    def handlers(self, *, idempotent: bool = False) -> list[RetryHandler]:
        """slack-sdk retry handlers; a timed-out post is retried only where the receiver deduplicates."""
        return [
            _RateLimitRetry(self),
            _ServerErrorRetry(self),
            _ConnectionRetry(self, idempotent=idempotent),
        ]


class _RateLimitRetry(RateLimitErrorRetryHandler):
    """slack-sdk's 429 handler, waiting Retry-After through the policy (capped, injectable sleep)."""

    def __init__(self, policy: RetryPolicy) -> None:
        super().__init__(max_retry_count=policy.max_retries)
        self.policy = policy

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        if response is None:
            raise error  # type: ignore[misc]  # the base class does the same
        state.next_attempt_requested = True
        self.policy.wait(self.policy.retry_after(response.headers, state.current_attempt))
        state.increment_current_attempt()


class _BackoffMixin:
    """Exponential backoff between attempts, through the channel's (injectable) `RetryPolicy`."""

    policy: RetryPolicy

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        state.next_attempt_requested = True
        self.policy.wait(self.policy.backoff(state.current_attempt))
        state.increment_current_attempt()


class _ServerErrorRetry(_BackoffMixin, RetryHandler):
    """Retries 5xx answers that are usually transient, with exponential backoff."""

    RETRY_STATUSES = frozenset({500, 502, 503, 504})

    def __init__(self, policy: RetryPolicy) -> None:
        super().__init__(max_retry_count=policy.max_retries)
        self.policy = policy

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        return response is not None and response.status_code in self.RETRY_STATUSES


class _ConnectionRetry(_BackoffMixin, ConnectionErrorRetryHandler):
    """Retries refused connections (the request never left), with exponential backoff.

    Timeouts and connections dropped after sending are retried only for an idempotent receiver:
    elsewhere the first post may have arrived, and retrying it is how one alert was posted 5 times.
    """

    def __init__(self, policy: RetryPolicy, *, idempotent: bool = False) -> None:
        errors: list[type[Exception]] = [URLError]
        if idempotent:
            errors += [ConnectionError, RemoteDisconnected, TimeoutError]
        super().__init__(max_retry_count=policy.max_retries, error_types=errors)
        self.policy = policy


class Channel(Protocol):
    """Where notifications go. `grouped=False` channels get one message per alert event."""

    name: str
    min_severity: Severity
    send_resolved: bool
    grouped: bool
    redelivery: Redelivery

    def send(self, message: AlertMessage, *, key: str | None = None, maybe_repeat: bool = False) -> None:
        """Deliver `message`; `key` is its idempotency key, `maybe_repeat` asks for the repeat note."""
        ...

    def find_delivered(self, key: str) -> bool | None:
        """Whether a message carrying `key` was delivered; None when the receiver cannot tell."""
        ...


class SecretSource:
    def __init__(self, resolver: SecretResolver | None, env: Mapping[str, str], redact: Redactor) -> None:
        self.resolver = resolver
        self.env = env
        self.redact = redact

    def get(self, env_name: str | None, secret_name: str | None, what: str) -> str:
        value: str | None = None
        if env_name is not None:
            value = self.env.get(env_name)
            if not value:
                raise DeliveryError(f"{what}: environment variable {env_name} is not set")
        elif secret_name is not None:
            if self.resolver is None:
                raise DeliveryError(f"{what}: Secret block {secret_name!r} given but no secret resolver")
            try:
                value = self.resolver(secret_name)
            except Exception as exc:  # the resolver is the caller's code: any failure is "not available"
                raise DeliveryError(
                    f"{what}: cannot load Secret block {secret_name!r}: {type(exc).__name__}"
                ) from None
            if not value:
                raise DeliveryError(f"{what}: Secret block {secret_name!r} is empty or missing")
        if value is None:
            raise DeliveryError(f"{what}: no secret configured")
        self.redact.add(value, url_path=True)
        return value


class BaseChannel:
    grouped = True
    # A channel that does not say how its receiver avoids a copy is taken as one that cannot be asked.
    redelivery: Redelivery = "once"

    def __init__(self, name: str, min_severity: str, send_resolved: bool) -> None:
        self.name = name
        self.min_severity = Severity.parse(min_severity)
        self.send_resolved = send_resolved

    def find_delivered(self, key: str) -> bool | None:
        return None


def _with_repeat_note(text: str, blocks: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    note = {"type": "context", "elements": [{"type": "mrkdwn", "text": f":warning: {REPEAT_NOTE}"}]}
    return f"{text}\n({REPEAT_NOTE})", [*blocks[:49], note]


class SlackChannel(BaseChannel):
    """Slack incoming webhook or Web API (`chat.postMessage`), Block Kit with fallback text."""

    def __init__(
        self,
        config: SlackChannelConfig,
        policy: RetryPolicy,
        *,
        secret_resolver: SecretResolver | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(config.channel_name, config.min_severity, config.send_resolved)
        self.config = config
        self.policy = policy
        webhook = config.webhook_url_env is not None or config.webhook_url_secret is not None
        self.redelivery = "once" if webhook else "lookup"
        self.redact = Redactor()
        self._secrets = SecretSource(secret_resolver, os.environ if env is None else env, self.redact)
        self._logger = _client_logger(self.name, self.redact)

    def _web_client(self) -> WebClient:
        cfg = self.config
        token = self._secrets.get(cfg.token_env, cfg.token_secret, f"slack:{self.name}")
        kwargs: dict[str, Any] = {}
        if cfg.base_url is not None:
            kwargs["base_url"] = cfg.base_url
        return WebClient(
            token=token,
            timeout=max(1, math.ceil(self.policy.timeout_s)),
            logger=self._logger,
            retry_handlers=self.policy.handlers(),
            **kwargs,
        )

    def send(self, message: AlertMessage, *, key: str | None = None, maybe_repeat: bool = False) -> None:
        text, blocks = render_slack(message)
        if maybe_repeat:
            text, blocks = _with_repeat_note(text, blocks)
        cfg = self.config
        timeout = max(1, math.ceil(self.policy.timeout_s))
        try:
            if self.redelivery == "once":
                url = postable_url(
                    self._secrets.get(cfg.webhook_url_env, cfg.webhook_url_secret, f"slack:{self.name}"),
                    f"slack:{self.name}",
                )
                client = WebhookClient(
                    url, timeout=timeout, logger=self._logger, retry_handlers=self.policy.handlers()
                )
                response = client.send(text=text, blocks=blocks)
                if response.status_code != 200:
                    raise DeliveryError(
                        f"slack:{self.name}: HTTP {response.status_code}: {self.redact(response.body[:300])}"
                    )
            else:
                metadata = None
                if key is not None:
                    metadata = {"event_type": METADATA_EVENT_TYPE, "event_payload": {"key": key}}
                self._web_client().chat_postMessage(
                    channel=cfg.channel or "", text=text, blocks=blocks, metadata=metadata
                )
        except DeliveryError:
            raise
        except SlackApiError as exc:
            status = getattr(exc.response, "status_code", "?")
            error = exc.response.get("error") if hasattr(exc.response, "get") else None
            raise DeliveryError(f"slack:{self.name}: HTTP {status}: {self.redact(str(error))}") from None
        except _UNANSWERED as exc:
            raise DeliveryUnknown(
                f"slack:{self.name}: no answer ({type(exc).__name__}): it may have been posted"
            ) from None
        except (SlackRequestError, OSError, ValueError) as exc:
            raise DeliveryError(f"slack:{self.name}: {type(exc).__name__}: {self.redact(str(exc))}") from None

    def find_delivered(self, key: str) -> bool | None:
        """Look for our own message carrying `key` in the channel's recent history (bot token only).

        Needs the `channels:history` scope and `channel` as an id; any failure answers None ("cannot
        tell"), and the caller falls back to re-posting once with the repeat note.
        """
        if self.redelivery != "lookup":
            return None
        try:
            answer = self._web_client().conversations_history(
                channel=self.config.channel or "", limit=200, include_all_metadata=True
            )
        except (DeliveryError, SlackApiError, SlackRequestError, OSError, ValueError) as exc:
            log.warning("slack:%s: cannot look for an earlier post: %s", self.name, type(exc).__name__)
            return None
        for item in answer.get("messages") or []:
            meta = item.get("metadata") or {}
            if (
                meta.get("event_type") == METADATA_EVENT_TYPE
                and (meta.get("event_payload") or {}).get("key") == key
            ):
                return True
        return False


class WebhookChannel(BaseChannel):
    """JSON POST: a generic payload per message, or one PagerDuty Events v2 event per alert."""

    def __init__(
        self,
        config: WebhookChannelConfig,
        policy: RetryPolicy,
        *,
        secret_resolver: SecretResolver | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(config.channel_name, config.min_severity, config.send_resolved)
        self.config = config
        self.policy = policy
        # PagerDuty deduplicates per alert (dedup_key), so each event is its own request, and one
        # whose answer timed out can be posted again.
        self.grouped = config.format == "generic"
        self.redelivery = "once" if config.format == "generic" else "dedup"
        self.redact = Redactor()
        self._secrets = SecretSource(secret_resolver, os.environ if env is None else env, self.redact)
        self._logger = _client_logger(self.name, self.redact)

    def _headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        for header, env_name in self.config.headers_env.items():
            headers[header] = self._secrets.get(env_name, None, f"webhook:{self.name} header {header}")
        for header, block in self.config.headers_secret.items():
            headers[header] = self._secrets.get(None, block, f"webhook:{self.name} header {header}")
        return headers

    def send(self, message: AlertMessage, *, key: str | None = None, maybe_repeat: bool = False) -> None:
        cfg = self.config
        what = f"webhook:{self.name}"
        if cfg.url_env is None and cfg.url_secret is None:
            url = PAGERDUTY_EVENTS_URL
        else:
            url = postable_url(self._secrets.get(cfg.url_env, cfg.url_secret, what), what)
        headers = self._headers()
        bodies: list[tuple[str, dict[str, Any]]]
        if cfg.format == "pagerduty":
            key = self._secrets.get(cfg.routing_key_env, cfg.routing_key_secret, f"{what} routing key")
            bodies = [
                (pagerduty_change_url(url) if e.is_notice else url, render_pagerduty(e, message, key))
                for e in message.events
            ]
        else:
            body = render_generic(message)
            if key is not None:
                body["idempotency_key"] = key
            if maybe_repeat:
                body["possible_repeat"] = True
            bodies = [(url, body)]
        for target, body in bodies:
            client = WebhookClient(
                target,
                timeout=max(1, math.ceil(self.policy.timeout_s)),
                logger=self._logger,
                retry_handlers=self.policy.handlers(idempotent=cfg.format == "pagerduty"),
            )
            try:
                response = client.send_dict(body, headers=headers)
            except _UNANSWERED as exc:
                raise DeliveryUnknown(
                    f"{what}: no answer ({type(exc).__name__}): it may have arrived"
                ) from None
            except (SlackRequestError, OSError, ValueError) as exc:
                raise DeliveryError(f"{what}: {type(exc).__name__}: {self.redact(str(exc))}") from None
            if not 200 <= response.status_code < 300:
                raise DeliveryError(
                    f"{what}: HTTP {response.status_code}: {self.redact((response.body or '')[:300])}"
                )


class ConsoleChannel(BaseChannel):
    """Prints the plain-text rendering to stdout, or logs it at WARNING (`stream: log`).

    A run stopped while printing may have printed it: the next prints it once more, saying so.
    """

    def __init__(self, config: ConsoleChannelConfig | None = None) -> None:
        config = config or ConsoleChannelConfig(type="console")
        super().__init__(config.channel_name, config.min_severity, config.send_resolved)
        self.stream = config.stream

    def send(self, message: AlertMessage, *, key: str | None = None, maybe_repeat: bool = False) -> None:
        text = render_text(message)
        if maybe_repeat:
            text = f"{text}\n({REPEAT_NOTE})"
        if self.stream == "log":
            log.warning("%s", text)
        else:
            print(text, file=sys.stdout, flush=True)


class MemoryChannel(BaseChannel):
    """Keeps messages in a list; `fail` makes it refuse them (tests, dry runs)."""

    def __init__(
        self,
        name: str = "memory",
        *,
        min_severity: str = "warning",
        send_resolved: bool = True,
        grouped: bool = True,
        fail: bool = False,
    ) -> None:
        super().__init__(name, min_severity, send_resolved)
        self.grouped = grouped
        self.fail = fail
        self.messages: list[AlertMessage] = []

    def send(self, message: AlertMessage, *, key: str | None = None, maybe_repeat: bool = False) -> None:
        if self.fail:
            raise DeliveryError(f"memory:{self.name}: refusing (fail=True)")
        self.messages.append(message)


# Channels implemented in their own module, by config class; each registers itself there
# (`alertmanager.py`), and the package's __init__ imports it, so they are here before any build.
CHANNEL_TYPES: dict[type[Any], Callable[..., Channel]] = {}


def build_channels(
    configs: Iterable[ChannelConfig],
    *,
    delivery: DeliveryConfig | None = None,
    secret_resolver: SecretResolver | None = None,
    env: Mapping[str, str] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Channel]:
    """Channels for the configured entries; a console channel when none is configured."""
    delivery = delivery or DeliveryConfig()
    channels: list[Channel] = []
    environ = os.environ if env is None else env
    for cfg in configs:
        if cfg.enabled_if_env and not environ.get(cfg.enabled_if_env):
            continue
        policy = RetryPolicy.from_config(delivery, sleep)
        if isinstance(cfg, SlackChannelConfig):
            channels.append(SlackChannel(cfg, policy, secret_resolver=secret_resolver, env=env))
        elif isinstance(cfg, WebhookChannelConfig):
            channels.append(WebhookChannel(cfg, policy, secret_resolver=secret_resolver, env=env))
        elif isinstance(cfg, ConsoleChannelConfig):
            channels.append(ConsoleChannel(cfg))
        else:
            channels.append(CHANNEL_TYPES[type(cfg)](cfg, policy, secret_resolver=secret_resolver, env=env))
    return channels or [ConsoleChannel()]
