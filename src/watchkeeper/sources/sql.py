"""SQL source through SQLAlchemy: a table, or a query that takes `:start` and `:end` parameters.

The window is always passed as bound parameters, never formatted into SQL. The connection URL can
be named by an environment variable so passwords stay out of YAML.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Sequence
from datetime import datetime

import pandas as pd
import sqlalchemy as sa

from watchkeeper.sources.arrow import type_frame
from watchkeeper.sources.base import SourceError, check_columns, columns_to_read, filter_time_range
from watchkeeper.timeutil import as_utc


class SqlSource:
    def __init__(
        self,
        *,
        url: str | None = None,
        url_env: str | None = None,
        table: str | None = None,
        query: str | None = None,
    ) -> None:
        if (table is None) == (query is None):
            raise ValueError("give exactly one of table or query")
        self._url = url
        self._url_env = url_env
        self.table = table
        self.query = query

    @property
    def description(self) -> str:
        what = f"table {self.table!r}" if self.table else "query"
        where = (
            f"${self._url_env}"
            if self._url_env
            else sa.engine.make_url(self._url or "").render_as_string(hide_password=True)
        )
        return f"sql source {what} at {where}"

    def _engine(self) -> sa.Engine:
        url = self._url
        if self._url_env:
            url = os.environ.get(self._url_env)
            if not url:
                raise SourceError(f"{self.description}: environment variable {self._url_env} is not set")
        assert url is not None
        try:
            return sa.create_engine(url)
        except (sa.exc.ArgumentError, ImportError) as exc:
            raise SourceError(f"{self.description}: invalid URL: {exc}") from None

    def read(
        self,
        *,
        columns: Sequence[str] | None = None,
        time_column: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        categorical: Collection[str] = (),
    ) -> pd.DataFrame:
        engine = self._engine()
        try:
            with engine.connect() as conn:
                if self.table is not None:
                    frame = self._read_table(conn, columns, time_column, start, end)
                else:
                    params = {
                        "start": as_utc(start).replace(tzinfo=None) if start else None,
                        "end": as_utc(end).replace(tzinfo=None) if end else None,
                    }
                    stmt = sa.text(self.query or "")
                    # Only the parameters the query names, and only those with a value.
                    used = {
                        k: v for k, v in params.items() if v is not None and f":{k}" in (self.query or "")
                    }
                    frame = pd.read_sql_query(stmt, conn, params=used)
        except sa.exc.SQLAlchemyError as exc:
            raise SourceError(f"{self.description}: {exc.__class__.__name__}: {exc}") from None
        finally:
            engine.dispose()
        check_columns(list(frame.columns), columns, source=self.description)
        frame = filter_time_range(frame, time_column, start, end, source=self.description)
        frame = type_frame(frame, categorical)
        return frame.loc[:, list(columns)] if columns is not None else frame

    def _read_table(
        self,
        conn: sa.Connection,
        columns: Sequence[str] | None,
        time_column: str | None,
        start: datetime | None,
        end: datetime | None,
    ) -> pd.DataFrame:
        try:
            table = sa.Table(self.table or "", sa.MetaData(), autoload_with=conn)
        except sa.exc.NoSuchTableError:
            raise SourceError(f"{self.description}: table does not exist") from None
        wanted = columns_to_read(
            [c.name for c in table.columns], columns, time_column, source=self.description
        )
        stmt = sa.select(*(table.c[name] for name in wanted))
        if time_column is not None:
            col = table.c[time_column]
            # Stored times are UTC; bind naive UTC values, which every dialect compares correctly.
            if start is not None:
                stmt = stmt.where(col >= as_utc(start).replace(tzinfo=None))
            if end is not None:
                stmt = stmt.where(col < as_utc(end).replace(tzinfo=None))
        return pd.read_sql_query(stmt, conn)
