"""Retraining policy: a window's verdict and the model's history → retrain or not, and why.

Everything that decides lives here as plain functions over plain data, so the rules can be read,
tested table by table and replayed from the audit trail:

- `decide_retraining(figures, history, config, window_end=, now=)` → `RetrainDecision`: the
  configured triggers (dataset drift for K consecutive windows, estimated or realized performance
  outside its reference band, concept drift) and the guards (never on a window with critical
  validation failures — bad data is not drift —, a cooldown measured in *window* time so backfills and
  the demo's simulated days behave like real ones, at most one retraining in flight per model).
- `compare_models(challenger, champion, config)` → `DeployDecision`: promote only when the challenger
  beats the champion by a margin on the primary metric and is not worse beyond a tolerance on the
  guard metrics.
- `model_metrics(scored, ...)`: the project's own realized metrics on a scored frame, so the deploy
  gate and the monitoring report measure quality the same way.
- `reference_source(config, ...)`: the reference belongs to the model version; monitoring compares a
  window with the data of the version that is champion now.

The retraining lease (one retraining in flight per model) is a row in the state database's
`kv_state` table, taken with an insert (or a compare-and-swap on an expired row), so two monitor runs
racing on the same window cannot both start one.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import numpy as np
import pandas as pd
import sqlalchemy as sa
from pydantic import Field, field_validator, model_validator

from watchkeeper.configbase import StrictModel, parse_duration
from watchkeeper.performance.config import ALL_METRICS
from watchkeeper.performance.metrics import (
    HIGHER_IS_BETTER,
    canonical_label,
    classification_metrics,
    encode_labels,
    regression_metrics,
)
from watchkeeper.state import StateStore, kv_state

DEFAULT_TRAINER = "watchkeeper.training:train_default"
CHALLENGER_ALIAS = "challenger"
PREVIOUS_CHAMPION_ALIAS = "previous-champion"

# Audit events written by the retraining loop (`watchkeeper audit` shows them).
EVENT_DECISION = "retraining.decision"
EVENT_RETRAIN_STARTED = "retraining.started"
EVENT_RETRAIN_COMPLETED = "retraining.completed"
EVENT_RETRAIN_FAILED = "retraining.failed"
EVENT_PROMOTED = "deploy.promoted"
EVENT_REJECTED = "deploy.rejected"
EVENT_DEFERRED = "deploy.deferred"
EVENT_ROLLBACK = "deploy.rollback"

# Model-version tags written by the retrain and deploy flows.
TAG_TRIGGER = "watchkeeper.trigger"
TAG_TRIGGER_WINDOW_END = "watchkeeper.trigger_window_end"
TAG_TRAINING_WINDOWS = "watchkeeper.training_windows"
TAG_DATA_START = "watchkeeper.data_start"
TAG_DATA_END = "watchkeeper.data_end"
TAG_MONITOR_RUN = "watchkeeper.monitor_flow_run_id"
TAG_RETRAIN_RUN = "watchkeeper.retrain_flow_run_id"
TAG_REFERENCE_URI = "watchkeeper.reference_uri"
TAG_HOLDOUT_URI = "watchkeeper.holdout_uri"
TAG_DEPLOY_STATUS = "watchkeeper.deploy_status"  # pending | promoted | rejected | rolled-back

LEASE_NAMESPACE = "retraining.lease"
VERSION_PLACEHOLDER = "{champion_version}"


# -- configuration ----------------------------------------------------------------------------------
class RetrainingConfig(StrictModel):
    """The `retraining:` section of a model config: when to retrain, on what, and when to promote."""

    enabled: bool = False
    # Triggers. Dataset drift must persist for this many consecutive windows (0: never a trigger).
    drift_consecutive_windows: int = Field(default=2, ge=0)
    on_performance_below_band: bool = True
    on_concept_drift: bool = True
    # Metrics whose band is watched; empty: every metric the performance section gives a band for.
    performance_metrics: tuple[str, ...] = ()
    # Realized performance and concept drift need labels, which arrive late: besides the window being
    # monitored, look at this many earlier windows (their latest evaluation, after late labels).
    label_lookback_windows: int = Field(default=3, ge=0)

    # Guards.
    cooldown: timedelta = timedelta(days=7)  # at most one retraining per cooldown, in window time
    lease_ttl: timedelta = timedelta(hours=6)  # a crashed retraining frees its model after this

    # Training.
    trainer: str = DEFAULT_TRAINER  # "package.module:function" returning a fitted model
    trainer_kwargs: dict[str, Any] = Field(default_factory=dict)
    seed: int = 0
    include_reference: bool = True  # train on the champion's reference as well as recent windows
    training_windows: int = Field(default=7, ge=0)  # recent labeled windows that passed validation
    min_training_rows: int = Field(default=200, ge=1)
    holdout_fraction: float = Field(default=0.3, gt=0, lt=1)
    # Where each version's reference data is written (`v<version>.parquet`); fsspec URLs work.
    # None: `<state dir>/references/<model>/`.
    reference_dir: str | None = None

    # Deployment gate.
    auto_deploy: bool = True  # run the deploy flow right after a retraining
    primary_metric: str | None = None  # None: the performance section's, else its task default
    min_improvement: float = Field(default=0.005, ge=0)  # challenger must beat champion by this
    guard_metrics: tuple[str, ...] = ()
    guard_tolerance: float = Field(default=0.02, ge=0)  # how much worse a guard metric may get
    # Labeled windows newer than the training data on which challenger and champion compete: the
    # retrain flow keeps this many of the newest out of training. With 0, training uses every labeled
    # window and the deploy decision waits (deferred) until newer labeled windows arrive.
    evaluation_windows: int = Field(default=2, ge=0)
    min_evaluation_rows: int = Field(default=200, ge=1)
    # "windows": compete on the newer labeled windows above. "holdout": compete at once on the rows
    # the retrain flow held out of training (the challenger's reference data), which neither model
    # trained on: no waiting for newer labels, at the price of judging on the training period.
    evaluate_on: Literal["windows", "holdout"] = "windows"

    # How the monitor flow starts retraining: "auto" calls the retrain deployment when the Prefect
    # server has it (`run_deployment`, so it can run on other infrastructure), else a subflow.
    trigger: str = Field(default="auto", pattern="^(auto|subflow|deployment)$")
    retrain_deployment: str | None = None  # default: "retrain-model/<model>-retrain"
    deploy_deployment: str | None = None  # default: "deploy-model/<model>-deploy"

    @field_validator("cooldown", "lease_ttl", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> timedelta:
        return parse_duration(value)

    @field_validator("performance_metrics", "guard_metrics")
    @classmethod
    def _metrics_known(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [m for m in value if m not in ALL_METRICS]
        if unknown:
            raise ValueError(f"unknown metric(s) {unknown}; expected some of: {', '.join(ALL_METRICS)}")
        return value

    @field_validator("primary_metric")
    @classmethod
    def _primary_known(cls, value: str | None) -> str | None:
        if value is not None and value not in ALL_METRICS:
            raise ValueError(f"unknown metric {value!r}; expected one of: {', '.join(ALL_METRICS)}")
        return value

    @field_validator("trainer")
    @classmethod
    def _entrypoint(cls, value: str) -> str:
        module, sep, func = value.partition(":")
        if not sep or not module or not func:
            raise ValueError(f"trainer {value!r} must look like 'package.module:function'")
        return value

    @model_validator(mode="after")
    def _guards_differ(self) -> RetrainingConfig:
        if self.primary_metric is not None and self.primary_metric in self.guard_metrics:
            raise ValueError("the primary metric cannot also be a guard metric")
        return self


def default_primary_metric(task: str) -> str:
    """The performance section's defaults: roc_auc (binary), f1 (multiclass), mae (regression)."""
    return {"binary_classification": "roc_auc", "multiclass_classification": "f1"}.get(str(task), "mae")


