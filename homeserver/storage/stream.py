"""SQL for the global stream: taking positions, settling them, and write locks.

On PostgreSQL a position comes from the ``stream_seq`` sequence, so no lock
is held from the moment a write takes it until it commits. Each write holds a
shared advisory lock on ``WRITING`` for its length; ``settled_position``
takes it exclusively for an instant, which proves that every position handed
out so far has committed or rolled back. On SQLite, where one writer runs at
a time, the position is the ``stream_position`` row taken inside the write.
"""

from __future__ import annotations

from homeserver.storage.database import Connection, Database

WRITING = 0x6D78_0003  # advisory key (0001: migrations, 0002: federation sender)
# Namespaces for the two-key advisory locks (a separate key space from WRITING).
ROOM_LOCKS, PAIR_LOCKS, USER_LOCKS = 0x6D78_0101, 0x6D78_0102, 0x6D78_0103
SETTLE_TIMEOUT_MS = 2000
# The lock comes first (a subquery in FROM), so a settle never misses a position
# that has been handed out but not yet locked.
WRITING_SQL = "SELECT pg_advisory_xact_lock_shared({}::bigint)"
POSITION_SQL = "nextval('stream_seq')"


async def take_position(conn: Connection) -> int:
    """The next position; call inside the transaction that writes with it."""
    if conn.dialect == "postgres":
        return await conn.fetchval(
            f"SELECT {POSITION_SQL} FROM ({WRITING_SQL.format('$1')}) AS writing", WRITING)
    return await conn.fetchval(
        "UPDATE stream_position SET pos = pos + 1 WHERE id = 1 RETURNING pos"
    )


def rollback_frees_position(db: Database) -> bool:
    """Whether a rolled-back write gives its position back to the next one (SQLite)."""
    return db.dialect != "postgres"


async def settled_position(db: Database) -> int:
    """A position at or below which every write has committed or rolled back."""
    async with db.transaction() as conn:
        if conn.dialect == "postgres":
            # Waits for the writes in flight; writes that start meanwhile wait
            # for us (PostgreSQL queues their shared requests behind ours), so the
            # wait is bounded: a caller that times out tries again later.
            await conn.execute(f"SET LOCAL lock_timeout = {SETTLE_TIMEOUT_MS}")
            await conn.execute("SELECT pg_advisory_xact_lock($1::bigint)", WRITING)
            return await conn.fetchval("SELECT last_value FROM stream_seq")
        return await conn.fetchval("SELECT pos FROM stream_position WHERE id = 1")


async def lock_room(conn: Connection, room_id: str) -> None:
    """Order the writes into one room: held until the transaction ends."""
    await _lock(conn, ROOM_LOCKS, room_id)


async def lock_pair(conn: Connection, low: str, high: str) -> None:
    """Order the writes that resolve one DM pair."""
    await _lock(conn, PAIR_LOCKS, f"{low}\n{high}")


async def lock_user(conn: Connection, user_id: str) -> None:
    """Order the read-modify-writes of one user's own data (``m.direct``, invite caps)."""
    await _lock(conn, USER_LOCKS, user_id)


async def _lock(conn: Connection, namespace: int, key: str) -> None:
    # SQLite's single writer already orders every write.
    if conn.dialect == "postgres":
        # A hash collision only makes two unrelated rooms wait on each other.
        await conn.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", namespace, key)
