"""The demo's simulated credit-risk model in production (pure data generation, seeded).

A reference set and 14 days of inference traffic with a scripted story:

- days 3 and 4: a joint shift with unchanged marginals — upstream, rows were re-paired so that
  income rises with the loan amount, credit score falls with debt-to-income and months employed rise
  with age; every column's distribution is exactly the reference's, so univariate drift sees
  nothing, while multivariate drift (PCA reconstruction, the domain classifier) does;
- day 5: a data-quality incident — `income` is missing for a quarter of the rows and `credit_score`
  holds out-of-range values (an upstream join broke);
- from day 8: covariate drift — applicants have lower income, larger loans and lower credit scores,
  and a loan purpose never seen in the reference (``crypto``) appears;
- day 9: a latency spike on the serving side;
- from day 10: concept drift — the relation between features and default changes (debt-to-income
  stops mattering the old way and renters default more), so the model's real quality drops while its
  confidence does not.

Ground truth (``defaulted``) exists for about 70% of requests and arrives three days late.

A second model, ``house-prices`` (regression), prices houses: from day 8 (`HOUSE_SHIFT_FROM`) the
market moves to older houses farther out, in poor condition, where the model errs more; sale prices
arrive five days late, so the drop in quality is first estimated without labels (DLE).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

NUMERICAL = (
    "age",
    "income",
    "loan_amount",
    "credit_score",
    "debt_to_income",
    "months_employed",
    "num_credit_lines",
)
CATEGORICAL = ("home_ownership", "purpose", "employment_type")
TARGET = "defaulted"

START = datetime(2026, 3, 1, tzinfo=UTC)
DAYS = 14
INCIDENT_DAY = 5
DRIFT_FROM = 8
LATENCY_DAY = 9
CONCEPT_FROM = 10
JOINT_SHIFT_DAYS = (3, 4)
LABEL_DELAY = timedelta(days=3)
LABELED_SHARE = 0.7

_HOME = (("RENT", "MORTGAGE", "OWN"), (0.4, 0.4, 0.2))
_PURPOSE = (
    ("debt_consolidation", "credit_card", "home_improvement", "car", "business", "medical"),
    (0.35, 0.2, 0.15, 0.15, 0.1, 0.05),
)
_PURPOSE_DRIFTED = (
    ("debt_consolidation", "credit_card", "home_improvement", "car", "business", "medical", "crypto"),
    (0.25, 0.2, 0.08, 0.1, 0.17, 0.05, 0.15),
)
_EMPLOYMENT = (("salaried", "self_employed", "contract", "unemployed"), (0.6, 0.2, 0.15, 0.05))


@dataclass(frozen=True)
class DayPlan:
    day: int
    start: datetime
    drifted: bool
    concept_drift: bool
    incident: bool
    latency_spike: bool
    joint_shift: bool = False


def day_plan(day: int) -> DayPlan:
    return DayPlan(
        day=day,
        start=START + timedelta(days=day - 1),
        drifted=day >= DRIFT_FROM,
        concept_drift=day >= CONCEPT_FROM,
        incident=day == INCIDENT_DAY,
        latency_spike=day == LATENCY_DAY,
        joint_shift=day in JOINT_SHIFT_DAYS,
    )


def _features(rng: np.random.Generator, n: int, *, drifted: bool) -> pd.DataFrame:
    income = rng.lognormal(np.log(55_000), 0.45, n) * (0.7 if drifted else 1.0)
    loan = rng.lognormal(np.log(15_000), 0.55, n) * (1.5 if drifted else 1.0)
    score = rng.normal(620 if drifted else 680, 60, n)
    dti = rng.beta(2, 5, n) + (0.1 if drifted else 0.0)
    purpose = _PURPOSE_DRIFTED if drifted else _PURPOSE
    return pd.DataFrame(
        {
            "age": np.clip(rng.normal(42, 12, n), 18, 90).round().astype(np.int64),
            "income": income.round(2),
            "loan_amount": loan.round(2),
            "credit_score": np.clip(score, 300, 850).round().astype(np.int64),
            "debt_to_income": dti.round(4),
            "months_employed": rng.exponential(60, n).round().astype(np.int64),
            "num_credit_lines": rng.poisson(5, n).astype(np.int64),
            "home_ownership": rng.choice(_HOME[0], n, p=_HOME[1]),
            "purpose": rng.choice(purpose[0], n, p=purpose[1]),
            "employment_type": rng.choice(_EMPLOYMENT[0], n, p=_EMPLOYMENT[1]),
        }
    )


_JOINT_PAIRS = (
    ("income", "loan_amount", 1),
    ("debt_to_income", "credit_score", -1),
    ("age", "months_employed", 1),
)


def apply_joint_shift(frame: pd.DataFrame) -> pd.DataFrame:
    """Re-pair values between columns (rank-matched) so each column keeps its exact values.

    Every marginal distribution is unchanged; only the joint distribution moves (e.g. income now
    rises with the loan amount): what multivariate drift catches and univariate drift cannot.
    """
    out = frame.copy()
    for lead, follow, sign in _JOINT_PAIRS:
        ranks = np.argsort(np.argsort(out[lead].to_numpy(), kind="stable"), kind="stable")
        values = np.sort(out[follow].to_numpy())
        out[follow] = (values if sign > 0 else values[::-1])[ranks]
    return out


def default_probability(frame: pd.DataFrame, *, concept_drift: bool) -> np.ndarray:
    """The true P(default | x); concept drift changes it, not the features."""
    dti = frame["debt_to_income"].to_numpy(float)
    score = frame["credit_score"].to_numpy(float)
    income = frame["income"].to_numpy(float)
    loan = frame["loan_amount"].to_numpy(float)
    unemployed = (frame["employment_type"] == "unemployed").to_numpy(float)
    business = (frame["purpose"] == "business").to_numpy(float)
    owner = (frame["home_ownership"] == "OWN").to_numpy(float)
    renter = (frame["home_ownership"] == "RENT").to_numpy(float)
    if not concept_drift:
        z = (
            -1.6
            + 5.0 * (dti - 0.28)
            - 0.02 * (score - 680)
            - 0.8 * np.log(income / 55_000)
            + 0.6 * np.log(loan / 15_000)
            + 1.0 * unemployed
            + 0.5 * business
            - 0.4 * owner
        )
    else:
        z = (
            -1.6
            - 4.0 * (dti - 0.28)
            + 0.005 * (score - 680)
            + 1.8 * renter
            - 1.0 * unemployed
            + 0.4 * business
        )
    return 1.0 / (1.0 + np.exp(-np.nan_to_num(z)))


def make_reference(seed: int = 7, *, rows: int = 20_000, days: int = 20) -> pd.DataFrame:
    """Historical data the first model is trained on; timestamps span the `days` before the demo."""
    rng = np.random.default_rng(seed)
    frame = _features(rng, rows, drifted=False)
    frame[TARGET] = (rng.random(rows) < default_probability(frame, concept_drift=False)).astype(np.int64)
    offsets = np.sort(rng.uniform(0, days * 86_400, rows))
    frame.insert(
        0, "timestamp", pd.Timestamp(START - timedelta(days=days)) + pd.to_timedelta(offsets, unit="s")
    )
    return frame


def make_day(day: int, seed: int = 7, *, rows: int = 2_000) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One day of requests (features, timestamp, request id, latency, status) and their true labels.

    The model's outputs (score, prediction, model version) are added by the caller, which scores
    with whatever model is the champion that day.
    """
    plan = day_plan(day)
    rng = np.random.default_rng([seed, day])
    frame = _features(rng, rows, drifted=plan.drifted)
    if plan.joint_shift:
        frame = apply_joint_shift(frame)
    truth = (rng.random(rows) < default_probability(frame, concept_drift=plan.concept_drift)).astype(np.int64)
    if plan.incident:
        broken = rng.random(rows) < 0.25
        frame["income"] = frame["income"].where(~broken)
        frame.loc[rng.random(rows) < 0.05, "credit_score"] = 9_999
    # Traffic follows the day: more requests in the afternoon.
    seconds = np.sort(np.clip(rng.normal(15 * 3600, 4 * 3600, rows), 0, 86_399.999))
    frame.insert(0, "timestamp", pd.Timestamp(plan.start) + pd.to_timedelta(seconds, unit="s"))
    frame.insert(0, "request_id", np.char.add(f"d{day:02d}-", np.char.zfill(np.arange(rows).astype(str), 6)))
    median = 320.0 if plan.latency_spike else 35.0
    frame["latency_ms"] = rng.lognormal(np.log(median), 0.35, rows).round(2)
    frame["status"] = np.where(rng.random(rows) < (0.03 if plan.latency_spike else 0.003), "error", "ok")
    labeled = rng.random(rows) < LABELED_SHARE
    labels = pd.DataFrame(
        {
            "request_id": frame["request_id"][labeled].to_numpy(),
            TARGET: truth[labeled],
            "label_timestamp": (frame["timestamp"][labeled] + LABEL_DELAY).to_numpy(),
        }
    )
    labels["label_timestamp"] = pd.to_datetime(labels["label_timestamp"], utc=True)
    return frame, labels


