"""The global stream position that /sync tokens and socket resumes point at."""

from __future__ import annotations

from homeserver.storage.database import Connection, Database


async def next_position(conn: Connection) -> int:
    """Take the next position; call inside the transaction that writes with it.

    The row lock this takes is held until commit, so positions commit in order
    on every backend and across workers.
    """
    return await conn.fetchval(
        "UPDATE stream_position SET pos = pos + 1 WHERE id = 1 RETURNING pos"
    )


async def current_position(db: Database) -> int:
    return await db.fetchval("SELECT pos FROM stream_position WHERE id = 1")
