"""SQL for what moves between devices: the to-device inbox and its transaction IDs,
and the device-list change stream (with the membership changes that decide who sees it)."""

from __future__ import annotations

import json
from typing import Any

from homeserver.storage.database import Connection, Database, Queries, Row


class DeviceMessageStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def claim_txn(self, conn: Connection, user_id: str, device_id: str, txn_id: str,
                        now_ms: int) -> bool:
        """Record the sender's transaction ID; False if it was seen before (a replay)."""
        changed = await conn.execute(
            "INSERT INTO to_device_txns (user_id, device_id, txn_id, created_ts)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            user_id, device_id, txn_id, now_ms,
        )
        return changed == 1

    async def devices_of(self, conn: Queries, user_id: str) -> list[str]:
        rows = await conn.fetch("SELECT device_id FROM devices WHERE user_id = $1", user_id)
        return [r["device_id"] for r in rows]

    async def prune_txns(self, conn: Connection, older_than_ms: int, batch: int) -> None:
        """Forget at most ``batch`` transaction IDs recorded before ``older_than_ms``."""
        await conn.execute(
            "DELETE FROM to_device_txns WHERE (user_id, device_id, txn_id) IN"
            " (SELECT user_id, device_id, txn_id FROM to_device_txns WHERE created_ts < $1"
            " LIMIT $2)",
            older_than_ms, batch,
        )

    async def holds_at_least(self, conn: Queries, user_id: str, device_id: str,
                             count: int, sender: str | None = None) -> bool:
        """Whether the device has ``count`` messages waiting (from ``sender`` only, if
        given); reads at most ``count`` index entries, never the whole inbox."""
        if count <= 0:
            return True
        sql = "SELECT 1 FROM to_device_inbox WHERE user_id = $1 AND device_id = $2"
        args: list[Any] = [user_id, device_id]
        if sender is not None:
            args.append(sender)
            sql += " AND sender = $3"
        args.append(count - 1)
        row = await conn.fetchrow(sql + f" LIMIT 1 OFFSET ${len(args)}", *args)
        return row is not None

    async def enqueue(self, conn: Connection, user_id: str, device_id: str, ordering: int,
                      seq: int, sender: str, event_type: str, content: dict[str, Any]) -> None:
        await conn.execute(
            "INSERT INTO to_device_inbox (user_id, device_id, stream_ordering, seq, sender,"
            " type, content) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            user_id, device_id, ordering, seq, sender, event_type, json.dumps(content),
        )

    async def acknowledge(self, user_id: str, device_id: str, upto: int) -> None:
        """The device holds a token past these: they are delivered."""
        # Looked for first: most syncs acknowledge nothing, and a read costs no write lock.
        if await self.db.fetchrow(
            "SELECT 1 FROM to_device_inbox WHERE user_id = $1 AND device_id = $2"
            " AND stream_ordering <= $3 LIMIT 1",
            user_id, device_id, upto,
        ) is None:
            return
        await self.db.execute(
            "DELETE FROM to_device_inbox WHERE user_id = $1 AND device_id = $2"
            " AND stream_ordering <= $3",
            user_id, device_id, upto,
        )

    async def pending(self, user_id: str, device_id: str, after: int, upto: int,
                      limit: int) -> list[Row]:
        return await self.db.fetch(
            "SELECT stream_ordering, sender, type, content FROM to_device_inbox"
            " WHERE user_id = $1 AND device_id = $2 AND stream_ordering > $3"
            " AND stream_ordering <= $4 ORDER BY stream_ordering, seq LIMIT $5",
            user_id, device_id, after, upto, limit,
        )

    async def forget_devices(self, conn: Connection, user_id: str,
                             device_ids: list[str]) -> None:
        for device_id in device_ids:
            await conn.execute(
                "DELETE FROM to_device_inbox WHERE user_id = $1 AND device_id = $2",
                user_id, device_id,
            )

    async def mark_device_list_changed(self, conn: Connection, user_id: str,
                                       ordering: int) -> None:
        await conn.execute(
            "INSERT INTO device_list_changes (stream_ordering, user_id) VALUES ($1, $2)",
            ordering, user_id,
        )
        # Only the newest row per user is read ("changed since X" is the same with the
        # older ones gone), so a user keeps one row however often their keys change.
        await conn.execute(
            "DELETE FROM device_list_changes WHERE user_id = $1 AND stream_ordering < $2",
            user_id, ordering,
        )

    async def device_lists_changed(self, after: int, upto: int) -> set[str]:
        rows = await self.db.fetch(
            "SELECT DISTINCT user_id FROM device_list_changes"
            " WHERE stream_ordering > $1 AND stream_ordering <= $2",
            after, upto,
        )
        return {r["user_id"] for r in rows}

    async def membership_changes(self, user_id: str, after: int, upto: int) -> list[Row]:
        """Membership rows that moved in (after, upto] in rooms the user is in, or left
        in that range: who may have started or stopped sharing a room with them."""
        return await self.db.fetch(
            "SELECT other.room_id, other.user_id, other.membership FROM memberships me"
            " JOIN memberships other ON other.room_id = me.room_id"
            " WHERE me.user_id = $1 AND (me.membership = 'join' OR me.stream_ordering > $2)"
            " AND other.stream_ordering > $2 AND other.stream_ordering <= $3",
            user_id, after, upto,
        )

    async def joined_members(self, room_ids: list[str]) -> set[str]:
        if not room_ids:
            return set()
        marks = ", ".join(f"${i + 1}" for i in range(len(room_ids)))
        rows = await self.db.fetch(
            f"SELECT DISTINCT user_id FROM memberships WHERE room_id IN ({marks})"
            " AND membership = 'join'",
            *room_ids,
        )
        return {r["user_id"] for r in rows}

    async def joined_rooms(self, conn: Queries, user_id: str) -> list[str]:
        rows = await conn.fetch(
            "SELECT room_id FROM memberships WHERE user_id = $1 AND membership = 'join'",
            user_id,
        )
        return [r["room_id"] for r in rows]