HOUSE_NUMERICAL = ("sqft", "bedrooms", "age_years", "distance_km")
HOUSE_CATEGORICAL = ("neighborhood", "condition")
HOUSE_TARGET = "price"
HOUSE_SHIFT_FROM = 8
HOUSE_LABEL_DELAY = timedelta(days=5)
_NEIGHBORHOODS = ("center", "north", "south", "east", "west")
_PREMIUM = {"center": 90_000.0, "north": 40_000.0, "south": 10_000.0, "east": -20_000.0, "west": 25_000.0}


def _house_features(rng: np.random.Generator, n: int, *, shifted: bool) -> pd.DataFrame:
    sqft = rng.lognormal(np.log(1600), 0.35, n)
    where = (0.15, 0.15, 0.2, 0.4, 0.1) if shifted else (0.25, 0.2, 0.2, 0.15, 0.2)
    condition = (0.25, 0.35, 0.4) if shifted else (0.5, 0.35, 0.15)
    return pd.DataFrame(
        {
            "sqft": sqft.round(0),
            "bedrooms": np.clip(np.round(sqft / 500 + rng.normal(0, 0.7, n)), 1, 7).astype(np.int64),
            "age_years": (rng.gamma(2.0, 12.0, n) * (1.8 if shifted else 1.0)).round(1),
            "distance_km": (rng.gamma(2.0, 4.0, n) * (1.6 if shifted else 1.0)).round(2),
            "neighborhood": rng.choice(_NEIGHBORHOODS, n, p=where),
            "condition": rng.choice(("good", "average", "poor"), n, p=condition),
        }
    )