# -- history ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class WindowRecord:
    """One evaluated window as the state database remembers it (latest evaluation)."""

    window_end: datetime
    figures: Mapping[str, float]
    usable_for_training: bool = True
    n_labeled: int = 0


@dataclass(frozen=True)
class Lease:
    """A retraining in flight: who holds it and until when (wall-clock)."""

    holder: str
    acquired_at: datetime
    expires_at: datetime
    window_end: datetime | None = None

    def active(self, now: datetime) -> bool:
        return now < self.expires_at

    def to_dict(self) -> dict[str, Any]:
        return {
            "holder": self.holder,
            "acquired_at": self.acquired_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
            "window_end": None if self.window_end is None else self.window_end.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Lease:
        end = data.get("window_end")
        return cls(
            holder=str(data["holder"]),
            acquired_at=datetime.fromisoformat(data["acquired_at"]),
            expires_at=datetime.fromisoformat(data["expires_at"]),
            window_end=None if end is None else datetime.fromisoformat(end),
        )


@dataclass(frozen=True)
class RetrainHistory:
    """What the policy needs to know about the past: windows, the last retraining, a lease."""

    window_size: timedelta
    windows: tuple[WindowRecord, ...] = ()
    # Window ends of the trigger windows of completed retrainings (from the audit trail).
    retrained_at: tuple[datetime, ...] = ()
    lease: Lease | None = None


@dataclass(frozen=True)
class RetrainDecision:
    """Retrain or not; `reasons` are the triggers that fired, `blocked_by` the guards that held."""

    retrain: bool
    reasons: list[str]
    blocked_by: list[str]
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        if self.retrain:
            return "retrain"
        return "blocked" if self.reasons and self.blocked_by else "no-retrain"

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)

    def to_dict(self) -> dict[str, Any]:
        return {
            "retrain": self.retrain,
            "decision": self.label,
            "reasons": list(self.reasons),
            "blocked_by": list(self.blocked_by),
            "evidence": dict(self.evidence),
        }


