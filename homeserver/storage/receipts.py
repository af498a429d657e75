"""SQL for read receipts (the counts they imply are storage/notifications.py's)."""

from __future__ import annotations

from collections.abc import Iterable

from homeserver.storage.database import Connection, Database, Row


class ReceiptStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def put(self, conn: Connection, room_id: str, user_id: str, receipt_type: str,
                  event_id: str, event_ordering: int, ts: int, ordering: int) -> bool:
        """Move the receipt forward; a receipt for an older event is ignored."""
        changed = await conn.execute(
            "INSERT INTO receipts (room_id, user_id, receipt_type, event_id, event_ordering, ts,"
            " stream_ordering) VALUES ($1, $2, $3, $4, $5, $6, $7)"
            " ON CONFLICT (room_id, user_id, receipt_type) DO UPDATE SET"
            " event_id = excluded.event_id, event_ordering = excluded.event_ordering,"
            " ts = excluded.ts, stream_ordering = excluded.stream_ordering"
            " WHERE receipts.event_ordering < excluded.event_ordering",
            room_id, user_id, receipt_type, event_id, event_ordering, ts, ordering,
        )
        return changed == 1

    async def changed_in_rooms(self, room_ids: Iterable[str], after: int, upto: int) -> list[Row]:
        ids = list(room_ids)
        if not ids:
            return []
        marks = ", ".join(f"${i + 3}" for i in range(len(ids)))
        return await self.db.fetch(
            "SELECT room_id, user_id, receipt_type, event_id, ts FROM receipts"
            f" WHERE stream_ordering > $1 AND stream_ordering <= $2 AND room_id IN ({marks})",
            after, upto, *ids,
        )

    async def rooms_with_receipts(self, user_id: str, after: int, upto: int) -> set[str]:
        """The user's rooms with a receipt moved in (after, upto]."""
        rows = await self.db.fetch(
            "SELECT DISTINCT r.room_id FROM receipts r JOIN memberships m"
            " ON m.room_id = r.room_id AND m.user_id = $1"
            " WHERE r.stream_ordering > $2 AND r.stream_ordering <= $3",
            user_id, after, upto,
        )
        return {r["room_id"] for r in rows}
