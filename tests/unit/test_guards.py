"""Bad input never passes as ok: tiny references, labels of other classes, rules on unknown columns.

Found by fault injection: a reference of 3 rows gave KS on n=3, no CBPE and verdict ok; labels
"no"/"yes"/"maybe" against 0/1 predictions gave verdict ok with accuracy 0.0; a rule on
`drift.incme.drifted` was accepted and could never fire.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest

from watchkeeper.checks import DriftCheck, PerformanceCheck, ServingCheck
from watchkeeper.config import ConfigError, parse_config
from watchkeeper.guards import ReferenceTooSmall
from watchkeeper.monitoring import evaluate_window, fit_checks
from watchkeeper.sources import register_memory_frame, unregister_memory_frame
from watchkeeper.verdict import Severity
from watchkeeper.windows import load_window, read_reference

T0 = datetime(2026, 3, 1, tzinfo=UTC)
CHECKS = (DriftCheck(), PerformanceCheck(), ServingCheck())


def _config(**extra: Any) -> Any:
    return parse_config(
        {
            "model": {"name": "m", "task": "binary_classification"},
            "columns": {"numerical_features": ["x"], "score": "score", "prediction": "prediction"},
            "sources": {
                "inference_logs": {"type": "memory", "name": "g-logs"},
                "ground_truth": {"type": "memory", "name": "g-labels"},
                "reference": {"type": "memory", "name": "g-ref"},
            },
            **extra,
        }
    )


def _rows(n: int, seed: int, start: datetime = T0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    score = rng.uniform(size=n)
    return pd.DataFrame(
        {
            "request_id": [f"{seed}-{i}" for i in range(n)],
            "timestamp": [start + timedelta(seconds=10 * i) for i in range(n)],
            "x": rng.normal(size=n),
            "score": score,
            "prediction": (score >= 0.5).astype("int64"),
            "target": (rng.uniform(size=n) < score).astype("int64"),
        }
    )


@pytest.fixture
def frames() -> Iterator[dict[str, pd.DataFrame]]:
    logs = _rows(400, 1)
    data = {"g-logs": logs.drop(columns="target"), "g-labels": logs[["request_id", "target"]]}
    for name, frame in data.items():
        register_memory_frame(name, frame)
    yield data
    for name in ("g-logs", "g-labels", "g-ref"):
        unregister_memory_frame(name)


def _evaluate(config: Any) -> Any:
    reference = read_reference(config)
    fitted = fit_checks(CHECKS, reference, config)
    return fitted, evaluate_window(
        CHECKS,
        fitted,
        config=config,
        config_hash="h",
        start=T0,
        end=T0 + timedelta(days=1),
        load=lambda: load_window(config, T0, T0 + timedelta(days=1)),
        labels_complete=True,
    ).report


def test_tiny_reference_is_an_error_of_the_checks_it_cannot_support(frames: dict) -> None:
    register_memory_frame("g-ref", _rows(3, 2))
    fitted, report = _evaluate(_config())
    assert isinstance(fitted.get("drift"), ReferenceTooSmall)
    assert isinstance(fitted.get("perf"), ReferenceTooSmall)
    assert report.errors["drift"] == (
        "reference has 3 row(s); the drift check needs at least 20 (min_reference_rows.drift)"
    )
    assert "perf" in report.errors
    assert "serving" in report.sections  # needs no reference: still judged
    assert report.verdict >= Severity.WARNING


def test_minimum_is_configurable_per_check(frames: dict) -> None:
    register_memory_frame("g-ref", _rows(30, 2))
    _, report = _evaluate(_config(min_reference_rows={"drift": 10, "perf": 10}))
    assert "drift" in report.sections and "perf" in report.sections
    _, strict = _evaluate(_config(min_reference_rows={"drift": 1000}))
    assert "drift" in strict.errors and "perf" in strict.errors  # perf keeps its default (50)


def test_labels_of_other_classes_are_an_error_naming_them(frames: dict) -> None:
    register_memory_frame("g-ref", _rows(400, 2))
    words = np.array(["no", "yes", "maybe"])[np.arange(400) % 3]
    register_memory_frame(
        "g-labels", pd.DataFrame({"request_id": frames["g-logs"]["request_id"], "target": words})
    )
    _, report = _evaluate(_config())
    message = report.errors["perf"]
    assert "['maybe', 'no', 'yes']" in message and "unmatched: ['maybe', 'no', 'yes']" in message
    assert report.verdict >= Severity.WARNING


def test_rule_on_an_unknown_column_fails_at_load() -> None:
    rule = {"name": "income_drift", "condition": "drift.incme.drifted == 1"}
    with pytest.raises(ConfigError) as err:
        _config(alerts={"rules": [rule]})
    text = str(err.value)
    assert "alerts.rules.0 (income_drift)" in text and "'incme'" in text and "'x'" in text
    _config(alerts={"rules": [{**rule, "condition": "drift.x.drifted == 1"}]})  # a configured one loads
