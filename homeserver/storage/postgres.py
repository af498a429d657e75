"""The production backend: PostgreSQL through an asyncpg pool.

Several worker processes share one database; ordering that must be global
(``stream_ordering``) comes from sequences, and deployment-wide critical
sections take transaction-scoped advisory locks.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from homeserver.storage.database import Connection, Database, Row, StorageUnavailable


def _rowcount(status: str) -> int:
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


class PostgresConnection(Connection):
    dialect = "postgres"

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, *args: Any) -> int:
        return _rowcount(await self._conn.execute(sql, *args))

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return await self._conn.fetch(sql, *args)


class PostgresDatabase(Database):
    dialect = "postgres"

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @classmethod
    async def open(cls, url: str, max_size: int = 10) -> PostgresDatabase:
        try:
            pool = await asyncpg.create_pool(url, min_size=1, max_size=max_size, timeout=10)
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            raise StorageUnavailable(f"cannot connect to PostgreSQL: {exc}") from None
        return cls(pool)

    async def execute(self, sql: str, *args: Any) -> int:
        return _rowcount(await self._pool.execute(sql, *args))

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        rows = await self._pool.fetch(sql, *args)
        self.rows_read += len(rows)
        return rows

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        async with self._pool.acquire() as conn, conn.transaction():
            yield PostgresConnection(conn)

    @asynccontextmanager
    async def advisory_lock(self, key: int) -> AsyncIterator[Connection]:
        async with self.transaction() as conn:
            await conn.execute("SELECT pg_advisory_xact_lock($1)", key)
            yield conn

    @asynccontextmanager
    async def leadership(self, key: int) -> AsyncIterator[bool]:
        # A session lock on a connection of its own: held until we let go or die.
        async with self._pool.acquire() as conn:
            won = await conn.fetchval("SELECT pg_try_advisory_lock($1)", key)
            try:
                yield bool(won)
            finally:
                if won:
                    await conn.execute("SELECT pg_advisory_unlock($1)", key)

    async def close(self) -> None:
        await self._pool.close()
