"""Alert texts: no `${VAR}` expansion (a secret would go out with every notification), capped widths.

Found by fault injection: `${WATCHKEEPER_SLACK_WEBHOOK_URL}` in a rule's summary was expanded at
load and the full webhook URL went to Slack, stdout, the state DB and report.json; a
`{value:>50000000}` template rendered a 50 MB string.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from watchkeeper.alerting.templates import MAX_WIDTH, check_template, render_template
from watchkeeper.config import ConfigError, load_config

WEBHOOK = "https://hooks.slack.com/services/T000/B000/PLANTEDs3cr3tXYZ"
REPO = Path(__file__).resolve().parents[3]


def _config_with_summary(tmp_path: Path, summary: str) -> Path:
    config = yaml.safe_load((REPO / "configs/models/credit-risk.yaml").read_text())
    config["alerts"]["rules"] = [
        {"name": "lat", "condition": "serving.latency_p95_ms > 250", "annotations": {"summary": summary}}
    ]
    path = tmp_path / "model.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_env_reference_in_an_alert_text_is_refused_not_expanded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATCHKEEPER_SLACK_WEBHOOK_URL", WEBHOOK)
    path = _config_with_summary(tmp_path, "latency high, see ${WATCHKEEPER_SLACK_WEBHOOK_URL}")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    text = str(err.value)
    assert "alerts.rules.0.annotations.summary" in text
    assert "not expanded in alert texts" in text
    assert "PLANTEDs3cr3t" not in text


def test_env_references_still_expand_in_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHKEEPER_STATE_DIR", str(tmp_path / "st"))
    config = load_config(_config_with_summary(tmp_path, "p95 {value:.0f} ms"))
    assert str(tmp_path / "st") in config.sources.inference_logs.path  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("spec", "ok"),
    [
        (".0f", True),
        (f">{MAX_WIDTH}", True),  # the cap itself is allowed
        (">50000000", False),  # the 50 MB string
        ("0>300", False),  # zero-filled, too wide
        (".100f", False),  # precision also renders long strings
    ],
)
def test_format_widths_are_capped_at_load(spec: str, ok: bool) -> None:
    text = f"p95 {{value:{spec}}} ms"
    if ok:
        check_template(text)
    else:
        with pytest.raises(ValueError, match="exceeds"):
            check_template(text)


def test_an_uncapped_spec_never_renders_wide() -> None:
    # A template that skipped the load check (built in code) still renders short.
    out = render_template("{value:>50000000}", {"value": 3.0}, {})
    assert out == "3"  # the default rendering, not 50 million spaces
