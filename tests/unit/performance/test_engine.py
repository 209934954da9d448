"""The perf section end to end on scenarios with known truth, late labels, bad input and regression."""

from __future__ import annotations

import json
import pickle
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from tests.unit.performance.synth import BINARY_COLUMNS, DAY, binary_frame, binary_reference
from watchkeeper.config import ColumnsConfig, TaskType
from watchkeeper.performance import (
    DEFER_DETECTORS,
    PerformanceBaseline,
    PerformanceReport,
    evaluate_performance,
    feed_pending_detectors,
    fit_performance_baseline,
)
from watchkeeper.performance.config import PerformanceConfig
from watchkeeper.verdict import SectionReport, Severity

CFG = PerformanceConfig()
BINARY = TaskType.BINARY


@pytest.fixture(scope="module")
def baseline() -> PerformanceBaseline:
    return fit_performance_baseline(
        binary_reference(), columns=BINARY_COLUMNS, task=BINARY, config=CFG, window_size=DAY
    )


def _run(baseline: PerformanceBaseline, seed: int, days: int, **scenario: float) -> list[PerformanceReport]:
    """Evaluate `days` consecutive windows, carrying the detector state like the flow does."""
    rng = np.random.default_rng(seed)
    change = int(scenario.pop("from_day", 0))
    reports, state = [], None
    for d in range(days):
        kwargs = scenario if d >= change else {}
        window = binary_frame(rng, 2000, day=d, **kwargs)
        report = evaluate_performance(
            window,
            baseline,
            columns=BINARY_COLUMNS,
            task=BINARY,
            config=CFG,
            detector_state=state,
            labels_complete=True,
        )
        state = json.loads(json.dumps(report.detector_state))  # what the state DB stores
        reports.append(report)
    return reports


def test_baseline_bands_and_cbpe(baseline: PerformanceBaseline) -> None:
    assert baseline.chunking == "by timestamp, 1 day, 0:00:00 per chunk (epoch-aligned): 20 chunks"
    assert baseline.cbpe is not None and baseline.cbpe.calibrated  # the synthetic model is over-confident
    band = baseline.bands["roc_auc"]
    assert band.n_chunks == 20 and band.lower is not None and band.upper is not None
    assert band.lower == pytest.approx(band.mean - 3 * band.std)
    assert "precision_weighted" not in baseline.bands  # multiclass only
    again = PerformanceBaseline.from_dict(json.loads(json.dumps(baseline.to_dict())))
    assert again == baseline
    assert pickle.loads(pickle.dumps(baseline)) == baseline


def test_band_clipped_to_metric_range() -> None:
    # A near-perfect model: mean + 3·std of accuracy would pass 1, the band stops at 1.
    rng = np.random.default_rng(0)
    ref = binary_frame(rng, 4000, day=-5)
    ref["prediction"] = ref["target"]
    ref.loc[rng.choice(4000, 6, replace=False), "prediction"] ^= 1
    base = fit_performance_baseline(
        ref,
        columns=BINARY_COLUMNS,
        task=BINARY,
        config=CFG.model_copy(update={"reference_chunk_rows": 500}),
        window_size=None,
    )
    assert base.chunking == "by row count, 500 rows per chunk: 8 chunks"
    assert base.bands["accuracy"].upper == 1.0


def test_realized_matches_sklearn_with_partial_labels(baseline: PerformanceBaseline) -> None:
    rng = np.random.default_rng(3)
    window = binary_frame(rng, 3000, day=0)
    window["target"] = window["target"].astype("float64")
    window.loc[rng.random(3000) < 0.4, "target"] = np.nan  # labels not arrived
    report = evaluate_performance(window, baseline, columns=BINARY_COLUMNS, task=BINARY, config=CFG)
    lab = window.dropna(subset=["target"])
    assert report.n_labeled == len(lab)
    assert report.figures()["label_coverage"] == pytest.approx(len(lab) / 3000)
    assert report.realized["roc_auc"].value == pytest.approx(skm.roc_auc_score(lab["target"], lab["score"]))
    assert report.realized["f1"].value == pytest.approx(skm.f1_score(lab["target"], lab["prediction"]))
    v1 = lab[lab["model_version"] == "v1"]
    f = report.figures()
    assert f["version.v1.realized.accuracy"] == pytest.approx(
        skm.accuracy_score(v1["target"], v1["prediction"])
    )
    assert f["version.v1.n_labeled"] == len(v1)
    assert f["version.v1.estimated.accuracy"] == pytest.approx(
        report.by_version["v1"].estimated["accuracy"].value
    )
    assert f["version.v1.estimated.accuracy"] != f["estimated.accuracy"]  # computed on v1's rows only
    # Coverage 60% < 90%: the detectors wait for the rest of the labels.
    assert not report.detectors_fed and report.detector_status.startswith("waiting for labels")


