"""Sequential concept-drift detectors over the time-ordered per-row error stream.

Both detectors are vectorized: between two alarms the statistics are cumulative sums, so a batch is
one numpy pass; after an alarm the detector resets and the rest of the batch is a new pass (alarms
are rare, so the loop is over alarms, never over rows). Their state is a small JSON dict that the
flow stores between scheduled runs, so a change spanning several windows is caught.

DDM (Gama et al., 2004) watches the error rate p_i of an error stream since the last reset, with
s_i = sqrt(p_i (1 − p_i) / i): warning when p_i + s_i ≥ p_min + w·s_min, drift when ≥ p_min + d·s_min,
where (p_min, s_min) is taken where p + s was smallest. We use the Laplace-smoothed rate
(k + 1) / (i + 2): with the raw rate, a model that makes no error in its first rows sets
p_min = s_min = 0 and its first error is an alarm. Default levels: see `DDMConfig`.

Page-Hinkley watches the standardized error z_i (see `PageHinkleyConfig`): m_t = α m_{t−1} +
(z_t − mean(z_1..t) − δ), alarm when m_t − min(m) > λ. Standardizing with the reference error's
mean and standard deviation makes δ and λ independent of the error's scale.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.signal import lfilter


@dataclass(frozen=True)
class DetectorResult:
    """What one detector saw in one batch: alarms (positions within the batch) and its end statistic."""

    name: str
    drift: bool
    warning: bool
    drift_positions: tuple[int, ...]
    n_consumed: int
    statistic: float | None
    threshold: float | None
    status: str = "ok"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "drift": self.drift,
            "warning": self.warning,
            "drift_positions": list(self.drift_positions),
            "n_consumed": self.n_consumed,
            "statistic": self.statistic,
            "threshold": self.threshold,
            "status": self.status,
        }


def _finite_or_none(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def ddm_initial_state() -> dict[str, Any]:
    return {"n": 0, "errors": 0, "p_min": None, "s_min": None, "drifts": 0}


def update_ddm(
    errors: np.ndarray,
    state: dict[str, Any] | None,
    *,
    warning_level: float = 3.0,
    drift_level: float = 4.0,
    min_samples: int = 1000,
) -> tuple[DetectorResult, dict[str, Any]]:
    """Feed an error stream (in time order); returns the batch's result and the new state.

    Values are 0/1 errors, or any stream whose mean is an error rate (the engine feeds the
    CBPE-adjusted ``error − expected error + reference rate``).
    """
    st = dict(state) if state is not None else ddm_initial_state()
    e = np.asarray(errors, dtype=np.int64)
    positions: list[int] = []
    offset = 0
    warning = False
    statistic = threshold = float("nan")
    while offset < e.size:
        seg = e[offset:]
        n = st["n"] + np.arange(1, seg.size + 1, dtype=np.float64)
        k = st["errors"] + np.cumsum(seg)
        p = (k + 1.0) / (n + 2.0)
        s = np.sqrt(p * (1.0 - p) / n)
        m = p + s
        eligible = n >= min_samples
        m_elig = np.where(eligible, m, np.inf)
        m0 = np.inf if st["p_min"] is None else st["p_min"] + st["s_min"]
        run_min = np.minimum.accumulate(np.r_[m0, m_elig])[1:]
        new_min = eligible & (m_elig <= run_min)
        last = np.maximum.accumulate(np.where(new_min, np.arange(seg.size), -1))
        p0 = np.inf if st["p_min"] is None else st["p_min"]
        s0 = np.inf if st["s_min"] is None else st["s_min"]
        p_at = np.where(last >= 0, p[np.maximum(last, 0)], p0)
        s_at = np.where(last >= 0, s[np.maximum(last, 0)], s0)
        with np.errstate(invalid="ignore"):
            drift_at = eligible & (m >= p_at + drift_level * s_at)
        hit = np.flatnonzero(drift_at)
        if hit.size:
            j = int(hit[0])
            positions.append(offset + j)
            st = {**ddm_initial_state(), "drifts": st["drifts"] + 1}
            offset += j + 1
            continue
        st["n"] = int(st["n"] + seg.size)
        st["errors"] = int(k[-1])
        if last[-1] >= 0:
            st["p_min"], st["s_min"] = float(p_at[-1]), float(s_at[-1])
        statistic = float(m[-1])
        with np.errstate(invalid="ignore"):
            threshold = float(p_at[-1] + drift_level * s_at[-1])
            warning = bool(eligible[-1] and m[-1] >= p_at[-1] + warning_level * s_at[-1])
        break
    result = DetectorResult(
        "ddm",
        bool(positions),
        warning,
        tuple(positions),
        int(e.size),
        _finite_or_none(statistic),
        _finite_or_none(threshold),
    )
    return result, st


def page_hinkley_initial_state() -> dict[str, Any]:
    return {"n": 0, "sum": 0.0, "cum": 0.0, "min": None, "drifts": 0}


def update_page_hinkley(
    z: np.ndarray,
    state: dict[str, Any] | None,
    *,
    delta: float = 0.05,
    lambda_: float = 100.0,
    alpha: float = 1.0,
    min_samples: int = 30,
) -> tuple[DetectorResult, dict[str, Any]]:
    """Feed a standardized error stream (in time order); returns the batch's result and the new state."""
    st = dict(state) if state is not None else page_hinkley_initial_state()
    x = np.asarray(z, dtype=np.float64)
    positions: list[int] = []
    offset = 0
    statistic = float("nan")
    while offset < x.size:
        seg = x[offset:]
        n = st["n"] + np.arange(1, seg.size + 1, dtype=np.float64)
        csum = st["sum"] + np.cumsum(seg)
        u = seg - csum / n - delta
        if alpha == 1.0:
            cum = st["cum"] + np.cumsum(u)
        else:
            cum = lfilter([1.0], [1.0, -alpha], u, zi=[alpha * st["cum"]])[0]
        m0 = np.inf if st["min"] is None else st["min"]
        run_min = np.minimum.accumulate(np.r_[m0, cum])[1:]
        ph = cum - run_min
        hit = np.flatnonzero((n >= min_samples) & (ph > lambda_))
        if hit.size:
            j = int(hit[0])
            positions.append(offset + j)
            st = {**page_hinkley_initial_state(), "drifts": st["drifts"] + 1}
            offset += j + 1
            continue
        st.update(n=int(n[-1]), sum=float(csum[-1]), cum=float(cum[-1]), min=float(run_min[-1]))
        statistic = float(ph[-1])
        break
    result = DetectorResult(
        "page_hinkley",
        bool(positions),
        False,
        tuple(positions),
        int(x.size),
        _finite_or_none(statistic),
        float(lambda_),
    )
    return result, st
