"""SQL for what a user keeps on the server: account data (global and per room), filters."""

from __future__ import annotations

import json
from typing import Any

from homeserver.storage.database import Connection, Database, Queries, Row

GLOBAL = ""  # the room_id of global account data


class UserDataStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def put_account_data(self, conn: Connection, user_id: str, room_id: str,
                               data_type: str, content: dict[str, Any], ordering: int) -> None:
        await conn.execute(
            "INSERT INTO account_data (user_id, room_id, type, content, stream_ordering)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id, room_id, type) DO UPDATE"
            " SET content = excluded.content, stream_ordering = excluded.stream_ordering",
            user_id, room_id, data_type, json.dumps(content), ordering,
        )

    async def account_data(self, conn: Queries, user_id: str, room_id: str,
                           data_type: str) -> dict[str, Any] | None:
        raw = await conn.fetchval(
            "SELECT content FROM account_data WHERE user_id = $1 AND room_id = $2 AND type = $3",
            user_id, room_id, data_type,
        )
        return None if raw is None else json.loads(raw)

    async def account_data_since(self, user_id: str, after: int, upto: int) -> list[Row]:
        return await self.db.fetch(
            "SELECT room_id, type, content FROM account_data WHERE user_id = $1"
            " AND stream_ordering > $2 AND stream_ordering <= $3",
            user_id, after, upto,
        )

    async def add_filter(self, user_id: str, filter_json: str) -> str:
        async with self.db.transaction() as conn:
            count = await conn.fetchval("SELECT COUNT(*) FROM filters WHERE user_id = $1", user_id)
            filter_id = str(count)
            await conn.execute(
                "INSERT INTO filters (user_id, filter_id, filter_json) VALUES ($1, $2, $3)",
                user_id, filter_id, filter_json,
            )
        return filter_id

    async def filter(self, user_id: str, filter_id: str) -> dict[str, Any] | None:
        raw = await self.db.fetchval(
            "SELECT filter_json FROM filters WHERE user_id = $1 AND filter_id = $2",
            user_id, filter_id,
        )
        return None if raw is None else json.loads(raw)
