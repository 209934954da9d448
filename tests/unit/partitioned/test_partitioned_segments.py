"""Segments on a partitioned window: per (column, value) the window's drift and perf states,
grouped; the same report however the window is cut, and the in-memory figures and decisions.

The segments' references are small (a few hundred rows), so their numerical drift uses `ks` with
scipy's exact p-value: the sketch must reproduce it (and the integer columns' statistic exactly).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.unit.partitioned.conftest import Window, make_window
from tests.unit.partitioned.test_partitioned_window import _partitioned
from watchkeeper.checks import standard_checks
from watchkeeper.monitoring import WindowEvaluation, evaluate_window
from watchkeeper.partitioned.agreement import compare_figures, decisions, strip_volatile
from watchkeeper.sources import unregister_memory_frame
from watchkeeper.windows import load_window

SEGMENTS = {"segments": {"columns": ["home_ownership", "purpose"], "min_rows": 150}}


@pytest.fixture(scope="module")
def segmented(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Window]:
    w = make_window(tmp_path_factory.mktemp("segments"), rows=6_000, name="seg-model", extra=SEGMENTS)
    yield w
    for suffix in ("logs", "labels", "reference"):
        unregister_memory_frame(f"seg-model-{suffix}")


@pytest.fixture(scope="module")
def whole(segmented: Window) -> WindowEvaluation:
    checks = standard_checks(segmented.loaded.path, cache_dir=None, with_html=False)
    config = segmented.config
    return evaluate_window(
        checks,
        segmented.fitted,
        config=config,
        config_hash=segmented.loaded.hash,
        start=segmented.start,
        end=segmented.end,
        load=lambda: load_window(config, segmented.start, segmented.end, labels=segmented.labels),
        labels_complete=False,
    )


@pytest.fixture(scope="module")
def single(segmented: Window) -> WindowEvaluation:
    return _partitioned(segmented, 1, workers=1)


def test_segments_agree_with_the_window_in_memory(whole: WindowEvaluation, single: WindowEvaluation) -> None:
    exact, part = whole.report, single.report
    assert not part.errors
    assert compare_figures(exact, part) == []
    assert decisions(part) == decisions(exact)
    mine, theirs = part.section("segments"), exact.section("segments")
    assert [(r.column, r.label, r.n_rows, r.status) for r in mine.results] == [
        (r.column, r.label, r.n_rows, r.status) for r in theirs.results
    ]
    # Some segments are tested, some too small or unseen, and drift is found in some (BH-corrected).
    assert {r.status for r in theirs.results} >= {"ok"} and len({r.status for r in theirs.results}) > 1
    assert [f.message for f in mine.findings()] == [f.message for f in theirs.findings()]
    assert any(f.check == "segments" for f in part.findings)
    figures = part.figures()
    key = next(
        k for k in figures if k.startswith("segments.purpose.") and k.endswith(".perf.estimated.accuracy")
    )
    assert figures[key] == pytest.approx(exact.figures()[key], rel=1e-9)
    approximate = {a.figure for a in part.section("partitioned").approximate}
    assert any(a.startswith("segments.") and a.endswith(".perf.realized.roc_auc") for a in approximate)
    assert "segments" not in part.section("partitioned").not_evaluated


@pytest.mark.parametrize(
    "n_partitions",
    [
        3,  # segments split across partitions
        17,  # partitions without some segment values
    ],
)
def test_segments_do_not_depend_on_the_cut(
    segmented: Window, single: WindowEvaluation, n_partitions: int
) -> None:
    cut = _partitioned(segmented, n_partitions)
    assert strip_volatile(cut.report.to_dict()["sections"]["segments"]) == strip_volatile(
        single.report.to_dict()["sections"]["segments"]
    )
