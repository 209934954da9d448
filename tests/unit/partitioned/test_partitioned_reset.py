"""The reset impact on a partitioned window: the in-memory sample's rows gathered from the
partitions and measured on the driver by the check itself, so the report is the in-memory one."""

from __future__ import annotations

import os
from typing import Any

import pytest

from tests.unit.partitioned.conftest import Window
from watchkeeper.checks import Window as CheckWindow
from watchkeeper.drift.reset_impact import ResetImpactCheck, ResetImpactReport
from watchkeeper.monitoring import FittedChecks
from watchkeeper.training import train_default
from watchkeeper.windows import Labels, load_window, read_reference


class Models:
    """A `ModelSource` that records which version it was asked for, and in which process."""

    def __init__(self, model: Any) -> None:
        self.model, self.calls = model, []  # type: ignore[var-annotated]

    def __call__(self, version: str | None) -> Any:
        self.calls.append((version, os.getpid()))
        return self.model


@pytest.fixture(scope="module")
def reset(window: Window) -> tuple[Models, FittedChecks]:
    reference = read_reference(window.config)
    model = train_default(reference.frame, columns=window.config.columns, task=window.config.model.task)
    models = Models(model)
    fit = ResetImpactCheck(models).fit(reference, window.config)
    assert fit is not None
    return models, FittedChecks(
        window.fitted.reference_fingerprint, {**window.fitted.fitted, "drift.reset": fit}
    )


def _in_memory(
    window: Window, fitted: FittedChecks, models: Models, labels: Labels | None
) -> ResetImpactReport:
    frame = load_window(window.config, window.start, window.end, labels=labels).frame
    report = ResetImpactCheck(models).evaluate(
        fitted.get("drift.reset"), CheckWindow(window.config, window.start, window.end, frame)
    )
    assert report is not None
    return report


@pytest.mark.parametrize(
    ("n_partitions", "with_labels"),
    [
        (1, True),  # the sample among the labeled rows, one partition
        (3, True),  # duplicated ids' rows (labeled at finalize) counted in their partitions' places
        (17, True),  # most partitions hand back a few rows, some none
        (3, False),  # no labels: the sample among all rows, the model's mean score
    ],
)
def test_reset_impact_is_the_in_memory_one(
    window: Window, reset: tuple[Models, FittedChecks], n_partitions: int, with_labels: bool
) -> None:
    models, fitted = reset
    labels = window.labels if with_labels else None
    exact = _in_memory(window, fitted, models, labels)
    models.calls.clear()
    result = window.partitioned(
        n_partitions=n_partitions,
        fitted=fitted,
        labels=labels,
        memory_budget=0,
        checks=(ResetImpactCheck(models),),
    )
    assert result.report.errors == {}
    got = result.report.section("drift.reset")
    assert got == exact
    assert got.metric == ("realized roc_auc" if with_labels else "mean score")
    assert got.n_rows == window.config.drift.reset_sample
    assert "drift.reset" not in result.report.section("partitioned").not_evaluated
    # Two model versions in the window: the champion (None), loaded once, on the driver.
    assert models.calls == [(None, os.getpid())]


def test_without_its_check_the_reset_impact_is_named_not_evaluated(
    window: Window, reset: tuple[Models, FittedChecks]
) -> None:
    _, fitted = reset
    result = window.partitioned(partition_rows=2500, fitted=fitted, memory_budget=0)
    assert "drift.reset" not in result.report.sections
    assert "ModelSource" in result.report.section("partitioned").not_evaluated["drift.reset"]