def _flag(figures: Mapping[str, float], name: str) -> bool:
    value = figures.get(name)
    return value is not None and math.isfinite(value) and value >= 0.5


def _critical(figures: Mapping[str, float]) -> bool:
    value = figures.get("validation.critical_failures")
    return value is not None and math.isfinite(value) and value > 0


def _band_breaches(
    figures: Mapping[str, float],
    metrics: Sequence[str],
    where: str,
    kinds: tuple[str, ...] = ("estimated", "realized"),
) -> list[str]:
    """Which estimated/realized metrics are outside their reference band, worse side only."""
    wanted = set(metrics)
    found: list[str] = []
    names = sorted(
        {k.removeprefix("perf.band.").rsplit(".", 1)[0] for k in figures if k.startswith("perf.band.")}
    )
    for metric in names:
        if wanted and metric not in wanted:
            continue
        higher = HIGHER_IS_BETTER.get(metric, True)
        bound_name = f"perf.band.{metric}.{'lower' if higher else 'upper'}"
        bound = figures.get(bound_name)
        if bound is None or not math.isfinite(bound):
            continue
        for kind in kinds:
            value = figures.get(f"perf.{kind}.{metric}")
            if value is None or not math.isfinite(value):
                continue
            if (value < bound) if higher else (value > bound):
                side = "below" if higher else "above"
                found.append(f"{kind} {metric} {value:.4g} {side} its band ({bound:.4g}) {where}")
    return found


def _label_windows(
    history: RetrainHistory, window_end: datetime, lookback: int, since: datetime | None
) -> list[WindowRecord]:
    """Earlier windows whose (late-labeled) figures count, newest first, after the last retraining.

    Windows with critical validation failures are left out: bad data is not drift.
    """
    earliest = window_end - lookback * history.window_size
    out = [
        w
        for w in history.windows
        if earliest <= w.window_end < window_end
        and (since is None or w.window_end > since)
        and not _critical(w.figures)
    ]
    return sorted(out, key=lambda w: w.window_end, reverse=True)


