"""In-memory source: a named DataFrame registered in this process (tests, notebooks)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

import pandas as pd

from watchkeeper.sources.arrow import type_frame
from watchkeeper.sources.base import SourceError, columns_to_read, filter_time_range

_FRAMES: dict[str, pd.DataFrame] = {}


def register_memory_frame(name: str, frame: pd.DataFrame) -> None:
    _FRAMES[name] = frame


def unregister_memory_frame(name: str) -> None:
    _FRAMES.pop(name, None)


class MemorySource:
    def __init__(self, name: str) -> None:
        self.name = name

    @property
    def description(self) -> str:
        return f"memory source {self.name!r}"

    def read(
        self,
        *,
        columns: Sequence[str] | None = None,
        time_column: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        categorical: Collection[str] = (),
    ) -> pd.DataFrame:
        try:
            frame = _FRAMES[self.name]
        except KeyError:
            raise SourceError(f"{self.description}: not registered (known: {sorted(_FRAMES)})") from None
        wanted = columns_to_read(list(frame.columns), columns, time_column, source=self.description)
        out = frame.loc[:, wanted].copy()
        out = filter_time_range(out, time_column, start, end, source=self.description)
        out = type_frame(out, categorical)
        return out.loc[:, list(columns)] if columns is not None else out
