"""The storage interface every backend implements, and the URL that picks one.

All SQL is written once, in PostgreSQL's dialect with ``$1`` placeholders;
the SQLite backend translates placeholders. Rows support ``row["column"]``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any

Row = Mapping[str, Any]


class StorageUnavailable(Exception):
    """The database cannot be reached or opened."""


class Queries(ABC):
    """Something statements run on: a transaction's connection, or the pool for reads."""

    dialect: str

    @abstractmethod
    async def execute(self, sql: str, *args: Any) -> int:
        """Run a statement; return how many rows it changed."""

    @abstractmethod
    async def fetch(self, sql: str, *args: Any) -> list[Row]: ...

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        rows = await self.fetch(sql, *args)
        return rows[0] if rows else None

    async def fetchval(self, sql: str, *args: Any) -> Any:
        row = await self.fetchrow(sql, *args)
        return None if row is None else row[0]


class Connection(Queries):
    """One connection inside a transaction: what every write takes first.

    The pool (``Database``) is not one, so a write handed the pool instead of
    an open transaction does not type-check.
    """


class Database(Queries):
    """A pool of connections; statements outside a transaction run on their own."""

    # Rows returned outside transactions: lets tests and benchmarks check that
    # a query's cost does not grow with unrelated data.
    rows_read: int = 0

    @abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[Connection]:
        """A connection whose statements commit together or not at all."""

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    def advisory_lock(self, key: int) -> AbstractAsyncContextManager[Connection]:
        """A transaction that holds a deployment-wide lock on ``key``."""

    @abstractmethod
    def leadership(self, key: int) -> AbstractAsyncContextManager[bool]:
        """Try to become the one holder of ``key`` for as long as the context lasts."""


async def connect(url: str) -> Database:
    """Open the database ``url`` names: ``sqlite:///path`` or ``postgresql://...``."""
    if url.startswith("sqlite://"):
        from homeserver.storage.sqlite import SqliteDatabase

        return await SqliteDatabase.open(sqlite_path(url))
    if url.startswith(("postgresql://", "postgres://")):
        from homeserver.storage.postgres import PostgresDatabase

        return await PostgresDatabase.open(url)
    raise StorageUnavailable(f"unsupported database URL {url!r}")


def sqlite_path(url: str) -> str:
    """``sqlite:///rel/path.db`` is relative, ``sqlite:////abs/path.db`` absolute."""
    return url.removeprefix("sqlite://").removeprefix("/")
