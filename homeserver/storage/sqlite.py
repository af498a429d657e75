"""The embedded backend: one SQLite file in WAL mode, queried on the event loop.

Statements run directly on the loop thread: a query served from SQLite's page
cache takes microseconds, far less than handing it to a worker thread and
back (measured: aiosqlite's hop was about half of the server's CPU per
message). One writer connection takes every write, under a lock held for
the length of a transaction; a separate reader connection serves plain
reads, which WAL never blocks and which never see an open transaction.
Commits reach the WAL in the OS before they are acknowledged, so a killed
process loses nothing it answered for.
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

from homeserver.storage.database import Connection, Database, Row, StorageUnavailable

_PLACEHOLDER = re.compile(r"\$(\d+)")
PRAGMAS = ("busy_timeout=5000", "synchronous=NORMAL", "foreign_keys=ON")


@functools.lru_cache(maxsize=1024)
def translate(sql: str) -> str:
    """``$1`` (PostgreSQL) becomes ``?1`` (SQLite's numbered parameter)."""
    return _PLACEHOLDER.sub(r"?\1", sql)


def _is_read(sql: str) -> bool:
    head = sql.lstrip()[:6].upper()
    return head.startswith(("SELECT", "WITH"))


class SqliteConnection(Connection):
    dialect = "sqlite"

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, *args: Any) -> int:
        cursor = self._conn.execute(translate(sql), args)
        try:
            return cursor.rowcount
        finally:
            cursor.close()

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        cursor = self._conn.execute(translate(sql), args)
        try:
            return cursor.fetchall()
        finally:
            cursor.close()


class SqliteDatabase(Database):
    dialect = "sqlite"

    def __init__(self, writer: sqlite3.Connection, reader: sqlite3.Connection | None) -> None:
        self._raw = [writer] + ([reader] if reader is not None else [])
        self._writer = SqliteConnection(writer)
        self._reader = SqliteConnection(reader) if reader is not None else self._writer
        self._write_lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: str) -> SqliteDatabase:
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        try:
            writer = _open(path)
            writer.execute("PRAGMA journal_mode=WAL").fetchall()
            reader = None if path == ":memory:" else _open(path)
        except (sqlite3.Error, OSError) as exc:
            raise StorageUnavailable(f"cannot open SQLite database {path}: {exc}") from None
        return cls(writer, reader)

    async def execute(self, sql: str, *args: Any) -> int:
        async with self._write_lock:
            return await self._writer.execute(sql, *args)

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        if not _is_read(sql):
            async with self._write_lock:
                return await self._writer.fetch(sql, *args)
        if self._reader is self._writer:  # in memory: one connection for everything
            async with self._write_lock:
                rows = await self._reader.fetch(sql, *args)
        else:
            rows = await self._reader.fetch(sql, *args)
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
            conn.close()


def _open(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    for pragma in PRAGMAS:
        conn.execute(f"PRAGMA {pragma}").fetchall()
    return conn