def decide_retraining(
    figures: Mapping[str, float],
    history: RetrainHistory,
    config: RetrainingConfig,
    *,
    window_end: datetime,
    now: datetime,
) -> RetrainDecision:
    """Should the window ending at `window_end` (with these report figures) start a retraining?

    `now` is wall-clock time, used only for the lease's expiry; everything else is in window time.
    """
    reasons: list[str] = []
    blocked: list[str] = []
    evidence: dict[str, Any] = {"window_end": window_end.isoformat()}
    by_end = {w.window_end: w for w in history.windows}
    past_retrains = sorted(t for t in history.retrained_at if t <= window_end)
    last_retrain = past_retrains[-1] if past_retrains else None

    # -- triggers ---------------------------------------------------------------------------------
    k = config.drift_consecutive_windows
    if k > 0:
        streak = 0
        for i in range(k):
            end = window_end - i * history.window_size
            w_figures = figures if i == 0 else (by_end[end].figures if end in by_end else None)
            # An earlier window with critical validation failures does not count as drift (bad data is
            # not drift); for this window the guard below says so, with the trigger kept as evidence.
            if (
                w_figures is None
                or not _flag(w_figures, "drift.dataset_drift")
                or (i and _critical(w_figures))
            ):
                break
            streak += 1
        evidence["drift_streak"] = streak
        if streak >= k:
            reasons.append(f"dataset drift in {k} consecutive window(s)")

    lookback = _label_windows(history, window_end, config.label_lookback_windows, last_retrain)
    if config.on_performance_below_band:
        breaches = _band_breaches(figures, config.performance_metrics, "in this window")
        # Earlier windows add what their late labels tell (realized quality); their estimates were
        # already judged when they were the current window.
        for w in lookback:
            breaches += _band_breaches(
                w.figures,
                config.performance_metrics,
                f"in the window ending {w.window_end:%Y-%m-%d %H:%M}",
                kinds=("realized",),
            )
        if breaches:
            reasons.append("performance outside its band: " + "; ".join(breaches))
    if config.on_concept_drift:
        ends = [w.window_end for w in lookback if _flag(w.figures, "perf.concept_drift")]
        if _flag(figures, "perf.concept_drift"):
            ends.insert(0, window_end)
        if ends:
            reasons.append(
                "concept drift detected (window(s) ending "
                + ", ".join(f"{e:%Y-%m-%d %H:%M}" for e in ends)
                + ")"
            )

    # -- guards -----------------------------------------------------------------------------------
    if not config.enabled:
        blocked.append("retraining is disabled for this model (retraining.enabled: false)")
    if _critical(figures):
        blocked.append(
            f"{figures['validation.critical_failures']:.0f} critical validation failure(s) in this window: "
            "bad data is not drift"
        )
    recent = [t for t in history.retrained_at if abs(window_end - t) < config.cooldown]
    if recent:
        last = max(recent)
        blocked.append(
            f"cooldown: retrained for the window ending {last:%Y-%m-%d %H:%M}, "
            f"less than {_human(config.cooldown)} (window time) from this one"
        )
    if history.lease is not None and history.lease.active(now):
        blocked.append(
            f"a retraining is already in flight ({history.lease.holder}, until "
            f"{history.lease.expires_at:%Y-%m-%d %H:%M} UTC)"
        )
    evidence["last_retrain_window_end"] = None if last_retrain is None else last_retrain.isoformat()
    return RetrainDecision(
        retrain=bool(reasons) and not blocked, reasons=reasons, blocked_by=blocked, evidence=evidence
    )


def _human(delta: timedelta) -> str:
    seconds = delta.total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


# -- reading history from the state database ----------------------------------------------------------
def read_lease(store: StateStore, model: str) -> Lease | None:
    value = store.get_json(LEASE_NAMESPACE, model)
    return None if value is None else Lease.from_dict(value)


def read_history(store: StateStore, model: str, *, window_size: timedelta) -> RetrainHistory:
    """Windows (latest evaluations), completed retrainings (audit trail) and the lease of `model`."""
    windows = tuple(
        WindowRecord(
            window_end=w["window_end"],
            figures=dict(w["summary"].get("figures", {})),
            usable_for_training=bool(w["usable_for_training"]),
            n_labeled=int(w["n_labeled"]),
        )
        for w in store.list_windows(model)
    )
    retrained = tuple(
        a["window_end"]
        for a in store.read_audit(model=model)
        if a["event"] == EVENT_RETRAIN_COMPLETED and a["window_end"] is not None
    )
    return RetrainHistory(
        window_size=window_size, windows=windows, retrained_at=retrained, lease=read_lease(store, model)
    )


def acquire_lease(
    store: StateStore,
    model: str,
    *,
    holder: str,
    ttl: timedelta,
    now: datetime | None = None,
    window_end: datetime | None = None,
) -> bool:
    """Take the model's retraining lease; False when another holder has an unexpired one.

    Atomic across processes: a fresh lease is an insert on the (namespace, key) primary key, and an
    expired one is replaced only if it is still the row we read (compare-and-swap on its value).
    The same holder taking it again (a retried flow run) succeeds and extends it.
    """
    now = now or datetime.now(UTC)
    lease = Lease(holder=holder, acquired_at=now, expires_at=now + ttl, window_end=window_end)
    text = json.dumps(lease.to_dict())
    where = (kv_state.c.namespace == LEASE_NAMESPACE) & (kv_state.c.key == model)
    try:
        with store.begin() as conn:
            current = conn.execute(sa.select(kv_state.c.value).where(where)).scalar_one_or_none()
            if current is None:
                conn.execute(
                    kv_state.insert().values(namespace=LEASE_NAMESPACE, key=model, value=text, updated_at=now)
                )
                return True
            held = Lease.from_dict(json.loads(current))
            if held.active(now) and held.holder != holder:
                return False
            swapped = conn.execute(
                kv_state.update()
                .where(where & (kv_state.c.value == current))
                .values(value=text, updated_at=now)
            )
            return bool(swapped.rowcount == 1)
    except sa.exc.IntegrityError:  # another process inserted first
        return False


