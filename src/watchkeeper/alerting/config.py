"""Configuration of alert rules and channels (the `alerts:` section of a model config).

```yaml
alerts:
  default_rules: true            # built-in rules (drift, performance, validation, no data, latency, errors)
  repeat_interval: 3d            # re-announce an alert still firing, in window time
  resolve_after: 1               # a firing alert not judged this many windows in a row resolves
  escalate_by: 2                 # re-announce a firing alert once it is twice as far past its threshold
  rules:
    - name: latency_p95
      condition: serving.latency_p95_ms > 250
      severity: warning
      for: 2                     # consecutive windows before it fires
      labels: {team: ml-platform}
      annotations:
        summary: "p95 latency {value:.0f} ms (threshold {threshold:.0f} ms)"
        resolved_summary: "p95 latency back to {value:.0f} ms"   # default: the figure vs its threshold now
        runbook_url: https://runbooks.example/latency
  channels:
    - type: slack
      webhook_url_env: SLACK_WEBHOOK_URL
      min_severity: warning
    - type: webhook
      format: pagerduty
      routing_key_env: PD_ROUTING_KEY
      min_severity: critical
  delivery: {max_retries: 3, backoff_s: 0.5}
  links:                         # in every channel's alerts
    runbook_base_url: https://git.example/watchkeeper/blob/main/   # makes docs/runbooks/… absolute
    dashboard_url: https://grafana.example/d/watchkeeper?var-model={model}
```

Conditions are parsed at load (`watchkeeper.alerting.expr`) and their figures checked against the
field registry; an error names the rule. Secrets are never in YAML: each channel names the env var
(`*_env`) or the Prefect Secret block (`*_secret`, resolved by the caller) that holds them.

Every URL a channel posts to is http or https with a host (`url_problem`), checked at load: those
written here (`base_url`) and those in the env vars a channel names, when the loader passes the
environment as validation context (`load_config` does). A URL in a Secret block is read only when
sending; the channel checks it there, before any request, and refuses the notification for good
(`DeliveryRefused`: ledger status `refused`, audited) instead of queueing it for every later run.

Two rules may share a name when their severities differ (a warning and a critical threshold of the
same figure); the critical one, while firing, inhibits the warning one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Annotated, Any, Literal
from urllib.parse import urljoin, urlsplit

from pydantic import Field, ValidationInfo, field_validator, model_validator

from watchkeeper.alerting.defaults import DEFAULT_RULES
from watchkeeper.alerting.rules import (
    LABEL_NAME_PATTERN,
    NAME_PATTERN,
    RESERVED_LABELS,
    RuleConfig,
    SeverityName,
)
from watchkeeper.configbase import StrictModel, parse_duration

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]{0,15}$")


def url_problem(url: str) -> str | None:
    """What makes `url` unfit to post alerts to (None when it is an http or https URL with a host).

    The answer never quotes the URL: a webhook URL is a secret. It names the scheme, which is not.
    """
    if any(c.isspace() or ord(c) < 32 for c in url):
        return "the URL holds whitespace or control characters"
    try:
        parts = urlsplit(url)
    except ValueError:
        return "not a URL"
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        named = f"scheme {scheme!r}" if _SCHEME.match(scheme) else "no scheme"
        return f"{named} is not allowed: alert URLs are http or https only"
    if not parts.hostname:
        return "the URL has no host"
    return None


def _env_url_problem(info: ValidationInfo, env_name: str | None, field: str) -> None:
    """Check the URL in the env var `env_name` when the loader passed the environment."""
    env = info.context.get("env") if isinstance(info.context, dict) else None
    if env_name is None or not isinstance(env, Mapping):
        return
    value = env.get(env_name)
    if value:
        problem = url_problem(value)
        if problem is not None:
            raise ValueError(f"`{field}`: environment variable {env_name}: {problem}")


class _ChannelBase(StrictModel):
    # Unique among the model's channels; it is part of each notification's idempotency key, so
    # renaming a channel re-sends nothing old but does forget what it already sent.
    name: str | None = Field(default=None, pattern=NAME_PATTERN)
    min_severity: SeverityName = "warning"
    send_resolved: bool = True
    # Only when the env var it names is set (e.g. a Slack webhook for the demo): unset, the channel
    # is left out instead of failing every delivery into the outbox.
    enabled_if_env: str | None = None

    @property
    def channel_name(self) -> str:
        return self.name or str(getattr(self, "type", "channel"))


def _one_secret(env: str | None, secret: str | None, what: str, required: bool = True) -> None:
    if env is not None and secret is not None:
        raise ValueError(f"give only one of `{what}_env` or `{what}_secret`")
    if required and env is None and secret is None:
        raise ValueError(f"give `{what}_env` (an env var name) or `{what}_secret` (a Secret block name)")


class SlackChannelConfig(_ChannelBase):
    """Slack: an incoming webhook, or the Web API (`chat.postMessage`) with a bot token and channel."""

    type: Literal["slack"]
    webhook_url_env: str | None = None
    webhook_url_secret: str | None = None
    token_env: str | None = None
    token_secret: str | None = None
    channel: str | None = None  # Web API only: "#alerts" or a channel id
    # Web API base URL (self-hosted proxies, tests); must end with "/".
    base_url: str | None = None

    @model_validator(mode="after")
    def _mode(self) -> SlackChannelConfig:
        webhook = self.webhook_url_env is not None or self.webhook_url_secret is not None
        token = self.token_env is not None or self.token_secret is not None
        if webhook == token:
            raise ValueError(
                "slack channel: give either `webhook_url_env`/`webhook_url_secret` (incoming webhook) "
                "or `token_env`/`token_secret` with `channel` (Web API)"
            )
        if webhook:
            _one_secret(self.webhook_url_env, self.webhook_url_secret, "webhook_url")
        else:
            _one_secret(self.token_env, self.token_secret, "token")
            if not self.channel:
                raise ValueError("slack channel: the Web API needs `channel`")
        if self.base_url is not None and not self.base_url.endswith("/"):
            raise ValueError("slack channel: `base_url` must end with '/'")
        return self

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        problem = None if value is None else url_problem(value)
        if problem is not None:
            raise ValueError(f"slack channel: `base_url`: {problem}")
        return value

    @model_validator(mode="after")
    def _env_url(self, info: ValidationInfo) -> SlackChannelConfig:
        _env_url_problem(info, self.webhook_url_env, "webhook_url_env")
        return self


class WebhookChannelConfig(_ChannelBase):
    """A JSON POST: a generic Alertmanager-like payload, or PagerDuty Events v2."""

    type: Literal["webhook"]
    url_env: str | None = None
    url_secret: str | None = None
    format: Literal["generic", "pagerduty"] = "generic"
    routing_key_env: str | None = None  # PagerDuty integration key
    routing_key_secret: str | None = None
    # Header name → env var (or Secret block) holding its value, e.g. {Authorization: HOOK_AUTH}.
    headers_env: dict[str, str] = Field(default_factory=dict)
    headers_secret: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _secrets(self) -> WebhookChannelConfig:
        # PagerDuty has a well-known endpoint; a generic webhook must say where to post.
        _one_secret(self.url_env, self.url_secret, "url", required=self.format == "generic")
        if self.format == "pagerduty":
            _one_secret(self.routing_key_env, self.routing_key_secret, "routing_key")
        return self

    @model_validator(mode="after")
    def _env_url(self, info: ValidationInfo) -> WebhookChannelConfig:
        _env_url_problem(info, self.url_env, "url_env")
        return self


class ConsoleChannelConfig(_ChannelBase):
    """Print notifications to stdout, or log them (logger `watchkeeper.alerting`)."""

    type: Literal["console"]
    stream: Literal["stdout", "log"] = "stdout"


class AlertmanagerChannelConfig(_ChannelBase):
    """Prometheus Alertmanager: every alert posted to its v2 API (`POST /api/v2/alerts`).

    Alertmanager then groups, inhibits, silences and routes them with the team's own configuration
    (`watchkeeper.alerting.alertmanager`). An alert's identity there is its label set: the rule's
    labels, `alertname`, `severity` and `model`, plus `labels` below, the same from firing to
    resolved; the window and the figures travel as annotations.
    """

    type: Literal["alertmanager"]
    url_env: str | None = None  # Alertmanager's base URL, e.g. http://alertmanager:9093
    url_secret: str | None = None
    # Header name → env var (or Secret block) holding its value (an Alertmanager behind a proxy).
    headers_env: dict[str, str] = Field(default_factory=dict)
    headers_secret: dict[str, str] = Field(default_factory=dict)
    # Static labels on every alert, for routing (`source="watchkeeper"` in a route's matchers).
    labels: dict[str, str] = Field(default_factory=lambda: {"source": "watchkeeper"})
    # A firing alert is posted with endsAt = now + expires_after; Watchkeeper re-posts it every
    # `alerts.repeat_interval` (window time) while it fires and resolves it explicitly, so keep this
    # longer than the repeat interval. If monitoring stops, the alert expires on its own.
    expires_after: timedelta = timedelta(days=4)
    # A relative runbook_url (`docs/runbooks/no_data.md`) is joined to this base in annotations.
    runbook_base_url: str | None = None
    # A dashboard link for the annotations; "{model}" is replaced by the alert's model.
    dashboard_url: str | None = None

    @field_validator("expires_after", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> timedelta:
        return parse_duration(value)

    @model_validator(mode="after")
    def _check(self) -> AlertmanagerChannelConfig:
        _one_secret(self.url_env, self.url_secret, "url")
        for key in self.labels:
            if key in RESERVED_LABELS or not re.match(LABEL_NAME_PATTERN, key):
                raise ValueError(
                    f"alertmanager channel: label {key!r} is reserved or not a Prometheus label name"
                )
        if self.expires_after <= timedelta(0):
            raise ValueError("alertmanager channel: `expires_after` must be positive")
        return self

    @model_validator(mode="after")
    def _env_url(self, info: ValidationInfo) -> AlertmanagerChannelConfig:
        _env_url_problem(info, self.url_env, "url_env")
        return self


ChannelConfig = Annotated[
    SlackChannelConfig | WebhookChannelConfig | ConsoleChannelConfig | AlertmanagerChannelConfig,
    Field(discriminator="type"),
]


class AlertLinksConfig(StrictModel):
    """Links every channel puts in an alert (`alerts.links`).

    Runbook links of the rules may be relative to the repository (`docs/runbooks/no_data.md`, what
    the built-in rules carry): with `runbook_base_url` they become absolute in every channel. The
    dashboard link replaces "{model}" by the model's name; without it, the flow links the dashboard
    it writes (the local file, which only a console reader on that machine can open).
    """

    runbook_base_url: str | None = None  # https://git.example/watchkeeper/blob/main/
    dashboard_url: str | None = None  # https://grafana.example/d/watchkeeper?var-model={model}

    @field_validator("runbook_base_url", "dashboard_url")
    @classmethod
    def _url(cls, value: str | None, info: ValidationInfo) -> str | None:
        problem = None if value is None else url_problem(value)
        if problem is not None:
            raise ValueError(f"alerts.links.{info.field_name}: {problem}")
        return value

    def runbook(self, url: str | None) -> str | None:
        """`url` made absolute against `runbook_base_url` when it is relative (and a base is set)."""
        if not url or self.runbook_base_url is None or urlsplit(url).scheme:
            return url
        return urljoin(self.runbook_base_url, url)

    def dashboard(self, model: str) -> str | None:
        return None if self.dashboard_url is None else self.dashboard_url.replace("{model}", model)


class DeliveryConfig(StrictModel):
    """Retries within one run; what still fails waits in the outbox for the next run."""

    max_retries: int = Field(default=3, ge=0, le=20)
    backoff_s: float = Field(default=0.5, ge=0)  # waits backoff_s × 2^attempt …
    max_backoff_s: float = Field(default=10.0, ge=0)  # … capped here
    # A 429's Retry-After is honoured up to this many seconds per wait.
    max_retry_after_s: float = Field(default=30.0, ge=0)
    timeout_s: float = Field(default=10.0, gt=0)
    # A notification being sent is claimed for this long, so a concurrent run does not send it too;
    # a crashed run's claim expires and the next run retries it.
    claim_s: float = Field(default=300.0, gt=0)


class AlertsConfig(StrictModel):
    enabled: bool = True
    default_rules: bool = True
    rules: tuple[RuleConfig, ...] = ()
    channels: tuple[ChannelConfig, ...] = ()
    repeat_interval: timedelta = timedelta(days=3)
    # A firing alert whose rule goes this many windows in a row without being judged resolves
    # ("no longer evaluated"); windows still waiting for their labels do not count.
    resolve_after: int = Field(default=1, ge=1)
    # A firing alert is announced again when its distance past the threshold has grown this many
    # times since its last announcement (None: never).
    escalate_by: float | None = Field(default=2.0, gt=1)
    delivery: DeliveryConfig = DeliveryConfig()
    links: AlertLinksConfig = AlertLinksConfig()

    @field_validator("repeat_interval", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> timedelta:
        return parse_duration(value)

    @model_validator(mode="after")
    def _unique(self) -> AlertsConfig:
        seen: set[tuple[str, str]] = set()
        for rule in self.rules:
            key = (rule.name, rule.severity)
            if key in seen:
                raise ValueError(f"rule {rule.name!r} is declared twice with severity {rule.severity}")
            seen.add(key)
        names = [c.channel_name for c in self.channels]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"channel names must be unique (set `name:`); repeated: {dupes}")
        return self

    def effective_rules(self) -> tuple[RuleConfig, ...]:
        """The configured rules, plus the built-in ones not overridden by (name, severity)."""
        if not self.default_rules:
            return self.rules
        mine = {(r.name, r.severity) for r in self.rules}
        return tuple(r for r in DEFAULT_RULES if (r.name, r.severity) not in mine) + self.rules

    def repeat_interval_for(self, rule: RuleConfig) -> timedelta:
        return rule.repeat_interval if rule.repeat_interval is not None else self.repeat_interval

    def resolve_after_for(self, rule: RuleConfig) -> int:
        return rule.resolve_after if rule.resolve_after is not None else self.resolve_after

    def escalate_by_for(self, rule: RuleConfig) -> float | None:
        return rule.escalate_by if rule.escalate_by is not None else self.escalate_by
