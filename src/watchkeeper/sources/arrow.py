"""Typed frames from every source: strings stay in Arrow, categorical strings become pandas `category`.

Python string objects cost ~60 bytes a value and every pass over them (hashing, comparing, type
checks in Great Expectations) runs per row in Python. So sources hand back:

- the string columns the caller names as categorical (categorical features, status, model version,
  class labels) dictionary-encoded: a pandas `category` built straight from Arrow's dictionary (for
  Parquet the dictionary pages are read as they are stored, `read_dictionary`);
- every other string column (request ids, free text) as Arrow-backed ``string[pyarrow]``;
- numbers, booleans and timestamps as before (NumPy dtypes).

Columns that hold something else than strings (ints in a "categorical" column, mixed objects) are
left to the caller (`watchkeeper.windows` normalizes categories); nothing here guesses.
"""

from __future__ import annotations

from collections.abc import Collection

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

ARROW_STRING = pd.StringDtype("pyarrow")


def release_arrow_memory() -> None:
    """Give Arrow's freed pages back to the system after a large, finished piece of work.

    Arrow's allocator keeps freed pages for reuse: after a read, a sort or a join of a million rows
    that is ~100-200 MB of resident memory held for nothing.
    """
    pa.default_memory_pool().release_unused()


def _is_string(arrow_type: pa.DataType) -> bool:
    return pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type)


def dictionary_columns(schema: pa.Schema, categorical: Collection[str]) -> list[str]:
    """The categorical columns Parquet can read as dictionaries (string columns only)."""
    return [name for name in schema.names if name in categorical and _is_string(schema.field(name).type)]


def _string_mapper(arrow_type: pa.DataType) -> pd.api.extensions.ExtensionDtype | None:
    return ARROW_STRING if _is_string(arrow_type) else None


def table_to_frame(table: pa.Table, categorical: Collection[str] = ()) -> pd.DataFrame:
    """Convert an Arrow table to pandas with the types described in the module docstring.

    Dictionary columns whose values are strings become `category` whether asked or not (that is how
    the data was stored); string columns named in `categorical` are dictionary-encoded first.
    """
    for i, name in enumerate(table.column_names):
        column = table.column(i)
        if name in categorical and _is_string(column.type):
            encoded = pc.dictionary_encode(column)
            table = table.set_column(i, name, encoded)
        elif pa.types.is_dictionary(column.type) and not _is_string(column.type.value_type):
            table = table.set_column(i, name, column.cast(column.type.value_type))
    # Chunks (files, row groups) carry their own dictionaries; one dictionary per column for pandas.
    table = table.unify_dictionaries()
    # Column by column and freeing each Arrow column once converted: numbers are handed over without
    # a copy and the conversion never holds the table and the frame in full at once. (The window is
    # consolidated once, after the label join: `watchkeeper.windows.load_window`.)
    return table.to_pandas(types_mapper=_string_mapper, split_blocks=True, self_destruct=True)


def type_frame(frame: pd.DataFrame, categorical: Collection[str] = ()) -> pd.DataFrame:
    """The same types for a frame that did not come from Arrow (SQL results, registered frames).

    Object columns that hold only strings (and missing values) become ``string[pyarrow]``, or
    `category` when named in `categorical`; other object columns are left as they are.
    """
    out = frame.copy(deep=False)
    for name in frame.columns:
        series = frame[name]
        if isinstance(series.dtype, pd.CategoricalDtype):
            continue
        if series.dtype == object or isinstance(series.dtype, pd.StringDtype):
            try:
                array = pa.array(series, from_pandas=True)
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                continue  # mixed objects: not strings
            if not _is_string(array.type) and not (pa.types.is_null(array.type) and name in categorical):
                continue
            # Arrays, not Series: assigning a Series would align on the frame's index.
            if name in categorical:
                out[name] = pc.dictionary_encode(array.cast(pa.string())).to_pandas().array
            else:
                out[name] = pd.arrays.ArrowStringArray(array)
    return out
