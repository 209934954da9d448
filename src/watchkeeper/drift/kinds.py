"""Column kinds as Evidently types them, and the coarse type family used to catch mismatched sides.

Both sides of a drift comparison are typed with the same rules: the reference when it is fitted
(`watchkeeper.drift.reference`), the window when it is evaluated (`watchkeeper.drift.engine`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from watchkeeper.drift.registry import Kind

INTEGER_CARDINALITY_LIMIT = 10  # Evidently: integer columns with <= 10 values are categorical


def infer_kind(series: pd.Series) -> Kind | str:
    """Evidently's column type inference; returns a kind, or the reason the column is not tested."""
    dtype = series.dtype
    name = dtype.name
    if name.startswith("float"):
        return "numerical"
    if name.startswith("int") or name.startswith("uint"):
        return "categorical" if series.nunique() <= INTEGER_CARDINALITY_LIMIT else "numerical"
    if name in ("bool", "category"):
        return "categorical"
    if name.startswith("datetime"):
        return "datetime"
    if name in ("string", "str", "object"):
        values = series.dropna()
        if values.empty:
            return "not testable: all values are NaN"
        if name == "object" and not (isinstance(values.iloc[0], str) and isinstance(values.iloc[-1], str)):
            return f"not testable: cannot infer the column type (dtype {name})"
        if series.nunique() > 0.5 * series.count():
            return "not testable: text columns are not supported (more than half the values are unique)"
        return "categorical"
    return f"not testable: cannot infer the column type (dtype {name})"


def type_family(series: pd.Series) -> str:
    """A coarse type family, to catch a column whose type differs between the two windows."""
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return type_family(pd.Series(dtype.categories))
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
        return "number"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    head = series.iloc[:1000].dropna()
    tail = series.iloc[-1000:].dropna()
    sample = pd.concat([head, tail])
    if sample.empty:
        return "empty"
    types = {type(v) for v in sample.tolist()}
    if types <= {str}:
        return "string"
    if all(issubclass(t, int | float | np.number) for t in types):
        return "number"
    return "mixed"
