"""Source configs: the `sources:` entries of a model config, one model per source type.

A discriminated union on `type:` (`SourceConfig`) is the registry of source types. Kept apart from
`watchkeeper.config` (which gathers every section) so the code that reads data can build sources
without importing the whole config.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from watchkeeper.configbase import StrictModel


class _FileSourceConfig(StrictModel):
    path: str  # file, directory, glob, or fsspec URL (s3://, gs://, memory://, file://)
    partitioning: Literal["hive"] | None = None  # Hive-style key=value directories
    storage_options: dict[str, str] = Field(default_factory=dict)  # passed to fsspec; no secrets


class ParquetSourceConfig(_FileSourceConfig):
    type: Literal["parquet"]


class CsvSourceConfig(_FileSourceConfig):
    type: Literal["csv"]


class JsonlSourceConfig(_FileSourceConfig):
    type: Literal["jsonl"]


class SqlSourceConfig(StrictModel):
    type: Literal["sql"]
    # The SQLAlchemy URL, or the name of the env var holding it (for URLs with passwords).
    url: str | None = None
    url_env: str | None = None
    table: str | None = None
    query: str | None = None  # may use :start and :end bound parameters

    @model_validator(mode="after")
    def _one_of(self) -> SqlSourceConfig:
        if (self.url is None) == (self.url_env is None):
            raise ValueError("give exactly one of `url` or `url_env`")
        if (self.table is None) == (self.query is None):
            raise ValueError("give exactly one of `table` or `query`")
        return self


class MemorySourceConfig(StrictModel):
    """A named in-memory frame registered with `watchkeeper.sources.register_memory_frame` (tests)."""

    type: Literal["memory"]
    name: str


SourceConfig = Annotated[
    ParquetSourceConfig | CsvSourceConfig | JsonlSourceConfig | SqlSourceConfig | MemorySourceConfig,
    Field(discriminator="type"),
]