def test_section_protocol_and_json(baseline: PerformanceBaseline) -> None:
    report = _run(baseline, 4, 1)[0]
    assert isinstance(report, SectionReport)
    f = report.figures()
    for name in (
        "label_coverage",
        "n_labeled",
        "realized.roc_auc",
        "estimated.roc_auc",
        "estimated.roc_auc.lower",
        "estimated.roc_auc.upper",
        "band.roc_auc.lower",
        "band.roc_auc.upper",
        "concept_drift",
        "concept.ddm.drift",
        "concept.page_hinkley.drift",
        "concept.gap.accuracy",
    ):
        assert name in f, name
    assert all(isinstance(v, float) for v in f.values())
    text = json.dumps(report.to_dict(), allow_nan=False)
    assert '"confusion_matrix"' in text
    md = report.to_markdown()
    assert "| roc_auc |" in md and "concept drift: **no**" in md
    assert report.table_rows()[0]["metric"] == "accuracy"


def test_no_drift_run_raises_nothing(baseline: PerformanceBaseline) -> None:
    reports = _run(baseline, 10, 20)
    assert not any(r.concept_drift for r in reports)
    assert not any(r.findings() for r in reports)


def test_covariate_shift_estimates_track_realized(baseline: PerformanceBaseline) -> None:
    # x1's mean moves by 1 standard deviation: the score distribution changes, P(y|x) does not.
    reports = _run(baseline, 11, 12, shift=1.0)
    for r in reports:
        for m in ("roc_auc", "accuracy"):
            e = r.estimated[m]
            assert e.lower <= r.realized[m].value <= e.upper, (m, r.realized[m].value, e)
        assert not r.concept_drift


@pytest.mark.parametrize("seed", [20, 21])
def test_concept_drift_caught_within_stated_windows(baseline: PerformanceBaseline, seed: int) -> None:
    # From window 10 the true relation is half flipped (labels independent of x); scores unchanged.
    reports = _run(baseline, seed, 14, concept=0.5, from_day=10)
    assert not any(r.concept_drift for r in reports[:10])
    # Stated: the gap test and Page-Hinkley fire in the first changed window, DDM within 2 windows.
    assert reports[10].gaps["accuracy"].drift and reports[10].gaps["roc_auc"].drift
    assert reports[10].detectors["page_hinkley"].drift
    assert any(r.detectors["ddm"].drift for r in reports[10:12])
    critical = [f for f in reports[10].findings() if f.severity is Severity.CRITICAL]
    assert any("Concept drift" in f.message for f in critical)
    assert reports[10].figures()["concept_drift"] == 1.0


def test_late_labels_feed_the_stream_once(baseline: PerformanceBaseline) -> None:
    rng = np.random.default_rng(30)
    full = binary_frame(rng, 2000, day=0)
    partial = full.copy()
    partial["target"] = partial["target"].astype("float64")
    partial.loc[rng.random(2000) < 0.5, "target"] = np.nan
    kw = {"columns": BINARY_COLUMNS, "task": BINARY, "config": CFG}
    first = evaluate_performance(partial, baseline, **kw, detector_state=None)
    assert not first.detectors_fed and first.detector_state["rows_consumed"] == 0
    second = evaluate_performance(full, baseline, **kw, detector_state=first.detector_state)
    assert second.detectors_fed and second.detector_state["rows_consumed"] == 2000
    # Re-evaluating the same window (backfill, more late labels) consumes nothing again.
    third = evaluate_performance(
        full, baseline, **kw, detector_state=second.detector_state, labels_complete=True
    )
    assert third.detector_state["rows_consumed"] == 2000
    assert third.detectors["ddm"].n_consumed == 0
    assert "2000 row(s) at or before the watermark skipped" in third.detector_status
    # A new baseline (new reference or champion) discards the old stream instead of mixing the two.
    other = fit_performance_baseline(
        binary_reference(seed=1, days=5), columns=BINARY_COLUMNS, task=BINARY, config=CFG, window_size=DAY
    )
    fourth = evaluate_performance(
        full, other, **kw, detector_state=third.detector_state, labels_complete=True
    )
    assert fourth.detector_status.startswith("detector state reset")
    assert fourth.detector_state["rows_consumed"] == 2000
    assert fourth.detector_state["baseline"] == other.fingerprint() != baseline.fingerprint()


