"""Where inference logs, ground truth and reference data come from.

A `Source` reads the columns a check needs for one time range, pushing both down to the storage
(pyarrow dataset filters for files, bound parameters for SQL), and returns a pandas DataFrame with
timestamps as timezone-aware UTC and typed strings (`watchkeeper.sources.arrow`: the categorical
columns as `category`, other strings Arrow-backed). Implementations: files (Parquet, CSV, JSON lines; local or any
fsspec URL), SQL through SQLAlchemy, and an in-memory source for tests.
"""

from __future__ import annotations

from watchkeeper.sources.base import Source, SourceError, normalize_timestamps
from watchkeeper.sources.config import (
    CsvSourceConfig,
    JsonlSourceConfig,
    MemorySourceConfig,
    ParquetSourceConfig,
    SourceConfig,
    SqlSourceConfig,
)
from watchkeeper.sources.files import FileSource
from watchkeeper.sources.memory import MemorySource, register_memory_frame, unregister_memory_frame
from watchkeeper.sources.sql import SqlSource

__all__ = [
    "CsvSourceConfig",
    "FileSource",
    "JsonlSourceConfig",
    "MemorySource",
    "MemorySourceConfig",
    "ParquetSourceConfig",
    "Source",
    "SourceConfig",
    "SourceError",
    "SqlSource",
    "SqlSourceConfig",
    "build_source",
    "normalize_timestamps",
    "register_memory_frame",
    "unregister_memory_frame",
]


def build_source(config: SourceConfig) -> Source:
    """Build the source a `SourceConfig` describes."""
    if isinstance(config, ParquetSourceConfig | CsvSourceConfig | JsonlSourceConfig):
        return FileSource(
            config.path,
            format=config.type,
            partitioning=config.partitioning,
            storage_options=dict(config.storage_options),
        )
    if isinstance(config, SqlSourceConfig):
        return SqlSource(url=config.url, url_env=config.url_env, table=config.table, query=config.query)
    if isinstance(config, MemorySourceConfig):
        return MemorySource(config.name)
    raise TypeError(f"unsupported source config: {type(config).__name__}")
