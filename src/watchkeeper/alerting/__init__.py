"""Alerting: rules over a window's figures, Alertmanager-like state, and channels that lose nothing.

The same rules judge the window (`judge.judge_window`, through `MonitoringReport.verdict`) and drive
its alerts. The flow calls `evaluate_alerts(...)` once per model and window; the CLI manages silences with
`add_silence` / `list_silences` / `expire_silence` and retries the outbox with `flush_outbox`.
"""

from watchkeeper.alerting.alertmanager import AlertmanagerChannel
from watchkeeper.alerting.channels import (
    Channel,
    ConsoleChannel,
    DeliveryError,
    MemoryChannel,
    RetryPolicy,
    SecretResolver,
    SlackChannel,
    WebhookChannel,
    build_channels,
)
from watchkeeper.alerting.config import (
    AlertmanagerChannelConfig,
    AlertsConfig,
    ConsoleChannelConfig,
    DeliveryConfig,
    RuleConfig,
    SlackChannelConfig,
    WebhookChannelConfig,
)
from watchkeeper.alerting.delivery import NotificationRecord, flush_outbox
from watchkeeper.alerting.engine import AlertContext, evaluate_alerts, fingerprint
from watchkeeper.alerting.expr import ConditionError, parse_condition
from watchkeeper.alerting.report import AlertsReport, AlertStatus
from watchkeeper.alerting.store import (
    Silence,
    add_silence,
    expire_silence,
    list_outbox,
    list_silences,
    parse_matchers,
)

__all__ = [
    "AlertContext",
    "AlertStatus",
    "AlertmanagerChannel",
    "AlertmanagerChannelConfig",
    "AlertsConfig",
    "AlertsReport",
    "Channel",
    "ConditionError",
    "ConsoleChannel",
    "ConsoleChannelConfig",
    "DeliveryConfig",
    "DeliveryError",
    "MemoryChannel",
    "NotificationRecord",
    "RetryPolicy",
    "RuleConfig",
    "SecretResolver",
    "Silence",
    "SlackChannel",
    "SlackChannelConfig",
    "WebhookChannel",
    "WebhookChannelConfig",
    "add_silence",
    "build_channels",
    "evaluate_alerts",
    "expire_silence",
    "fingerprint",
    "flush_outbox",
    "list_outbox",
    "list_silences",
    "parse_condition",
    "parse_matchers",
]