def test_deferred_detectors_fed_in_order_equal_the_direct_feed(baseline: PerformanceBaseline) -> None:
    # A parallel backfill evaluates windows first (DEFER_DETECTORS) and feeds them in window order
    # later: the reports and the detector state are those of the direct, sequential evaluation, through
    # a concept change (alarms), a re-evaluated window (watermark) and a window with missing labels.
    rng = np.random.default_rng(50)
    windows = [binary_frame(rng, 1500, day=d, **({"concept": 0.6} if d >= 4 else {})) for d in range(7)]
    half = windows[2].copy()
    half["target"] = half["target"].astype("float64")
    half.loc[rng.random(len(half)) < 0.5, "target"] = np.nan
    plan = [(windows[0], True), (windows[1], True), (half, None), (windows[2], True), (windows[1], True)]
    plan += [(w, True) for w in windows[3:]]
    kw = {"columns": BINARY_COLUMNS, "task": BINARY, "config": CFG}
    direct, state = [], None
    for frame, complete in plan:
        report = evaluate_performance(frame, baseline, **kw, detector_state=state, labels_complete=complete)
        direct.append(report)
        state = json.loads(json.dumps(report.detector_state))
    deferred = [
        evaluate_performance(frame, baseline, **kw, detector_state=DEFER_DETECTORS, labels_complete=complete)
        for frame, complete in plan
    ]
    assert all(r.pending is not None and not r.findings() for r in deferred)
    folded, state = [], None
    for report in deferred:
        fed = feed_pending_detectors(report, state)
        folded.append(fed)
        state = json.loads(json.dumps(fed.detector_state))
    assert any(r.detectors["page_hinkley"].drift for r in direct)  # the change was seen
    for a, b in zip(direct, folded, strict=True):
        assert b.pending is None
        assert a.to_dict() == b.to_dict()
        assert a.figures() == b.figures()
        assert a.findings() == b.findings()
        assert a.detector_state == b.detector_state
    assert feed_pending_detectors(folded[0], None) is folded[0]  # fed once only


def test_bad_input_is_a_status_not_a_crash(baseline: PerformanceBaseline) -> None:
    rng = np.random.default_rng(40)
    kw = {"columns": BINARY_COLUMNS, "task": BINARY, "config": CFG}
    base = binary_frame(rng, 500, day=0)

    no_labels = base.assign(target=np.nan)
    r = evaluate_performance(no_labels, baseline, **kw)
    assert r.realized["accuracy"].status == "not computable: no labeled rows (labels not arrived yet)"
    assert r.estimated["accuracy"].value is not None  # CBPE needs no labels
    assert r.figures()["label_coverage"] == 0.0

    single = base.assign(target=0)
    r = evaluate_performance(single, baseline, **kw)
    assert r.realized["roc_auc"].status == "not computable: labels contain a single class"

    outside = base.assign(score=base["score"] * 1.5)
    r = evaluate_performance(outside, baseline, **kw)
    assert r.realized["roc_auc"].status.startswith("not computable: probabilities outside [0, 1] in")
    assert r.estimated["roc_auc"].status.startswith("not computable: probabilities outside [0, 1]")
    assert r.realized["accuracy"].value is not None

    r = evaluate_performance(base.drop(columns=["score"]), baseline, **kw)
    assert r.realized["log_loss"].status == "not computable: missing score column 'score'"
    assert r.estimated["accuracy"].status == "not computable: missing score column 'score'"

    nan_pred = base.assign(prediction=base["prediction"].astype("float64"))
    nan_pred.loc[:9, "prediction"] = np.nan
    r = evaluate_performance(nan_pred, baseline, **kw)
    assert r.realized["accuracy"].status == "ok (10 labeled row(s) without a prediction excluded)"
    assert r.realized["accuracy"].n == 490
    assert "10 row(s) have no prediction (NaN)" in r.notes

    r = evaluate_performance(base, baseline, **kw, unmatched_labels=3)
    assert "3 label(s) matched no inference row in this window (unknown request id)" in r.notes
    r = evaluate_performance(base.iloc[:0], baseline, **kw)
    assert r.n_rows == 0 and r.figures()["label_coverage"] == 0.0


def test_fixed_threshold_and_band_findings(baseline: PerformanceBaseline) -> None:
    cfg = PerformanceConfig(thresholds={"accuracy": {"lower": 0.9, "severity": "warning"}})
    rng = np.random.default_rng(50)
    window = binary_frame(rng, 2000, day=0, concept=1.0)  # labels fully flipped: AUC far below its band
    r = evaluate_performance(
        window, baseline, columns=BINARY_COLUMNS, task=BINARY, config=cfg, labels_complete=False
    )
    messages = [(f.severity, f.message) for f in r.findings()]
    assert any(
        s is Severity.WARNING and m.startswith("Realized roc_auc") and "below its reference band" in m
        for s, m in messages
    )
    assert any(
        s is Severity.WARNING and m.startswith("Realized accuracy") and "below the threshold 0.9" in m
        for s, m in messages
    )
    assert any(s is Severity.WARNING and m.startswith("Estimated (CBPE) accuracy") for s, m in messages)
    assert any(s is Severity.CRITICAL and "Concept drift" in m for s, m in messages)


