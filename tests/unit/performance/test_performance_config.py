"""The `performance:` config section: defaults, YAML spellings and located errors."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from watchkeeper.performance.config import PerformanceConfig


def test_defaults() -> None:
    cfg = PerformanceConfig()
    assert cfg.enabled and cfg.band_k == 3.0 and cfg.primary_metric is None
    assert (cfg.ddm.warning_level, cfg.ddm.drift_level, cfg.ddm.min_samples) == (3.0, 4.0, 1000)
    assert (cfg.page_hinkley.delta, cfg.page_hinkley.lambda_, cfg.page_hinkley.alpha) == (0.05, 100.0, 1.0)
    assert cfg.gap.metrics == ("accuracy", "roc_auc") and cfg.cbpe.calibration == "auto"


def test_yaml_spelling_of_lambda_and_thresholds() -> None:
    cfg = PerformanceConfig.model_validate(
        {
            "primary_metric": "accuracy",
            "thresholds": {"accuracy": {"lower": 0.7}, "log_loss": {"upper": 0.6, "severity": "warning"}},
            "page_hinkley": {"lambda": 50, "delta": 0.1},
        }
    )
    assert cfg.page_hinkley.lambda_ == 50.0
    assert cfg.thresholds["accuracy"].severity == "critical"
    assert cfg.thresholds["log_loss"].upper == 0.6


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"primary_metric": "acuracy"}, "unknown metric 'acuracy'; expected one of: accuracy"),
        ({"thresholds": {"auc": {"lower": 0.5}}}, "unknown metric 'auc'"),
        ({"thresholds": {"accuracy": {}}}, "give `lower`, `upper` or both"),
        ({"gap": {"metrics": ["log_loss"]}}, "unknown gap metric 'log_loss'"),
        ({"ddm": {"warning_level": 4, "drift_level": 3}}, "warning_level must be below drift_level"),
        ({"page_hinkley": {"alpha": 1.5}}, "less than or equal to 1"),
        ({"cbpe": {"calibration": "platt"}}, "'auto', 'always' or 'never'"),
        ({"band_k": 3, "bandk": 2}, "Extra inputs are not permitted"),
    ],
)
def test_invalid_values_say_what_is_wrong(data: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace("`", "`")):
        PerformanceConfig.model_validate(data)
