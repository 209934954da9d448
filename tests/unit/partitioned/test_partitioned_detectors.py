"""The sequential detectors on a partitioned window: the same error stream as the window in memory
(pending on the perf section), so fed from the same state they give the same results."""

from __future__ import annotations

import numpy as np
import pytest

from tests.unit.partitioned.conftest import Window
from watchkeeper.checks import standard_checks
from watchkeeper.monitoring import WindowEvaluation, evaluate_window
from watchkeeper.partitioned.agreement import compare_figures, decisions, feed_detectors
from watchkeeper.performance import PerformanceReport
from watchkeeper.performance.evaluate import DEFER_DETECTORS
from watchkeeper.windows import load_window


def _partitioned(window: Window, n_partitions: int, *, labels_complete: bool = True) -> WindowEvaluation:
    return window.partitioned(n_partitions=n_partitions, labels_complete=labels_complete)


@pytest.fixture(scope="module")
def deferred(window: Window) -> WindowEvaluation:
    """The window in memory with its labels complete, the detectors left pending."""
    checks = standard_checks(window.loaded.path, cache_dir=None, with_html=False)
    config = window.config
    return evaluate_window(
        checks,
        window.fitted,
        config=config,
        config_hash=window.loaded.hash,
        start=window.start,
        end=window.end,
        load=lambda: load_window(config, window.start, window.end, labels=window.labels),
        labels_complete=True,
        state={"perf": DEFER_DETECTORS},
    )


def _perf(result: WindowEvaluation) -> PerformanceReport:
    perf = result.report.section("perf")
    assert isinstance(perf, PerformanceReport)
    return perf


@pytest.mark.parametrize(
    "n_partitions",
    [
        1,  # the merge of one partition's piece
        3,  # duplicated request ids in other partitions than their first occurrence (deferred rows)
        17,  # many small pieces, ties in time across partition boundaries
    ],
)
def test_detectors_fed_like_the_window_in_memory(
    window: Window, deferred: WindowEvaluation, n_partitions: int
) -> None:
    part = _partitioned(window, n_partitions)
    assert not part.report.errors
    assert "perf.detectors" not in part.report.section("partitioned").not_evaluated
    mine, theirs = _perf(part).pending, _perf(deferred).pending
    assert mine is not None and theirs is not None and mine.stream is not None and theirs.stream is not None
    assert (mine.feed, mine.why_not, mine.fingerprint) == (theirs.feed, theirs.why_not, theirs.fingerprint)
    assert mine.stream.name == theirs.stream.name == "error minus CBPE-expected error"
    for name in ("ts_ns", "ddm", "z", "labeled_ts_ns"):
        assert np.array_equal(getattr(mine.stream, name), getattr(theirs.stream, name)), name
    assert mine.stream.max_ts_ns == theirs.stream.max_ts_ns
    assert mine.stream.ts_ns.size == 4209  # the labeled rows with a prediction and a usable score
    # Nothing fed inside the partitioned path: the state is the caller's.
    assert _perf(part).detectors == {} and _perf(part).detector_state == {}
    # Fed from the same state, twice (the second: a re-evaluation, every row before the watermark).
    state = None
    for _ in range(2):
        a, b = feed_detectors(deferred, state), feed_detectors(part, state)
        pa, pb = _perf(a), _perf(b)
        assert pa.detectors == pb.detectors and pa.detectors_fed and pb.detectors_fed
        assert pa.detector_state == pb.detector_state and pa.detector_status == pb.detector_status
        assert compare_figures(a.report, b.report) == []
        assert decisions(a.report) == decisions(b.report)
        assert "perf.concept_drift" in b.report.figures()
        assert "perf.concept.ddm.drift" in b.report.figures()
        state = pb.detector_state
    assert state is not None and state["rows_consumed"] == 4209


def test_labels_incomplete_keep_no_stream(window: Window) -> None:
    # As in memory: the window waits for its labels, nothing streamed, the state left unchanged.
    pending = _perf(_partitioned(window, 3, labels_complete=False)).pending
    assert pending is not None and pending.stream is None and not pending.feed
    assert pending.why_not.startswith("waiting for labels")