def house_price(frame: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
    """Sale prices: a price per size and place, noisier (and lower) for old, far, poor houses."""
    age = frame["age_years"].to_numpy(float)
    dist = frame["distance_km"].to_numpy(float)
    poor = (frame["condition"] == "poor").to_numpy(float)
    premium = frame["neighborhood"].map(_PREMIUM).to_numpy(float)
    mean = 60_000 + 170 * frame["sqft"].to_numpy(float) - 900 * age - 5_000 * dist + premium - 30_000 * poor
    mean -= 15.0 * np.maximum(age - 30, 0) ** 2  # old houses lose value faster than a linear model says
    noise = 12_000 + 600 * age + 2_000 * dist + 25_000 * poor
    return np.maximum(20_000.0, mean + rng.normal(0, 1, len(frame)) * noise).round(0)


def make_house_reference(seed: int = 7, *, rows: int = 12_000, days: int = 12) -> pd.DataFrame:
    """Past sales over the `days` before the demo (features, timestamp and the sale price)."""
    rng = np.random.default_rng([seed, 1000])
    frame = _house_features(rng, rows, shifted=False)
    frame[HOUSE_TARGET] = house_price(frame, rng)
    offsets = np.sort(rng.uniform(0, days * 86_400, rows))
    frame.insert(
        0, "timestamp", pd.Timestamp(START - timedelta(days=days)) + pd.to_timedelta(offsets, unit="s")
    )
    return frame


def make_house_day(day: int, seed: int = 7, *, rows: int = 1_000) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One day of price requests and the sale prices (labels) that will arrive five days later."""
    start = day_plan(day).start
    rng = np.random.default_rng([seed, 1000 + day])
    frame = _house_features(rng, rows, shifted=day >= HOUSE_SHIFT_FROM)
    price = house_price(frame, rng)
    seconds = np.sort(rng.uniform(0, 86_399.999, rows))
    frame.insert(0, "timestamp", pd.Timestamp(start) + pd.to_timedelta(seconds, unit="s"))
    frame.insert(0, "request_id", np.char.add(f"h{day:02d}-", np.char.zfill(np.arange(rows).astype(str), 6)))
    frame["latency_ms"] = rng.lognormal(np.log(20.0), 0.3, rows).round(2)
    frame["status"] = "ok"
    labels = pd.DataFrame(
        {
            "request_id": frame["request_id"].to_numpy(),
            HOUSE_TARGET: price,
            "label_timestamp": pd.to_datetime(frame["timestamp"] + HOUSE_LABEL_DELAY, utc=True),
        }
    )
    return frame, labels
