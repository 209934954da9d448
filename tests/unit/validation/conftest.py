"""Shared fixtures for the validation tests: a tiny seeded reference and the suite generated from it.

Importing Great Expectations takes seconds, so the generated suite (and with it GX's import) is built
once per session.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from watchkeeper.config import ColumnsConfig
from watchkeeper.validation import ExpectationSuiteSpec, generate_suite

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "true")

N_ROWS = 400


def make_reference() -> pd.DataFrame:
    """400 rows with values chosen so the generated bounds can be worked out by hand.

    age: 20..79 (value = i % 60 + 20); income: 1000 + 10 i, null where i % 40 == 0 (2.5 % null);
    region: n, s, e, w in turn; prediction: 0/1; score: evenly spaced over [0, 1].
    """
    i = np.arange(N_ROWS)
    income = (1000.0 + 10.0 * i).astype("float64")
    income[i % 40 == 0] = np.nan
    return pd.DataFrame(
        {
            "request_id": [f"r{k}" for k in i],
            "timestamp": pd.Timestamp("2026-01-01") + pd.to_timedelta(i, unit="min"),
            "age": (i % 60 + 20).astype("int64"),
            "income": income,
            "region": np.array(["n", "s", "e", "w"], dtype=object)[i % 4],
            "prediction": (i % 3 == 0).astype("int64"),
            "score": np.linspace(0.0, 1.0, N_ROWS),
        }
    )


COLUMNS = ColumnsConfig(
    numerical_features=("age", "income"),
    categorical_features=("region",),
    score="score",
)


@pytest.fixture(scope="session")
def reference() -> pd.DataFrame:
    return make_reference()


@pytest.fixture(scope="session")
def columns() -> ColumnsConfig:
    return COLUMNS


@pytest.fixture(scope="session")
def suite(reference: pd.DataFrame) -> ExpectationSuiteSpec:
    return generate_suite(reference, columns=COLUMNS, model_name="fixture-model", window_rows=400)