def test_multiclass_end_to_end() -> None:
    rng = np.random.default_rng(60)
    cols = ColumnsConfig(numerical_features=("x",), probabilities={"a": "p_a", "b": "p_b", "c": "p_c"})

    def frame(n: int, day: int) -> pd.DataFrame:
        logits = rng.normal(0, 1.5, size=(n, 3))
        p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        y = (rng.random(n)[:, None] > np.cumsum(p, axis=1)).sum(axis=1)
        ts = pd.Timestamp("2026-01-01", tz="UTC") + pd.to_timedelta(
            day * 86400 + np.sort(rng.random(n)) * 86400, unit="s"
        )
        return pd.DataFrame(
            {"request_id": np.arange(n), "timestamp": ts, "x": logits[:, 0], "p_a": p[:, 0], "p_b": p[:, 1], "p_c": p[:, 2],
             "prediction": np.array(["a", "b", "c"])[p.argmax(axis=1)], "target": np.array(["a", "b", "c"])[y]}
        )  # fmt: skip

    ref = pd.concat([frame(1000, d) for d in range(-8, 0)], ignore_index=True)
    cfg = PerformanceConfig()
    base = fit_performance_baseline(
        ref, columns=cols, task=TaskType.MULTICLASS, config=cfg, window_size=timedelta(days=1)
    )
    w = frame(3000, 0)
    r = evaluate_performance(
        w, base, columns=cols, task=TaskType.MULTICLASS, config=cfg, labels_complete=True
    )
    assert r.primary_metric == "f1"
    assert r.realized["f1_weighted"].value == pytest.approx(
        skm.f1_score(w["target"], w["prediction"], average="weighted")
    )
    proba = w[["p_a", "p_b", "p_c"]].to_numpy()
    assert r.realized["roc_auc"].value == pytest.approx(
        skm.roc_auc_score(w["target"], proba, multi_class="ovr")
    )
    e = r.estimated["accuracy"]
    assert e.lower <= r.realized["accuracy"].value <= e.upper
    assert not r.concept_drift
    bad = w.assign(p_a=w["p_a"] * 0.9, p_b=w["p_b"] * 0.9, p_c=w["p_c"] * 0.9)  # every row sums to 0.9
    r = evaluate_performance(bad, base, columns=cols, task=TaskType.MULTICLASS, config=cfg)
    assert r.realized["log_loss"].status == "not computable: probabilities do not sum to 1 in 3000 row(s)"
    assert r.estimated["accuracy"].status == r.realized["log_loss"].status
    assert r.realized["accuracy"].value is not None


def test_regression_end_to_end() -> None:
    rng = np.random.default_rng(70)
    cols = ColumnsConfig(numerical_features=("x",))

    def frame(n: int, day: int, noise: float) -> pd.DataFrame:
        x = rng.normal(size=n)
        y = 3 * x + 10 + rng.normal(0, noise, n)
        ts = pd.Timestamp("2026-01-01", tz="UTC") + pd.to_timedelta(
            day * 86400 + np.sort(rng.random(n)) * 86400, unit="s"
        )
        return pd.DataFrame(
            {"request_id": np.arange(n), "timestamp": ts, "x": x, "prediction": 3 * x + 10, "target": y}
        )

    ref = pd.concat([frame(1000, d, 1.0) for d in range(-10, 0)], ignore_index=True)
    task = TaskType.REGRESSION
    base = fit_performance_baseline(ref, columns=cols, task=task, config=CFG, window_size=timedelta(days=1))
    assert base.cbpe is None and base.cbpe_status == "not applicable: regression"
    state = None
    drift_days = []
    for d in range(8):
        w = frame(1000, d, 1.0 if d < 5 else 2.0)  # the noise doubles from day 5: concept drift
        r = evaluate_performance(
            w, base, columns=cols, task=task, config=CFG, detector_state=state, labels_complete=True
        )
        state = r.detector_state
        assert r.realized["mae"].value == pytest.approx(skm.mean_absolute_error(w["target"], w["prediction"]))
        if r.concept_drift:
            drift_days.append(d)
    assert drift_days and drift_days[0] == 5
    # DLE estimates the error the reference showed (noise 1: MAE ≈ 0.80); the realized error doubled,
    # so the gap test sees the concept drift too.
    assert set(r.estimated) == {"mae", "rmse", "mape"} and r.primary_metric == "mae"
    assert r.estimated["mae"].value == pytest.approx(0.8, abs=0.05)
    assert r.gaps["mae"].drift
    assert any(f.message.startswith("Realized mae") for f in r.findings())
