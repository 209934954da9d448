"""Evidently's page rendered in the page process: the same page as in this process, and never lost
when that process fails."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from watchkeeper.drift import page_process
from watchkeeper.drift.html import EvidentlyInputs, sample_evidently_inputs

from .test_html import CLASSIFICATION, frames

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore")]


@pytest.fixture
def inputs() -> EvidentlyInputs:
    reference, current = frames(120)
    return sample_evidently_inputs(reference, current, **CLASSIFICATION)


@pytest.fixture
def started() -> Iterator[page_process.PageProcess]:
    page_process.start_page_process()
    process = page_process._current
    assert process is not None
    yield process
    page_process.stop_page_process()


def _landmarks(page: str) -> tuple[bool, ...]:
    # Evidently's pages carry random widget ids: what must agree is what the page shows.
    return (
        'id="watchkeeper-sample-note"' in page,
        "reference 100 of 120 rows, current 100 of 120 rows" in page,
        "preset was left out" in page,
        "ClassificationQuality" in page or "Classification" in page,
        "DriftedColumnsCount" in page or "Drift" in page,
    )


def test_the_page_process_renders_the_page_this_process_renders(
    started: page_process.PageProcess, inputs: EvidentlyInputs
) -> None:
    there = page_process.render_page(inputs)
    here = page_process.render_evidently_html(inputs)
    assert _landmarks(there) == _landmarks(here) == (True, True, False, True, True)
    assert abs(len(there) - len(here)) < 0.01 * len(here)
    # The process stays up for the next page (a backfill renders one per window).
    assert started._process.is_alive()
    assert _landmarks(page_process.render_page(inputs)) == _landmarks(here)


def test_a_page_process_that_died_costs_no_page(
    started: page_process.PageProcess, inputs: EvidentlyInputs, caplog: pytest.LogCaptureFixture
) -> None:
    started._process.kill()
    started._process.join()
    with caplog.at_level(logging.WARNING, logger="watchkeeper.drift.page_process"):
        page = page_process.render_page(inputs)
        assert _landmarks(page)[:2] == (True, True)
        assert "the page process stopped" in caplog.text
        # Not used again: the next page goes straight to this process.
        assert started._broken
        assert _landmarks(page_process.render_page(inputs))[:2] == (True, True)
        assert "stopped earlier" in caplog.text


def test_without_a_page_process_the_page_is_rendered_here(inputs: EvidentlyInputs) -> None:
    assert page_process._current is None
    assert _landmarks(page_process.render_page(inputs))[:2] == (True, True)
