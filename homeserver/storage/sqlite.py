"""The embedded backend: one SQLite file in WAL mode through aiosqlite.

One writer connection takes every write (SQLite allows one writer at a
time, so queueing them here beats "database is locked" retries); a few reader
connections serve plain reads, which WAL never blocks behind the writer.
"""

from __future__ import annotations

import asyncio
import functools
import re
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from homeserver.storage.database import Connection, Database, Row, StorageUnavailable

READERS = 3
_PLACEHOLDER = re.compile(r"\$(\d+)")


@functools.lru_cache(maxsize=1024)
def translate(sql: str) -> str:
    """``$1`` (PostgreSQL) becomes ``?1`` (SQLite's numbered parameter)."""
    return _PLACEHOLDER.sub(r"?\1", sql)


def _is_read(sql: str) -> bool:
    head = sql.lstrip()[:6].upper()
    return head.startswith(("SELECT", "WITH"))


class SqliteConnection(Connection):
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, *args: Any) -> int:
        cursor = await self._conn.execute(translate(sql), args)
        count = cursor.rowcount
        await cursor.close()
        return count

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        async with self._conn.execute(translate(sql), args) as cursor:
            return list(await cursor.fetchall())


class SqliteDatabase(Database):
    dialect = "sqlite"

    def __init__(self, writer: aiosqlite.Connection, readers: list[aiosqlite.Connection]):
        self._writer = SqliteConnection(writer)
        self._raw = [writer, *readers]
        self._write_lock = asyncio.Lock()
        self._readers: asyncio.Queue[SqliteConnection] = asyncio.Queue()
        for conn in readers or [writer]:
            self._readers.put_nowait(SqliteConnection(conn))

    @classmethod
    async def open(cls, path: str) -> SqliteDatabase:
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        try:
            writer = await _open(path)
            await _pragma(writer, "journal_mode=WAL")
            readers = [] if path == ":memory:" else [await _open(path) for _ in range(READERS)]
        except (sqlite3.Error, OSError) as exc:
            raise StorageUnavailable(f"cannot open SQLite database {path}: {exc}") from None
        return cls(writer, readers)

    async def execute(self, sql: str, *args: Any) -> int:
        async with self._write_lock:
            return await self._writer.execute(sql, *args)

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        if not _is_read(sql):
            async with self._write_lock:
                return await self._writer.fetch(sql, *args)
        reader = await self._readers.get()
        try:
            rows = await reader.fetch(sql, *args)
        finally:
            self._readers.put_nowait(reader)
        self.rows_read += len(rows)
        return rows

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        async with self._write_lock:
            await self._writer.execute("BEGIN IMMEDIATE")
            try:
                yield self._writer
            except BaseException:
                await self._writer.execute("ROLLBACK")
                raise
            await self._writer.execute("COMMIT")

    def advisory_lock(self, key: int) -> Any:
        # The single writer already serialises every transaction of this process,
        # and BEGIN IMMEDIATE serialises processes sharing the file.
        return self.transaction()

    @asynccontextmanager
    async def leadership(self, key: int) -> AsyncIterator[bool]:
        yield True  # the embedded store has one process: it always leads

    async def close(self) -> None:
        for conn in self._raw:
            await conn.close()


async def _open(path: str) -> aiosqlite.Connection:
    conn = await aiosqlite.connect(path, isolation_level=None)
    conn.row_factory = sqlite3.Row
    for pragma in ("busy_timeout=5000", "synchronous=NORMAL", "foreign_keys=ON"):
        await _pragma(conn, pragma)
    return conn


async def _pragma(conn: aiosqlite.Connection, pragma: str) -> None:
    # A cursor left open keeps its statement, and its lock, alive: close it.
    async with conn.execute(f"PRAGMA {pragma}") as cursor:
        await cursor.fetchall()
