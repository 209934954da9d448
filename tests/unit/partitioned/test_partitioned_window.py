"""The partitioned path on one window: the same report however the window is cut, and the same
decisions and exact figures as the window evaluated in memory (approximate ones within bounds)."""

from __future__ import annotations

import pytest

from tests.unit.partitioned.conftest import Window
from watchkeeper.checks import standard_checks
from watchkeeper.drift.embeddings import EmbeddingsConfig, EmbeddingsFit
from watchkeeper.execution import ExecutionConfig
from watchkeeper.monitoring import FittedChecks, WindowEvaluation, evaluate_window
from watchkeeper.partitioned.agreement import compare_figures, decisions, strip_volatile
from watchkeeper.partitioned.engine import (
    LocalMapper,
    PartitionedSource,
    evaluate_partitioned,
    not_evaluated_checks,
    plan_window,
)
from watchkeeper.partitioned.partitions import slice_time
from watchkeeper.verdict import Severity
from watchkeeper.windows import load_window


def _partitioned(window: Window, n_partitions: int, workers: int = 2) -> WindowEvaluation:
    return window.partitioned(n_partitions=n_partitions, labels_complete=False, workers=workers)


@pytest.fixture(scope="module")
def in_memory(window: Window) -> WindowEvaluation:
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
        labels_complete=False,
    )


@pytest.fixture(scope="module")
def one_partition(window: Window) -> WindowEvaluation:
    return _partitioned(window, 1, workers=1)


@pytest.mark.parametrize(
    "n_partitions",
    [
        3,  # uneven, duplicated request ids fall in different partitions
        17,  # many small partitions, some versions and categories absent from some
    ],
)
def test_same_report_however_the_window_is_cut(
    window: Window, one_partition: WindowEvaluation, n_partitions: int
) -> None:
    cut = _partitioned(window, n_partitions)
    assert not cut.report.errors
    assert strip_volatile(cut.report.to_dict()) == strip_volatile(one_partition.report.to_dict())


def test_decisions_and_exact_figures_match_the_window_in_memory(
    in_memory: WindowEvaluation, one_partition: WindowEvaluation
) -> None:
    exact, part = in_memory.report, one_partition.report
    assert not part.errors
    assert decisions(part) == decisions(exact)
    assert compare_figures(exact, part) == []
    # The window's duplicates cross the cut and are counted; only first occurrences got labels.
    assert part.section("window").duplicate_request_ids == 3
    approximate = part.section("partitioned").approximate
    assert {a.figure for a in approximate} >= {
        "drift.age.score",
        "perf.realized.roc_auc",
        "perf.estimated.roc_auc",
        "perf.estimated.roc_auc.lower",
        "perf.estimated.roc_auc.upper",
        "perf.concept.gap.roc_auc",
        "serving.latency_p95_ms",
    }
    assert all(a.decision_exact is not False for a in approximate)
    # CBPE, the gap test and multivariate drift are there, not left to the window in memory.
    figures = part.figures()
    for key in (
        "perf.estimated.accuracy",
        "perf.estimated.f1.upper",
        "perf.version.2.estimated.precision",
        "perf.concept.gap.accuracy",
        "drift.multivariate.reconstruction_error",
        "drift.multivariate.sampling_error",
        "drift.multivariate.domain_classifier.auc",
    ):
        assert figures[key] == pytest.approx(exact.figures()[key], rel=1e-9), key
    assert part.section("drift.multivariate").findings() == exact.section("drift.multivariate").findings()
    assert part.section("partitioned").not_evaluated == {}


def test_validation_merged_over_partitions_equals_gx_on_the_whole_window(
    window: Window, in_memory: WindowEvaluation
) -> None:
    whole = in_memory.report.section("validation")
    merged = _partitioned(window, 5).report.section("validation")
    assert [(r.index, r.type, r.success, r.unexpected_count) for r in merged.results] == [
        (r.index, r.type, r.success, r.unexpected_count) for r in whole.results
    ]
    assert any(r.failed for r in whole.results)  # the drifted day breaks the suite somewhere


def test_bad_partition_names_itself(window: Window) -> None:
    broken = window.logs.assign(age="old")  # a numerical feature holding text
    source = plan_window(
        window.config,
        ExecutionConfig(partition_rows=2000),
        window.start,
        window.end,
        frame=broken,
        force=True,
    )
    assert source is not None
    with pytest.raises(Exception, match=r"partition 0 \(rows 0\.\.1500\).*age \(object\)"):
        evaluate_partitioned(
            window.fitted,
            source,
            LocalMapper(1),
            config=window.config,
            config_hash="x",
            start=window.start,
            end=window.end,
            labels=window.labels,
            labels_complete=False,
            memory_budget=0,
        )


def test_time_slices_of_any_source_give_the_same_report(
    window: Window, one_partition: WindowEvaluation
) -> None:
    # A SQL table or CSV files are cut by time ranges, each read by its own query.
    source = PartitionedSource(
        window.config.sources.inference_logs, tuple(slice_time(window.start, window.end, 3)), 0
    )
    cut = evaluate_partitioned(
        window.fitted,
        source,
        LocalMapper(2),
        config=window.config,
        config_hash=window.loaded.hash,
        start=window.start,
        end=window.end,
        labels=window.labels,
        labels_complete=False,
        memory_budget=0,
    )
    assert strip_volatile(cut.report.to_dict()) == strip_volatile(one_partition.report.to_dict())


def test_checks_without_a_partitioned_evaluation_are_named_and_warn(window: Window) -> None:
    # Embedding drift and the reset impact (fitted here as stand-ins) have no partitioned
    # evaluation; the detectors, with the labels complete, are pending on the perf section.
    fitted = FittedChecks(
        window.fitted.reference_fingerprint,
        {
            **window.fitted.fitted,
            "drift.embeddings": object(),
            "drift.reset": object(),
            "evidently_report": object(),
        },
    )
    result = window.partitioned(partition_rows=2500, fitted=fitted, memory_budget=0)
    report = result.report
    section = report.section("partitioned")
    assert set(section.not_evaluated) == {
        "drift.embeddings",
        "drift.reset",
        "evidently_report",
    }
    assert report.section("perf").pending.feed
    assert report.to_dict()["sections"]["partitioned"]["not_evaluated"]["drift.reset"].startswith(
        "not evaluated on partitioned windows: "
    )
    [finding] = [f for f in report.findings if f.check == "partitioned"]
    assert finding.severity is Severity.WARNING and finding.rule_name == "not_evaluated"
    # The page for people is listed but decides nothing.
    assert "evidently_report" not in finding.message and "drift.embeddings" in finding.message
    assert report.figures()["partitioned.not_evaluated"] == 2.0
    assert {r["check"] for r in result.publication.tables["not-evaluated"]} == set(section.not_evaluated)


@pytest.mark.parametrize(
    ("method", "words"),
    [
        (None, "`model` method (the default)"),  # Evidently's default: a classifier on all vectors
        ("ratio", "whole distribution"),  # every component's full distribution
        ("mmd", "mmd_sample"),  # bounded, gatherable: said so
        ("distance", "mean vector"),  # mergeable: said so
    ],
)
def test_embedding_drift_names_why_its_method_is_not_partitioned(method: str | None, words: str) -> None:
    fit = EmbeddingsFit(EmbeddingsConfig(columns=("emb",), method=method), {}, {}, {})
    reasons = not_evaluated_checks(FittedChecks("fingerprint", {"drift.embeddings": fit}))
    assert words in reasons["drift.embeddings"]
