"""A regression model (the demo's house prices) on a partitioned window: DLE's estimates and the
regression gap test from merged sums, equal to the window in memory, whatever the cut."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.unit.partitioned.conftest import REPO, Window
from tests.unit.partitioned.test_partitioned_window import _partitioned
from watchkeeper import demo_data
from watchkeeper.checks import standard_checks
from watchkeeper.config import load_config_file
from watchkeeper.monitoring import WindowEvaluation, evaluate_window, fit_checks
from watchkeeper.partitioned.agreement import compare_figures, decisions, strip_volatile
from watchkeeper.sources import register_memory_frame, unregister_memory_frame
from watchkeeper.windows import ReferenceData, load_window, read_labels

DAY = demo_data.HOUSE_SHIFT_FROM  # the shifted houses: DLE's estimate moves


def _predicted(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    # A model whose error grows with the distance to the centre (something for DLE to learn).
    rng = np.random.default_rng(seed)
    price = demo_data.house_price(frame, np.random.default_rng(0))
    noise = rng.normal(0.0, 0.05 + 0.02 * frame["distance_km"].to_numpy(), len(frame))
    version = np.where(np.arange(len(frame)) % 4 == 0, "2", "1")
    return frame.assign(prediction=price * np.exp(noise), model_version=version)


@pytest.fixture(scope="module")
def house(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Window]:
    name = "part-house"
    reference = _predicted(demo_data.make_house_reference(3, rows=3_000, days=6), 1)
    logs, labels = demo_data.make_house_day(DAY, 3, rows=4_000)
    logs = _predicted(logs, 2)
    config = yaml.safe_load((REPO / "configs/models/house-prices.yaml").read_text())
    config["model"]["name"] = name
    config["sources"] = {
        "inference_logs": {"type": "memory", "name": f"{name}-logs"},
        "ground_truth": {"type": "memory", "name": f"{name}-labels"},
        "reference": {"type": "memory", "name": f"{name}-reference"},
    }
    config["segments"] = {"columns": ["condition"], "min_rows": 150}
    path = tmp_path_factory.mktemp("house") / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    frames = {"logs": logs, "labels": labels.iloc[: len(labels) * 3 // 4], "reference": reference}
    for suffix, frame in frames.items():
        register_memory_frame(f"{name}-{suffix}", frame)
    loaded = load_config_file(path)
    checks = standard_checks(path, cache_dir=None, with_html=False)
    fitted = fit_checks(checks, ReferenceData(reference), loaded.config)
    start = demo_data.day_plan(DAY).start
    yield Window(loaded, logs, read_labels(loaded.config), fitted, start, start + timedelta(days=1))
    for suffix in frames:
        unregister_memory_frame(f"{name}-{suffix}")


@pytest.fixture(scope="module")
def whole(house: Window) -> WindowEvaluation:
    checks = standard_checks(house.loaded.path, cache_dir=None, with_html=False)
    config = house.config
    return evaluate_window(
        checks,
        house.fitted,
        config=config,
        config_hash=house.loaded.hash,
        start=house.start,
        end=house.end,
        load=lambda: load_window(config, house.start, house.end, labels=house.labels),
        labels_complete=False,
    )


def _assert_same(a: object, b: object, path: str = "") -> None:
    # Prices are ~1e5: sums added in another order differ in the 14th digit, below 9 decimals' reach.
    if isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            _assert_same(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_same(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-12, abs=1e-9), path
    else:
        assert a == b, path


def test_dle_and_the_regression_gap_agree_with_memory_however_cut(
    house: Window, whole: WindowEvaluation
) -> None:
    one = _partitioned(house, 1, workers=1)
    exact, part = whole.report, one.report
    assert not part.errors
    assert compare_figures(exact, part) == []
    assert decisions(part) == decisions(exact)
    figures = part.figures()
    for key in ("perf.estimated.mae", "perf.estimated.rmse.upper", "perf.concept.gap.mae"):
        assert figures[key] == pytest.approx(exact.figures()[key], rel=1e-9), key
    assert any(k.startswith("segments.condition.") and k.endswith("perf.estimated.mae") for k in figures)
    assert part.section("partitioned").not_evaluated == {}
    # 3: uneven partitions; 17: versions and conditions absent from some.
    for n in (3, 17):
        cut = _partitioned(house, n)
        _assert_same(strip_volatile(cut.report.to_dict()), strip_volatile(one.report.to_dict()))
