"""SQL for a room's summary in /sync: member counts and the first members (heroes)."""

from __future__ import annotations

from homeserver.storage.database import Database


class SummaryStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def member_counts(self, room_id: str) -> dict[str, int]:
        rows = await self.db.fetch(
            "SELECT membership, COUNT(*) AS n FROM memberships"
            " WHERE room_id = $1 AND membership IN ('join', 'invite') GROUP BY membership",
            room_id)
        return {r["membership"]: int(r["n"]) for r in rows}

    async def first_members(self, room_id: str, memberships: tuple[str, ...], besides: str,
                            limit: int) -> list[str]:
        """The first ``limit`` users (by when their membership was written) other than
        ``besides`` whose membership is one of ``memberships``."""
        marks = ", ".join(f"${i + 4}" for i in range(len(memberships)))
        rows = await self.db.fetch(
            "SELECT user_id FROM memberships WHERE room_id = $1 AND user_id <> $2"
            f" AND membership IN ({marks}) ORDER BY stream_ordering LIMIT $3",
            room_id, besides, limit, *memberships)
        return [r["user_id"] for r in rows]
