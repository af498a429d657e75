"""SQL for DM pairs: the one row per sorted pair of users that names their room."""

from __future__ import annotations

from homeserver.storage.database import Connection, Database, Queries, Row


class DmStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def room_for_pair(self, conn: Queries, low: str, high: str) -> str | None:
        return await conn.fetchval(
            "SELECT room_id FROM dm_pairs WHERE user_low = $1 AND user_high = $2", low, high
        )

    async def insert_pair(self, conn: Connection, low: str, high: str, room_id: str,
                          now_ms: int) -> bool:
        """Claim the pair; False when another request already did (the UNIQUE key decides)."""
        changed = await conn.execute(
            "INSERT INTO dm_pairs (user_low, user_high, room_id, updated_ts)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT (user_low, user_high) DO NOTHING",
            low, high, room_id, now_ms,
        )
        return changed == 1

    async def release_pair(self, conn: Connection, low: str, high: str, room_id: str) -> None:
        """Forget the pair's claim on ``room_id`` (and only on it)."""
        await conn.execute(
            "DELETE FROM dm_pairs WHERE user_low = $1 AND user_high = $2 AND room_id = $3",
            low, high, room_id,
        )

    async def set_room(self, conn: Connection, low: str, high: str, room_id: str) -> None:
        await conn.execute(
            "UPDATE dm_pairs SET room_id = $3 WHERE user_low = $1 AND user_high = $2",
            low, high, room_id,
        )

    async def pair_of_room(self, conn: Queries, room_id: str) -> Row | None:
        return await conn.fetchrow(
            "SELECT user_low, user_high FROM dm_pairs WHERE room_id = $1", room_id
        )

    async def touch(self, conn: Connection, room_id: str, event_id: str, now_ms: int) -> None:
        await conn.execute(
            "UPDATE dm_pairs SET latest_event_id = $2, updated_ts = $3 WHERE room_id = $1",
            room_id, event_id, now_ms,
        )

    async def pairs_of_user(self, user_id: str) -> list[Row]:
        return await self.db.fetch(
            "SELECT d.user_low, d.user_high, d.room_id, d.latest_event_id, d.updated_ts"
            " FROM dm_pairs d LEFT JOIN events e ON e.event_id = d.latest_event_id"
            " WHERE d.user_low = $1 OR d.user_high = $1"
            " ORDER BY d.updated_ts DESC, e.stream_ordering DESC NULLS LAST",
            user_id,
        )