def release_lease(store: StateStore, model: str, *, holder: str | None = None) -> bool:
    """Free the model's lease (only `holder`'s, when given); True when a row was removed."""
    where = (kv_state.c.namespace == LEASE_NAMESPACE) & (kv_state.c.key == model)
    with store.begin() as conn:
        if holder is not None:
            current = conn.execute(sa.select(kv_state.c.value).where(where)).scalar_one_or_none()
            if current is None or json.loads(current).get("holder") != holder:
                return False
            return bool(conn.execute(kv_state.delete().where(where & (kv_state.c.value == current))).rowcount)
        return bool(conn.execute(kv_state.delete().where(where)).rowcount)


def audit_decision(
    store: StateStore,
    decision: RetrainDecision,
    *,
    model: str,
    window_start: datetime,
    window_end: datetime,
    config_hash: str | None = None,
    at: datetime | None = None,
) -> None:
    """Every decision goes to the audit trail, taken or not, with its triggers and guards."""
    store.append_audit(
        model=model,
        event=EVENT_DECISION,
        decision=decision.label,
        reasons=decision.reasons + [f"blocked: {b}" for b in decision.blocked_by],
        evidence=decision.to_dict(),
        window_start=window_start,
        window_end=window_end,
        config_hash=config_hash,
        at=at,
    )


# -- training data ----------------------------------------------------------------------------------
def split_windows(
    windows: Sequence[WindowRecord], *, window_end: datetime, training: int, evaluation: int
) -> tuple[list[datetime], list[datetime]]:
    """Labeled, validated windows up to `window_end`: (training window ends, evaluation window ends).

    The newest `evaluation` windows are kept out of training so the deploy flow has data neither
    model was fitted on; the `training` windows before them are the training set. Oldest first.
    """
    usable = sorted(
        w.window_end
        for w in windows
        if w.usable_for_training and w.n_labeled > 0 and w.window_end <= window_end
    )
    held_out = usable[-evaluation:] if evaluation else []
    rest = usable[: len(usable) - len(held_out)]
    return (rest[-training:] if training else []), held_out


def evaluation_windows(
    windows: Sequence[WindowRecord],
    *,
    training_windows: Sequence[datetime],
    data_end: datetime | None,
    count: int,
) -> list[datetime]:
    """Labeled, validated windows newer than everything the challenger was trained on (oldest first).

    Newer than its newest training window; a challenger trained on the reference only must not be
    judged on windows older than its data (`data_end`). At most `count` (at least one) of the newest.
    """
    after: datetime | None = max(training_windows) if training_windows else data_end
    usable = sorted(
        w.window_end
        for w in windows
        if w.usable_for_training and w.n_labeled > 0 and (after is None or w.window_end > after)
    )
    return usable[-max(count, 1) :]


def holdout_mask(n: int, fraction: float, seed: int) -> np.ndarray:
    """A seeded random `fraction` of `n` rows (at least one row on each side when n >= 2)."""
    rng = np.random.default_rng(seed)
    k = round(n * fraction)
    k = min(max(k, 1 if n >= 2 else 0), max(n - 1, 0))
    mask = np.zeros(n, dtype=bool)
    mask[rng.permutation(n)[:k]] = True
    return mask


# -- model quality ----------------------------------------------------------------------------------
def model_metrics(
    scored: pd.DataFrame,
    *,
    target: str,
    prediction: str,
    score: str | None,
    task: str,
    classes: Sequence[Any] | None = None,
    probabilities: Mapping[str, str] | None = None,
) -> dict[str, float]:
    """Realized metrics of one model's outputs on labeled rows (the monitoring report's definitions).

    `classes` is the model's class order (scikit-learn's `classes_`); binary scores are the
    probability of the second one. Metrics that cannot be computed are left out.
    """
    labeled = scored[scored[target].notna()]
    if task == "regression":
        y = pd.to_numeric(labeled[target], errors="coerce").to_numpy(dtype=np.float64)
        yhat = pd.to_numeric(labeled[prediction], errors="coerce").to_numpy(dtype=np.float64)
        ok = np.isfinite(y)
        values = regression_metrics(y[ok], yhat[ok])
    else:
        names = [
            canonical_label(c) for c in (classes if classes is not None else sorted(labeled[target].unique()))
        ]
        binary = task == "binary_classification"
        y, extra = encode_labels(labeled[target], names)
        labels = [*names, *extra]
        yhat, extra_p = encode_labels(labeled[prediction], labels)
        labels += extra_p
        proba: np.ndarray | None = None
        if binary and score is not None and score in labeled.columns:
            s = pd.to_numeric(labeled[score], errors="coerce").to_numpy(dtype=np.float64)
            proba = np.column_stack([1.0 - s, s])
        elif not binary and probabilities:
            proba = np.column_stack([labeled[probabilities[c]].to_numpy(dtype=np.float64) for c in names])
        values, _ = classification_metrics(
            y, yhat, proba, labels=labels, n_proba_classes=len(names), binary=binary
        )
    return {k: float(v.value) for k, v in values.items() if v.value is not None and math.isfinite(v.value)}


