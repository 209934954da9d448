"""DDM and Page-Hinkley on synthetic streams with a known change point, against loop references."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from watchkeeper.performance.concept import update_ddm, update_page_hinkley


def _stream(seed: int, before: int, after: int, p0: float, p1: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.r_[rng.random(before) < p0, rng.random(after) < p1].astype(np.float64)


def _ddm_loop(errors: np.ndarray, warn: float = 2.0, drift: float = 3.0, min_n: int = 30) -> list[int]:
    """Textbook DDM, one row at a time (Laplace-smoothed rate), to check the vectorized version."""
    alarms, n, k, p_min, s_min = [], 0, 0, math.inf, math.inf
    for i, e in enumerate(errors):
        n += 1
        k += int(e)
        p = (k + 1) / (n + 2)
        s = math.sqrt(p * (1 - p) / n)
        if n < min_n:
            continue
        if p + s <= p_min + s_min:
            p_min, s_min = p, s
        if p + s >= p_min + drift * s_min:
            alarms.append(i)
            n, k, p_min, s_min = 0, 0, math.inf, math.inf
    return alarms


def _ph_loop(z: np.ndarray, delta: float, lam: float, alpha: float, min_n: int = 30) -> list[int]:
    alarms, n, total, cum, low = [], 0, 0.0, 0.0, math.inf
    for i, x in enumerate(z):
        n += 1
        total += x
        cum = alpha * cum + (x - total / n - delta)
        low = min(low, cum)
        if n >= min_n and cum - low > lam:
            alarms.append(i)
            n, total, cum, low = 0, 0.0, 0.0, math.inf
    return alarms


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ddm_matches_loop_reference(seed: int) -> None:
    # A stream with two changes, so resets after an alarm are exercised too.
    rng = np.random.default_rng(seed)
    e = np.r_[rng.random(3000) < 0.1, rng.random(2000) < 0.4, rng.random(2000) < 0.8].astype(np.float64)
    result, _ = update_ddm(e, None, warning_level=2.0, drift_level=3.0, min_samples=30)
    assert list(result.drift_positions) == _ddm_loop(e)
    assert result.drift


@pytest.mark.parametrize("alpha", [1.0, 0.999])
def test_page_hinkley_matches_loop_reference(alpha: float) -> None:
    rng = np.random.default_rng(5)
    z = np.r_[rng.normal(0, 1, 3000), rng.normal(1.0, 1, 1500), rng.normal(2.5, 1, 1500)]
    result, _ = update_page_hinkley(z, None, delta=0.05, lambda_=50.0, alpha=alpha)
    assert list(result.drift_positions) == _ph_loop(z, 0.05, 50.0, alpha)
    assert result.drift


def test_ddm_detects_known_change_and_not_before() -> None:
    # Error rate 0.1 → 0.3 at row 10,000: with the default levels, alarm within 2,000 rows, none before.
    e = _stream(11, 10_000, 5_000, 0.1, 0.3)
    result, _ = update_ddm(e, None)
    assert result.drift_positions
    assert 10_000 <= result.drift_positions[0] < 12_000


def test_page_hinkley_detects_known_change_and_not_before() -> None:
    e = _stream(12, 10_000, 5_000, 0.1, 0.3)
    z = (e - 0.1) / 0.3
    result, _ = update_page_hinkley(z, None)
    assert result.drift_positions
    assert 10_000 <= result.drift_positions[0] < 10_500


def test_no_change_no_alarm() -> None:
    e = _stream(13, 100_000, 0, 0.1, 0.1)
    assert not update_ddm(e, None)[0].drift
    assert not update_page_hinkley((e - 0.1) / 0.3, None)[0].drift


@pytest.mark.parametrize("cuts", [[2500], [1, 9999, 10_400], [3000, 6000, 9000, 10_100, 12_000]])
def test_state_carries_across_batches(cuts: list[int]) -> None:
    # The change spans several batches: fed in pieces through a JSON round trip of the state, the
    # detectors raise the same alarms at the same rows as on the whole stream.
    e = _stream(14, 10_000, 4_000, 0.1, 0.35)
    whole_ddm, _ = update_ddm(e, None)
    whole_ph, _ = update_page_hinkley((e - 0.1) / 0.3, None)
    ddm_state = ph_state = None
    ddm_alarms: list[int] = []
    ph_alarms: list[int] = []
    for start, end in zip([0, *cuts], [*cuts, e.size], strict=True):
        r, ddm_state = update_ddm(e[start:end], ddm_state)
        ddm_state = json.loads(json.dumps(ddm_state))
        ddm_alarms += [start + i for i in r.drift_positions]
        r, ph_state = update_page_hinkley((e[start:end] - 0.1) / 0.3, ph_state)
        ph_state = json.loads(json.dumps(ph_state))
        ph_alarms += [start + i for i in r.drift_positions]
    assert ddm_alarms == list(whole_ddm.drift_positions)
    assert ph_alarms == list(whole_ph.drift_positions)
    assert ddm_state is not None and ddm_state["drifts"] == len(ddm_alarms) >= 1


def test_ddm_perfect_start_and_empty_batch() -> None:
    # A model with no error in its first 200 rows: the smoothed rate keeps one error from alarming.
    e = np.zeros(500)
    e[250] = 1
    result, state = update_ddm(e, None)
    assert not result.drift
    assert state["n"] == 500 and state["errors"] == 1
    empty, same = update_ddm(np.array([]), state)
    assert not empty.drift and empty.n_consumed == 0 and same == state
