"""SQL for room aliases and the public room directory."""

from __future__ import annotations

from homeserver.storage.database import Connection, Database, Queries


class RoomDirectoryStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def insert_alias(self, conn: Connection, alias: str, room_id: str, creator: str,
                           now_ms: int) -> bool:
        """Add the alias; False when it is taken (the primary key decides a race)."""
        changed = await conn.execute(
            "INSERT INTO room_aliases (alias, room_id, creator, created_ts)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT (alias) DO NOTHING",
            alias, room_id, creator, now_ms)
        return changed == 1

    async def alias(self, conn: Queries, alias: str) -> tuple[str, str] | None:
        """(room_id, creator) of the alias, if it exists."""
        row = await conn.fetchrow(
            "SELECT room_id, creator FROM room_aliases WHERE alias = $1", alias)
        return (row["room_id"], row["creator"]) if row else None

    async def delete_alias(self, conn: Connection, alias: str) -> None:
        await conn.execute("DELETE FROM room_aliases WHERE alias = $1", alias)

    async def aliases_of(self, room_id: str) -> list[str]:
        rows = await self.db.fetch(
            "SELECT alias FROM room_aliases WHERE room_id = $1 ORDER BY alias", room_id)
        return [r["alias"] for r in rows]

    async def set_public(self, conn: Connection, room_id: str, public: bool,
                         now_ms: int) -> None:
        if public:
            await conn.execute(
                "INSERT INTO public_rooms (room_id, added_ts) VALUES ($1, $2)"
                " ON CONFLICT (room_id) DO NOTHING", room_id, now_ms)
        else:
            await conn.execute("DELETE FROM public_rooms WHERE room_id = $1", room_id)

    async def is_public(self, room_id: str) -> bool:
        row = await self.db.fetchrow("SELECT 1 FROM public_rooms WHERE room_id = $1", room_id)
        return row is not None

    async def public_rooms(self, limit: int) -> list[str]:
        rows = await self.db.fetch(
            "SELECT room_id FROM public_rooms ORDER BY room_id LIMIT $1", limit)
        return [r["room_id"] for r in rows]