@dataclass(frozen=True)
class DeployDecision:
    """Promote the challenger or not, with the figures that decided."""

    promote: bool
    reasons: list[str]
    primary_metric: str
    challenger: dict[str, float]
    champion: dict[str, float]

    @property
    def label(self) -> str:
        return "promote" if self.promote else "reject"

    def to_dict(self) -> dict[str, Any]:
        return {
            "promote": self.promote,
            "decision": self.label,
            "reasons": list(self.reasons),
            "primary_metric": self.primary_metric,
            "challenger": dict(self.challenger),
            "champion": dict(self.champion),
        }


def compare_models(
    challenger: Mapping[str, float],
    champion: Mapping[str, float],
    *,
    primary_metric: str,
    min_improvement: float,
    guard_metrics: Sequence[str] = (),
    guard_tolerance: float = 0.0,
) -> DeployDecision:
    """The deployment gate, on the same evaluation data for both models.

    Improvement is signed by the metric's direction (a lower log loss is an improvement). The
    challenger must improve the primary metric by at least `min_improvement` and may not be worse
    than the champion by more than `guard_tolerance` on any guard metric.
    """
    reasons: list[str] = []
    promote = True

    def gain(metric: str) -> float | None:
        a, b = challenger.get(metric), champion.get(metric)
        if a is None or b is None:
            return None
        return (a - b) if HIGHER_IS_BETTER.get(metric, True) else (b - a)

    g = gain(primary_metric)
    if g is None:
        promote = False
        reasons.append(f"{primary_metric} could not be computed for both models")
    elif g >= min_improvement:
        reasons.append(
            f"{primary_metric}: challenger {challenger[primary_metric]:.4f} vs champion "
            f"{champion[primary_metric]:.4f} (gain {g:+.4f} ≥ margin {min_improvement:g})"
        )
    else:
        promote = False
        reasons.append(
            f"{primary_metric}: challenger {challenger[primary_metric]:.4f} vs champion "
            f"{champion[primary_metric]:.4f} (gain {g:+.4f} < margin {min_improvement:g})"
        )
    for metric in guard_metrics:
        gm = gain(metric)
        if gm is None:
            promote = False
            reasons.append(f"guard {metric} could not be computed for both models")
        elif gm < -guard_tolerance:
            promote = False
            reasons.append(
                f"guard {metric}: challenger {challenger[metric]:.4f} worse than champion "
                f"{champion[metric]:.4f} beyond the tolerance {guard_tolerance:g}"
            )
    return DeployDecision(promote, reasons, primary_metric, dict(challenger), dict(champion))


# -- the reference follows the champion ---------------------------------------------------------------
def reference_source(
    configured: Any, *, champion_version: str | None, version_tags: Mapping[str, str]
) -> Any:
    """The reference source for the current champion.

    A version trained by the retrain flow carries its reference's location in the
    `watchkeeper.reference_uri` tag: that wins. Otherwise the configured `sources.reference` is used,
    with ``{champion_version}`` in its path (file sources) replaced by the champion's version.
    """
    uri = version_tags.get(TAG_REFERENCE_URI)
    if uri:
        from watchkeeper.config import ParquetSourceConfig

        return ParquetSourceConfig(type="parquet", path=uri)
    path = getattr(configured, "path", None)
    if isinstance(path, str) and VERSION_PLACEHOLDER in path:
        if champion_version is None:
            raise ValueError(
                f"sources.reference.path uses {VERSION_PLACEHOLDER} but the model has no champion version"
            )
        return configured.model_copy(update={"path": path.replace(VERSION_PLACEHOLDER, champion_version)})
    return configured


def reference_file_name(version: str, suffix: str = "") -> str:
    return f"v{version}{suffix}.parquet"
