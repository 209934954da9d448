"""The retraining decision: a window's verdict and the model's history → retrain or not, and why.

`decide_retraining(figures, history, config, window_end=, now=)` → `RetrainDecision` is a plain
function over plain data, so the rules can be read, tested table by table and replayed from the
audit trail:

- triggers: dataset drift for K consecutive windows, estimated or realized performance outside its
  reference band, concept drift;
- guards: never on a window with critical validation failures (bad data is not drift), a cooldown
  measured in *window* time so backfills and the demo's simulated days behave like real ones, at
  most one retraining in flight per model (the lease).

`read_history` gathers what the rules need from the state database, `audit_decision` writes every
decision to the audit trail, taken or not; `decide_and_audit` does all three for a monitored window.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from watchkeeper.performance.metrics import HIGHER_IS_BETTER
from watchkeeper.report import MonitoringReport
from watchkeeper.retraining.config import RetrainingConfig
from watchkeeper.retraining.events import EVENT_DECISION, EVENT_RETRAIN_COMPLETED
from watchkeeper.retraining.lease import Lease, read_lease
from watchkeeper.state import StateStore
from watchkeeper.timegrid import WindowCalendar, as_calendar

if TYPE_CHECKING:  # annotations only: the config imports this package
    from watchkeeper.config import MonitorConfig


@dataclass(frozen=True)
class WindowRecord:
    """One evaluated window as the state database remembers it (latest evaluation)."""

    window_end: datetime
    figures: Mapping[str, float]
    usable_for_training: bool = True
    n_labeled: int = 0


@dataclass(frozen=True)
class RetrainHistory:
    """What the policy needs to know about the past: windows, the last retraining, a lease."""

    # The window calendar (a bare timedelta: epoch-aligned UTC windows of that size).
    window_size: timedelta | WindowCalendar
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
    earliest = as_calendar(history.window_size).shift(window_end, -lookback)
    out = [
        w
        for w in history.windows
        if earliest <= w.window_end < window_end
        and (since is None or w.window_end > since)
        and not _critical(w.figures)
    ]
    return sorted(out, key=lambda w: w.window_end, reverse=True)


def _triggers(
    figures: Mapping[str, float],
    history: RetrainHistory,
    config: RetrainingConfig,
    *,
    window_end: datetime,
    last_retrain: datetime | None,
    evidence: dict[str, Any],
) -> list[str]:
    """The configured triggers that fire for this window (drift streak, band breaches, concept drift)."""
    reasons: list[str] = []
    by_end = {w.window_end: w for w in history.windows}
    k = config.drift_consecutive_windows
    if k > 0:
        streak = 0
        for i in range(k):
            end = as_calendar(history.window_size).shift(window_end, -i)
            w_figures = figures if i == 0 else (by_end[end].figures if end in by_end else None)
            # An earlier window with critical validation failures does not count as drift (bad data is
            # not drift); for this window the guard says so, with the trigger kept as evidence.
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
    return reasons


DISABLED = "retraining is disabled for this model (retraining.enabled: false)"


def _guards(
    figures: Mapping[str, float],
    history: RetrainHistory,
    config: RetrainingConfig,
    *,
    window_end: datetime,
    now: datetime,
) -> list[str]:
    """The guards that hold a retraining back: disabled, bad data, cooldown, one already in flight."""
    blocked: list[str] = []
    if not config.enabled:
        blocked.append(DISABLED)
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
    return blocked


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
    evidence: dict[str, Any] = {"window_end": window_end.isoformat()}
    past_retrains = sorted(t for t in history.retrained_at if t <= window_end)
    last_retrain = past_retrains[-1] if past_retrains else None
    reasons = _triggers(
        figures, history, config, window_end=window_end, last_retrain=last_retrain, evidence=evidence
    )
    blocked = _guards(figures, history, config, window_end=window_end, now=now)
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


def read_history(store: StateStore, model: str, *, window_size: timedelta | WindowCalendar) -> RetrainHistory:
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
    """Every decision goes to the audit trail, taken or not, with its triggers and guards.

    With retraining disabled, that comes first: the reader learns the policy is off before the
    evidence it would have acted on.
    """
    triggers = [f"would retrain: {r}" if DISABLED in decision.blocked_by else r for r in decision.reasons]
    guards = [f"blocked: {b}" for b in decision.blocked_by]
    store.append_audit(
        model=model,
        event=EVENT_DECISION,
        decision=decision.label,
        reasons=guards + triggers if DISABLED in decision.blocked_by else triggers + guards,
        evidence=decision.to_dict(),
        window_start=window_start,
        window_end=window_end,
        config_hash=config_hash,
        at=at,
    )


def decide_and_audit(
    store: StateStore,
    config: MonitorConfig,
    report: MonitoringReport,
    *,
    config_hash: str,
    now: datetime,
) -> RetrainDecision:
    """Ask the retraining policy about the report's window and write the decision to the audit trail."""
    history = read_history(store, config.model.name, window_size=config.window.calendar)
    decision = decide_retraining(
        report.figures(), history, config.retraining, window_end=report.window_end, now=now
    )
    audit_decision(
        store,
        decision,
        model=config.model.name,
        window_start=report.window_start,
        window_end=report.window_end,
        config_hash=config_hash,
    )
    return decision
