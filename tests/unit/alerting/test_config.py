"""The `alerts:` config: rules checked at load, channels as a discriminated union, default rules."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from watchkeeper.alerting.config import AlertsConfig, SlackChannelConfig, WebhookChannelConfig
from watchkeeper.alerting.defaults import DEFAULT_RULES


def _rules(*rules: dict[str, object]) -> dict[str, object]:
    return {"default_rules": False, "rules": list(rules)}


def test_full_config_parses() -> None:
    cfg = AlertsConfig.model_validate(
        {
            "repeat_interval": "2d",
            "rules": [
                {
                    "name": "latency_p95",
                    "condition": "serving.latency_p95_ms > 250",
                    "severity": "critical",
                    "for": 3,
                    "labels": {"team": "ml"},
                    "annotations": {
                        "summary": "p95 {value:.0f} ms > {threshold:.0f} ms",
                        "runbook_url": "https://runbooks.example/latency",
                    },
                    "repeat_interval": "12h",
                    "send_resolved": False,
                }
            ],
            "channels": [
                {"type": "slack", "webhook_url_env": "SLACK_URL", "min_severity": "critical"},
                {"type": "webhook", "name": "pd", "format": "pagerduty", "routing_key_env": "PD_KEY"},
                {"type": "console"},
            ],
        }
    )
    rule = cfg.rules[0]
    assert (rule.for_, rule.repeat_interval, rule.send_resolved) == (3, timedelta(hours=12), False)
    assert cfg.repeat_interval == timedelta(days=2)
    assert cfg.repeat_interval_for(rule) == timedelta(hours=12)
    assert [type(c).__name__ for c in cfg.channels] == [
        "SlackChannelConfig",
        "WebhookChannelConfig",
        "ConsoleChannelConfig",
    ]
    assert [c.channel_name for c in cfg.channels] == ["slack", "pd", "console"]
    # the user's rule comes after every built-in one
    assert cfg.effective_rules()[-1] == rule
    assert len(cfg.effective_rules()) == len(DEFAULT_RULES) + 1


def _error(data: dict[str, object]) -> str:
    with pytest.raises(ValidationError) as info:
        AlertsConfig.model_validate(data)
    return str(info.value)


def test_syntax_error_names_the_rule_and_column() -> None:
    text = _error(_rules({"name": "too_slow", "condition": "serving.latency_p95_ms >> 250"}))
    assert "rules.0.condition" in text
    assert "rule 'too_slow'" in text
    assert "column 25" in text


def test_unknown_field_names_the_rule() -> None:
    text = _error(
        _rules(
            {"name": "ok_rule", "condition": "drift.share > 0.3"},
            {"name": "typo", "condition": "perf.estimated.roc_acu < 0.7"},
        )
    )
    assert "rules.1.condition" in text
    assert "rule 'typo'" in text and "unknown figure 'perf.estimated.roc_acu'" in text


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"name": "x", "condition": "drift.share > 0", "for": 0}, "greater than or equal to 1"),
        ({"name": "x", "condition": "drift.share > 0", "severity": "info"}, "'warning' or 'critical'"),
        ({"name": "x", "condition": "drift.share > 0", "labels": {"severity": "a"}}, "set by the engine"),
        ({"name": "x", "condition": "drift.share > 0", "annotations": {"summary": "{vlue}"}}, "{vlue}"),
        ({"name": "x", "condition": "drift.share > 0", "repeat_interval": "soon"}, "invalid duration"),
        ({"name": "x", "condition": "drift.share > 0", "unknown": 1}, "Extra inputs"),
    ],
)
def test_rule_field_errors(rule: dict[str, object], message: str) -> None:
    assert message in _error(_rules(rule))


def test_same_name_needs_different_severities() -> None:
    rule = {"name": "lat", "condition": "serving.latency_p95_ms > 250"}
    assert "declared twice" in _error(_rules(rule, rule))
    # a warning and a critical threshold of the same rule name is the intended pattern
    AlertsConfig.model_validate(_rules(rule, {**rule, "severity": "critical"}))


@pytest.mark.parametrize(
    ("channel", "message"),
    [
        ({"type": "pager"}, "does not match any of the expected tags"),
        ({"type": "slack"}, "give either"),
        ({"type": "slack", "webhook_url_env": "A", "token_env": "B"}, "give either"),
        ({"type": "slack", "token_env": "B"}, "needs `channel`"),
        ({"type": "slack", "token_env": "B", "channel": "#x", "base_url": "http://h/api"}, "end with '/'"),
        ({"type": "webhook"}, "give `url_env`"),
        ({"type": "webhook", "url_env": "U", "url_secret": "s"}, "only one of"),
        ({"type": "webhook", "format": "pagerduty"}, "routing_key"),
        ({"type": "slack", "webhook_url": "https://hooks.slack.com/x"}, "Extra inputs"),  # no secrets in YAML
    ],
)
def test_channel_errors(channel: dict[str, object], message: str) -> None:
    assert message in _error({"channels": [channel]})


def test_channel_names_unique() -> None:
    two = [{"type": "console"}, {"type": "console"}]
    assert "channel names must be unique" in _error({"channels": two})
    AlertsConfig.model_validate({"channels": [{"type": "console"}, {"type": "console", "name": "c2"}]})


def test_default_rules_switch_and_override() -> None:
    assert AlertsConfig().effective_rules() == DEFAULT_RULES
    assert AlertsConfig(default_rules=False).effective_rules() == ()
    mine = {"name": "data_drift", "condition": "drift.share >= 0.2", "severity": "warning"}
    rules = AlertsConfig.model_validate({"rules": [mine]}).effective_rules()
    drift = [r for r in rules if r.name == "data_drift"]
    # the warning is replaced, the built-in critical stays
    assert sorted((r.severity, r.condition) for r in drift) == [
        ("critical", "drift.share >= 0.5"),
        ("warning", "drift.share >= 0.2"),
    ]


def test_default_rules_cover_the_issue_list() -> None:
    names = {r.name for r in DEFAULT_RULES}
    assert {"data_drift", "performance_drop", "validation_failure", "no_data", "high_latency"} <= names
    assert "high_error_rate" in names


def test_secret_references_only() -> None:
    slack = SlackChannelConfig.model_validate({"type": "slack", "token_secret": "slack-bot", "channel": "#a"})
    hook = WebhookChannelConfig.model_validate(
        {"type": "webhook", "url_env": "HOOK", "headers_env": {"Authorization": "HOOK_AUTH"}}
    )
    assert slack.token_secret == "slack-bot" and hook.headers_env == {"Authorization": "HOOK_AUTH"}


def test_model_config_file_error_names_file_and_rule(tmp_path: Path) -> None:
    """Through the project's loader: the message names the file, the key path and the rule."""
    from watchkeeper.config import ConfigError, load_config

    data = {
        "model": {"name": "churn", "task": "binary_classification"},
        "columns": {"numerical_features": ["age"]},
        "sources": {
            "inference_logs": {"type": "parquet", "path": "logs/"},
            "reference": {"type": "parquet", "path": "ref.parquet"},
        },
        "alerts": {"rules": [{"name": "gpu_hot", "condition": "health.gpu.max_util_pct >> 95"}]},
    }
    path = tmp_path / "churn.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    text = str(info.value)
    assert str(path) in text
    assert "alerts.rules.0.condition" in text
    assert "rule 'gpu_hot'" in text
