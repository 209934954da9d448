"""Per-segment drift and performance: small segments, unknown segments, correction across segments."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.unit.performance.synth import BINARY_COLUMNS, DAY, binary_frame
from watchkeeper.alerting.fields import is_known_field
from watchkeeper.config import TaskType
from watchkeeper.drift import DriftConfig
from watchkeeper.performance.baseline import fit_performance_baseline
from watchkeeper.performance.config import PerformanceConfig
from watchkeeper.segments import SegmentsConfig, evaluate_segments, fit_segments

COLUMNS = BINARY_COLUMNS.model_copy(update={"categorical_features": ("region",)})


def with_region(frame: pd.DataFrame, rng: np.random.Generator, shares: dict[str, float]) -> pd.DataFrame:
    names = list(shares)
    return frame.assign(region=rng.choice(names, size=len(frame), p=list(shares.values())))


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(10)
    ref = pd.concat([binary_frame(rng, 1500, day=d) for d in range(-6, 0)], ignore_index=True)
    ref = with_region(ref, rng, {"north": 0.6, "south": 0.38, "tiny": 0.02})
    perf = PerformanceConfig()
    baseline = fit_performance_baseline(
        ref, columns=COLUMNS, task=TaskType.BINARY, config=perf, window_size=DAY
    )
    return fit_segments(
        ref,
        SegmentsConfig(columns=("region",), min_rows=300),
        columns=COLUMNS,
        task=TaskType.BINARY,
        drift=DriftConfig(),
        performance=perf,
        baseline=baseline,
        window_size=DAY,
    )


def test_short_form_of_the_config():
    assert SegmentsConfig.model_validate(["region", "channel"]).columns == ("region", "channel")


def test_a_shift_in_one_segment_shows_in_that_segment_only(fitted):
    rng = np.random.default_rng(11)
    north = with_region(binary_frame(rng, 2000, day=0, shift=1.0), rng, {"north": 1.0})
    south = with_region(binary_frame(rng, 1500, day=0), rng, {"south": 1.0})
    new = with_region(binary_frame(rng, 400, day=0), rng, {"west": 1.0})
    tiny = with_region(binary_frame(rng, 20, day=0), rng, {"tiny": 1.0})
    report = evaluate_segments(
        fitted, pd.concat([north, south, new, tiny], ignore_index=True), labels_complete=True
    )
    by = {r.label: r for r in report.results}
    assert by["north"].drift.column("x1").drifted and not by["south"].drift.column("x1").drifted
    assert by["west"].status == "not tested: not in the reference" and by["west"].n_rows == 400
    assert by["tiny"].status.startswith("too small:")
    figures = report.figures()
    assert figures["region.north.drift.x1.drifted"] == 1.0 and figures["region.south.drift.x1.drifted"] == 0.0
    assert (
        "region.north.perf.estimated.roc_auc" in figures and "region.north.perf.realized.roc_auc" in figures
    )
    assert figures["region.n_segments"] == 2.0
    assert all(is_known_field(f"segments.{k}") for k in figures)
    # Large references take distance methods (Wasserstein): no p-values, so nothing to adjust.
    assert report.correction == "bh" and by["north"].drift.column("x1").method == "wasserstein"


def test_correction_across_segments_adjusts_p_values():
    # Small references take p-value methods (KS): the adjusted p-value is at least the raw one.
    rng = np.random.default_rng(12)
    ref = with_region(
        pd.concat([binary_frame(rng, 400, day=d) for d in range(-2, 0)]), rng, {"a": 0.5, "b": 0.5}
    )
    fit = fit_segments(
        ref,
        SegmentsConfig(columns=("region",), min_rows=100),
        columns=COLUMNS,
        task=TaskType.BINARY,
        drift=DriftConfig(),
        performance=PerformanceConfig(),
        baseline=None,
        window_size=DAY,
    )
    window = with_region(binary_frame(rng, 600, day=0), rng, {"a": 0.5, "b": 0.5})
    report = evaluate_segments(fit, window, labels_complete=False)
    cols = [c for r in report.results for c in r.drift.columns if c.p_value is not None]
    assert len(cols) == 4 and all(c.p_value_adjusted >= c.p_value for c in cols)
    assert any(c.p_value_adjusted > c.p_value for c in cols)
