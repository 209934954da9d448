"""The retraining policy, the deployment gate, the lease and the reference-per-version rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError
from sklearn.metrics import accuracy_score, log_loss, roc_auc_score

from watchkeeper import retraining as policy
from watchkeeper.retraining import (
    Lease,
    RetrainHistory,
    RetrainingConfig,
    WindowRecord,
    compare_models,
    decide_retraining,
)
from watchkeeper.sources.config import ParquetSourceConfig
from watchkeeper.state import open_state

W = datetime(2026, 3, 10, tzinfo=UTC)  # the window being decided on ends here
DAY = timedelta(days=1)
NOW = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)  # wall clock (lease expiry only)
ON = RetrainingConfig(enabled=True, drift_consecutive_windows=2, cooldown=timedelta(days=7))

DRIFT = {"drift.dataset_drift": 1.0}
NO_DRIFT = {"drift.dataset_drift": 0.0}
BAND = {"perf.band.roc_auc.lower": 0.75, "perf.band.roc_auc.upper": 0.85}


def hist(
    *windows: tuple[int, dict[str, float]], retrained: tuple[int, ...] = (), lease: Lease | None = None
) -> RetrainHistory:
    """Windows given as (days before W, figures); retrainings as days before W (negative: after)."""
    return RetrainHistory(
        window_size=DAY,
        windows=tuple(WindowRecord(W - d * DAY, f) for d, f in windows),
        retrained_at=tuple(W - d * DAY for d in retrained),
        lease=lease,
    )


CASES = [
    # (id, figures of this window, history, config, retrain, reasons (prefixes), blocked_by (substrings))
    ("drift two windows in a row", DRIFT, hist((1, DRIFT)), ON, True, ["dataset drift in 2 consecutive"], []),
    ("drift only in this window", DRIFT, hist((1, NO_DRIFT)), ON, False, [], []),
    # A gap (the previous window was never evaluated) breaks the streak.
    ("previous window missing", DRIFT, hist((2, DRIFT)), ON, False, [], []),
    # Bad data is not drift: a window with critical validation failures does not extend a streak.
    (
        "previous drift was bad data",
        DRIFT,
        hist((1, {**DRIFT, "validation.critical_failures": 2.0})),
        ON,
        False,
        [],
        [],
    ),
    (
        "K = 1",
        DRIFT,
        hist(),
        ON.model_copy(update={"drift_consecutive_windows": 1}),
        True,
        ["dataset drift in 1"],
        [],
    ),
    (
        "K = 0 disables drift",
        DRIFT,
        hist((1, DRIFT)),
        ON.model_copy(update={"drift_consecutive_windows": 0}),
        False,
        [],
        [],
    ),
    (
        "estimated below band",
        {**BAND, "perf.estimated.roc_auc": 0.70},
        hist(),
        ON,
        True,
        ["performance outside its band: estimated roc_auc 0.7 below its band (0.75) in this window"],
        [],
    ),
    ("estimated inside band", {**BAND, "perf.estimated.roc_auc": 0.80}, hist(), ON, False, [], []),
    # Lower is better for log loss: above the upper bound is the bad side, below the lower one is not.
    (
        "log loss above band",
        {"perf.band.log_loss.lower": 0.3, "perf.band.log_loss.upper": 0.4, "perf.realized.log_loss": 0.5},
        hist(),
        ON,
        True,
        ["performance outside its band: realized log_loss 0.5 above its band (0.4)"],
        [],
    ),
    (
        "log loss below band is good",
        {"perf.band.log_loss.lower": 0.3, "perf.band.log_loss.upper": 0.4, "perf.realized.log_loss": 0.2},
        hist(),
        ON,
        False,
        [],
        [],
    ),
    # Realized figures arrive late: a recent window's latest evaluation counts.
    (
        "realized below band in a recent window",
        {},
        hist((2, {**BAND, "perf.realized.roc_auc": 0.6})),
        ON,
        True,
        [
            "performance outside its band: realized roc_auc 0.6 below its band (0.75) in the window ending 2026-03-08"
        ],
        [],
    ),
    # A recent window's estimate was judged when it was current; only its late-labeled figures count now.
    (
        "estimate of a recent window",
        {},
        hist((1, {**BAND, "perf.estimated.roc_auc": 0.6})),
        ON,
        False,
        [],
        [],
    ),
    (
        "recent breach on bad data",
        {},
        hist((2, {**BAND, "perf.realized.roc_auc": 0.6, "validation.critical_failures": 1.0})),
        ON,
        False,
        [],
        [],
    ),
    (
        "recent window beyond the lookback",
        {},
        hist((4, {**BAND, "perf.realized.roc_auc": 0.6})),
        ON,
        False,
        [],
        [],
    ),
    # Windows the last retraining already answered do not trigger another one.
    (
        "realized breach before the last retraining",
        {},
        hist((3, {**BAND, "perf.realized.roc_auc": 0.6}), retrained=(2,)),
        ON.model_copy(update={"cooldown": timedelta(days=1)}),
        False,
        [],
        [],
    ),
    (
        "only the watched metrics",
        {"perf.band.accuracy.lower": 0.8, "perf.estimated.accuracy": 0.5},
        hist(),
        ON.model_copy(update={"performance_metrics": ("roc_auc",)}),
        False,
        [],
        [],
    ),
    (
        "concept drift",
        {"perf.concept_drift": 1.0},
        hist(),
        ON,
        True,
        ["concept drift detected (window(s) ending 2026-03-10"],
        [],
    ),
    (
        "concept drift ignored",
        {"perf.concept_drift": 1.0},
        hist(),
        ON.model_copy(update={"on_concept_drift": False}),
        False,
        [],
        [],
    ),
    # Guards.
    (
        "critical validation failures",
        {**DRIFT, "validation.critical_failures": 3.0},
        hist((1, DRIFT)),
        ON,
        False,
        ["dataset drift in 2 consecutive"],
        ["3 critical validation failure(s) in this window: bad data is not drift"],
    ),
    (
        "critical validation blocks a performance trigger",
        {**BAND, "perf.estimated.roc_auc": 0.5, "validation.critical_failures": 1.0},
        hist(),
        ON,
        False,
        ["performance outside its band"],
        ["bad data is not drift"],
    ),
    (
        "cooldown",
        DRIFT,
        hist((1, DRIFT), retrained=(3,)),
        ON,
        False,
        ["dataset drift"],
        ["cooldown: retrained for the window ending 2026-03-07"],
    ),
    ("cooldown over exactly", DRIFT, hist((1, DRIFT), retrained=(7,)), ON, True, ["dataset drift"], []),
    # Backfilling an earlier window: a retraining two (window) days later also counts.
    (
        "cooldown in a backfill",
        DRIFT,
        hist((1, DRIFT), retrained=(-2,)),
        ON,
        False,
        ["dataset drift"],
        ["cooldown"],
    ),
    (
        "retraining in flight",
        DRIFT,
        hist((1, DRIFT), lease=Lease("m:2026-03-09", NOW - timedelta(hours=1), NOW + timedelta(hours=5))),
        ON,
        False,
        ["dataset drift"],
        ["a retraining is already in flight (m:2026-03-09"],
    ),
    (
        "expired lease",
        DRIFT,
        hist((1, DRIFT), lease=Lease("m:2026-03-09", NOW - timedelta(hours=7), NOW - timedelta(hours=1))),
        ON,
        True,
        ["dataset drift"],
        [],
    ),
    (
        "disabled",
        DRIFT,
        hist((1, DRIFT)),
        RetrainingConfig(),
        False,
        ["dataset drift"],
        ["retraining is disabled"],
    ),
]


@pytest.mark.parametrize(
    ("figures", "history", "config", "retrain", "reasons", "blocked"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_decide_retraining(figures, history, config, retrain, reasons, blocked) -> None:
    decision = decide_retraining(figures, history, config, window_end=W, now=NOW)
    assert decision.retrain is retrain
    assert len(decision.reasons) == len(reasons)
    for got, want in zip(decision.reasons, reasons, strict=True):
        assert got.startswith(want), got
    assert len(decision.blocked_by) == len(blocked)
    for got, want in zip(decision.blocked_by, blocked, strict=True):
        assert want in got, got
    expected_label = "retrain" if retrain else ("blocked" if reasons and blocked else "no-retrain")
    assert decision.label == expected_label


def test_several_triggers_are_all_reasons() -> None:
    figures = {**DRIFT, **BAND, "perf.estimated.roc_auc": 0.7, "perf.concept_drift": 1.0}
    decision = decide_retraining(figures, hist((1, DRIFT)), ON, window_end=W, now=NOW)
    assert [r.split(" ")[0] for r in decision.reasons] == ["dataset", "performance", "concept"]
    assert decision.evidence["drift_streak"] == 2


# -- configuration ----------------------------------------------------------------------------------
def test_config_parses_durations_and_checks_names() -> None:
    cfg = RetrainingConfig.model_validate(
        {"cooldown": "3d", "lease_ttl": "90m", "guard_metrics": ["log_loss"]}
    )
    assert cfg.cooldown == timedelta(days=3) and cfg.lease_ttl == timedelta(minutes=90)
    with pytest.raises(ValidationError, match="unknown metric"):
        RetrainingConfig.model_validate({"guard_metrics": ["auc"]})
    with pytest.raises(ValidationError, match="must look like"):
        RetrainingConfig.model_validate({"trainer": "train_default"})
    with pytest.raises(ValidationError, match="cannot also be a guard"):
        RetrainingConfig.model_validate({"primary_metric": "roc_auc", "guard_metrics": ["roc_auc"]})
    with pytest.raises(ValidationError, match="Extra inputs"):
        RetrainingConfig.model_validate({"cooldwn": "1d"})


# -- lease ------------------------------------------------------------------------------------------
def test_lease_is_exclusive_until_released_or_expired(tmp_path: Path) -> None:
    store = open_state(f"sqlite:///{tmp_path / 'state.db'}")
    ttl = timedelta(hours=1)
    assert policy.acquire_lease(store, "m", holder="a", ttl=ttl, now=NOW)
    assert not policy.acquire_lease(store, "m", holder="b", ttl=ttl, now=NOW + timedelta(minutes=30))
    # Another model is independent; the same holder (a retried run) gets it again.
    assert policy.acquire_lease(store, "other", holder="b", ttl=ttl, now=NOW)
    assert policy.acquire_lease(store, "m", holder="a", ttl=ttl, now=NOW + timedelta(minutes=30))
    assert policy.read_lease(store, "m") == Lease(
        "a", NOW + timedelta(minutes=30), NOW + timedelta(minutes=90)
    )
    # Expired: someone else may take it over.
    assert policy.acquire_lease(store, "m", holder="b", ttl=ttl, now=NOW + timedelta(hours=2))
    assert not policy.release_lease(store, "m", holder="a")
    assert policy.release_lease(store, "m", holder="b")
    assert policy.read_lease(store, "m") is None
    assert policy.acquire_lease(store, "m", holder="c", ttl=ttl, now=NOW)


def test_history_and_audit_round_trip(tmp_path: Path) -> None:
    store = open_state(f"sqlite:///{tmp_path / 'state.db'}")
    for d, figures in ((2, DRIFT), (1, NO_DRIFT)):
        store.record_window(
            model="m",
            window_start=W - (d + 1) * DAY,
            window_end=W - d * DAY,
            n_rows=10,
            n_labeled=d,
            verdict="ok",
            usable_for_training=d == 2,
            mlflow_run_id=None,
            summary={"figures": figures},
        )
    store.append_audit(model="m", event=policy.EVENT_RETRAIN_COMPLETED, window_end=W - 5 * DAY)
    store.append_audit(model="m", event=policy.EVENT_RETRAIN_FAILED, window_end=W - 4 * DAY)
    policy.acquire_lease(store, "m", holder="x", ttl=DAY, now=NOW)
    history = policy.read_history(store, "m", window_size=DAY)
    assert history.windows == (
        WindowRecord(W - 2 * DAY, DRIFT, True, 2),
        WindowRecord(W - DAY, NO_DRIFT, False, 1),
    )
    assert history.retrained_at == (W - 5 * DAY,)  # failed retrainings do not start a cooldown
    assert history.lease is not None and history.lease.holder == "x"

    decision = decide_retraining(DRIFT, history, ON, window_end=W, now=NOW)
    policy.audit_decision(store, decision, model="m", window_start=W - DAY, window_end=W, config_hash="abc")
    entry = store.read_audit(model="m")[-1]
    assert entry["event"] == policy.EVENT_DECISION
    assert entry["decision"] == "no-retrain"
    assert entry["reasons"] == [f"blocked: {b}" for b in decision.blocked_by]
    assert entry["evidence"]["blocked_by"] == decision.blocked_by
    assert entry["config_hash"] == "abc"


# -- training data ----------------------------------------------------------------------------------
def test_split_windows_keeps_the_newest_for_evaluation() -> None:
    windows = [
        WindowRecord(W - 5 * DAY, {}, True, 10),
        WindowRecord(W - 4 * DAY, {}, False, 10),  # failed validation: never used
        WindowRecord(W - 3 * DAY, {}, True, 0),  # no labels yet
        WindowRecord(W - 2 * DAY, {}, True, 10),
        WindowRecord(W - DAY, {}, True, 10),
        WindowRecord(W + DAY, {}, True, 10),  # after the trigger window
    ]
    train, evaluation = policy.split_windows(windows, window_end=W, training=5, evaluation=1)
    assert train == [W - 5 * DAY, W - 2 * DAY]
    assert evaluation == [W - DAY]
    assert policy.split_windows(windows, window_end=W, training=1, evaluation=2) == (
        [W - 5 * DAY],
        [W - 2 * DAY, W - DAY],
    )


def test_evaluation_windows_are_newer_than_the_training_data() -> None:
    windows = [
        WindowRecord(W - 4 * DAY, {}, True, 10),
        WindowRecord(W - 3 * DAY, {}, True, 10),
        WindowRecord(W - 2 * DAY, {}, False, 10),  # failed validation
        WindowRecord(W - DAY, {}, True, 10),
        WindowRecord(W, {}, True, 0),  # labels not arrived yet
    ]
    # Older windows than the training windows never judge the challenger (they may be another concept).
    assert policy.evaluation_windows(windows, training_windows=[W - 3 * DAY], data_end=None, count=2) == [
        W - DAY
    ]
    assert policy.evaluation_windows(windows, training_windows=[W - DAY], data_end=None, count=2) == []
    # Trained on the reference only: windows after its data.
    assert policy.evaluation_windows(windows, training_windows=[], data_end=W - 3.5 * DAY, count=5) == [
        W - 3 * DAY,
        W - DAY,
    ]
    # count 0 (training took every window) still evaluates on the newest one once it exists.
    assert policy.evaluation_windows(windows, training_windows=[W - 5 * DAY], data_end=None, count=0) == [
        W - DAY
    ]
    assert policy.split_windows(windows, window_end=W, training=3, evaluation=0) == (
        [W - 4 * DAY, W - 3 * DAY, W - DAY],
        [],
    )


@pytest.mark.parametrize(
    ("n", "fraction", "held"), [(10, 0.3, 3), (2, 0.1, 1), (2, 0.9, 1), (1, 0.5, 0), (0, 0.5, 0)]
)
def test_holdout_mask_sizes(n: int, fraction: float, held: int) -> None:
    mask = policy.holdout_mask(n, fraction, seed=1)
    assert mask.dtype == bool and len(mask) == n and int(mask.sum()) == held
    assert np.array_equal(mask, policy.holdout_mask(n, fraction, seed=1))


# -- model quality and the deployment gate ---------------------------------------------------------------
def test_model_metrics_binary_exact() -> None:
    frame = pd.DataFrame(
        {
            "y": [0, 1, 1, 0, 1, None],
            "p": [0.1, 0.8, 0.4, 0.3, 0.9, 0.5],
            "pred": [0, 1, 0, 0, 1, 1],
        }
    )
    m = policy.model_metrics(
        frame, target="y", prediction="pred", score="p", task="binary_classification", classes=[0, 1]
    )
    labeled = frame.dropna()
    assert m["accuracy"] == pytest.approx(0.8)
    assert m["roc_auc"] == pytest.approx(roc_auc_score(labeled["y"], labeled["p"]))
    assert m["log_loss"] == pytest.approx(log_loss(labeled["y"], labeled["p"]))
    assert m["accuracy"] == pytest.approx(accuracy_score(labeled["y"], labeled["pred"]))


def test_model_metrics_regression() -> None:
    frame = pd.DataFrame({"y": [1.0, 2.0, 3.0], "pred": [1.5, 2.0, 2.0]})
    m = policy.model_metrics(frame, target="y", prediction="pred", score=None, task="regression")
    assert m["mae"] == pytest.approx(0.5)
    assert m["rmse"] == pytest.approx(np.sqrt((0.25 + 0 + 1) / 3))


GATE = [
    # (id, challenger, champion, primary, guards, promote)
    ("beats by the margin", {"roc_auc": 0.80}, {"roc_auc": 0.79}, "roc_auc", (), True),
    ("better but within the margin", {"roc_auc": 0.794}, {"roc_auc": 0.79}, "roc_auc", (), False),
    ("worse", {"roc_auc": 0.70}, {"roc_auc": 0.79}, "roc_auc", (), False),
    # Lower is better: a smaller log loss is the improvement.
    ("log loss primary", {"log_loss": 0.40}, {"log_loss": 0.45}, "log_loss", (), True),
    (
        "guard within tolerance",
        {"roc_auc": 0.80, "accuracy": 0.71},
        {"roc_auc": 0.70, "accuracy": 0.72},
        "roc_auc",
        ("accuracy",),
        True,
    ),
    (
        "guard beyond tolerance",
        {"roc_auc": 0.80, "accuracy": 0.60},
        {"roc_auc": 0.70, "accuracy": 0.72},
        "roc_auc",
        ("accuracy",),
        False,
    ),
    (
        "guard log loss worse",
        {"roc_auc": 0.80, "log_loss": 0.6},
        {"roc_auc": 0.70, "log_loss": 0.5},
        "roc_auc",
        ("log_loss",),
        False,
    ),
    ("primary not computable", {}, {"roc_auc": 0.7}, "roc_auc", (), False),
]


@pytest.mark.parametrize(
    ("challenger", "champion", "primary", "guards", "promote"),
    [g[1:] for g in GATE],
    ids=[g[0] for g in GATE],
)
def test_compare_models(challenger, champion, primary, guards, promote) -> None:
    decision = compare_models(
        challenger,
        champion,
        primary_metric=primary,
        min_improvement=0.005,
        guard_metrics=guards,
        guard_tolerance=0.02,
    )
    assert decision.promote is promote
    assert decision.label == ("promote" if promote else "reject")
    assert decision.reasons and decision.reasons[0].startswith(primary)


def test_gate_reason_reads_well() -> None:
    decision = compare_models(
        {"roc_auc": 0.8}, {"roc_auc": 0.79}, primary_metric="roc_auc", min_improvement=0.005
    )
    assert decision.reasons == ["roc_auc: challenger 0.8000 vs champion 0.7900 (gain +0.0100 ≥ margin 0.005)"]


# -- the reference follows the champion ------------------------------------------------------------------
def test_reference_source() -> None:
    configured = ParquetSourceConfig(type="parquet", path="/data/ref/v{champion_version}.parquet")
    tagged = policy.reference_source(
        configured, champion_version="3", version_tags={policy.TAG_REFERENCE_URI: "/s/v3.parquet"}
    )
    assert tagged == ParquetSourceConfig(type="parquet", path="/s/v3.parquet")
    assert (
        policy.reference_source(configured, champion_version="1", version_tags={}).path
        == "/data/ref/v1.parquet"
    )
    with pytest.raises(ValueError, match="no champion"):
        policy.reference_source(configured, champion_version=None, version_tags={})
    plain = ParquetSourceConfig(type="parquet", path="/data/ref.parquet")
    assert policy.reference_source(plain, champion_version="4", version_tags={}) is plain


def test_a_disabled_policy_says_so_first(tmp_path: Path) -> None:
    store = open_state(f"sqlite:///{tmp_path / 'state.db'}")
    off = RetrainingConfig(enabled=False, drift_consecutive_windows=2, cooldown=timedelta(days=7))
    decision = decide_retraining(DRIFT, hist((1, DRIFT)), off, window_end=W, now=NOW)
    policy.audit_decision(store, decision, model="m", window_start=W - DAY, window_end=W)
    reasons = store.read_audit(model="m")[-1]["reasons"]
    # the reader learns the policy is off before the evidence it would have acted on
    assert reasons[0] == "blocked: retraining is disabled for this model (retraining.enabled: false)"
    assert reasons[1].startswith("would retrain: dataset drift in 2 consecutive")
