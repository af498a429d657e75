"""SQL for the actions push rules gave events, per receiver: the notification and
highlight counts after a read receipt, and the /notifications list."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from homeserver.storage.database import Connection, Queries, Row

# Where the user's reading of a room stands: their read receipt (public or private),
# or their join if that is later (what came before it, an invite included, is not
# counted once they are in the room).
_READ_UPTO = (
    "COALESCE((SELECT MAX(p) FROM (SELECT event_ordering AS p FROM receipts"
    " WHERE room_id = {room} AND user_id = {user}"
    " AND receipt_type IN ('m.read', 'm.read.private')"
    " UNION ALL SELECT stream_ordering FROM memberships WHERE room_id = {room}"
    " AND user_id = {user} AND membership = 'join') AS read_marks), 0)")
ROW_VALUES = 7
# Rows per INSERT: both backends cap a statement's parameters (SQLite 32766,
# asyncpg 32767), and one event in a big room notifies thousands.
ROWS_PER_INSERT = 500
# A badge counts this many at most (a phone shows "999+" long before).
MAX_UNREAD_TOTAL = 1000


class NotificationStore:
    async def add(self, conn: Connection,
                  rows: Sequence[tuple[str, str, str, int, bool, str, int]]) -> None:
        """Multi-row inserts of ``ROWS_PER_INSERT``: (user_id, room_id, event_id,
        stream_ordering, highlight, actions JSON, ts) for each receiver the event notifies."""
        for start in range(0, len(rows), ROWS_PER_INSERT):
            batch = rows[start:start + ROWS_PER_INSERT]
            marks = ", ".join(
                "(" + ", ".join(f"${i * ROW_VALUES + j + 1}" for j in range(ROW_VALUES)) + ")"
                for i in range(len(batch)))
            args: list[Any] = [value for row in batch for value in row]
            await conn.execute(
                "INSERT INTO event_push_actions (user_id, room_id, event_id, stream_ordering,"
                f" highlight, actions, ts) VALUES {marks} ON CONFLICT DO NOTHING",
                *args,
            )

    async def counts_between(self, conn: Queries, room_id: str, user_id: str, after: int,
                             upto: int) -> tuple[int, int, int]:
        """The user's read position in the room (0: none), and how many notifications
        and highlights lie after both it and ``after``, up to ``upto``."""
        row = await conn.fetchrow(
            "SELECT r.read_upto, COUNT(a.stream_ordering) AS notify,"
            " COUNT(CASE WHEN a.highlight THEN 1 END) AS highlight"
            f" FROM (SELECT {_READ_UPTO.format(room='$1', user='$2')} AS read_upto) r"
            " LEFT JOIN event_push_actions a ON a.user_id = $2 AND a.room_id = $1"
            " AND a.stream_ordering > r.read_upto AND a.stream_ordering > $3"
            " AND a.stream_ordering <= $4 GROUP BY r.read_upto",
            room_id, user_id, after, upto,
        )
        assert row is not None  # the subquery always answers one row
        return row["read_upto"], row["notify"], row["highlight"]

    async def unread_total(self, conn: Queries, user_id: str) -> int:
        """Notifications after the read position, over the rooms the user is in or
        invited to (a badge), counted up to ``MAX_UNREAD_TOTAL``: each room's read
        position is found once and its count is a range of the primary key, so the
        cost is the user's rooms plus the (capped) unread rows, not all their rows."""
        total = await conn.fetchval(
            "SELECT COALESCE(SUM((SELECT COUNT(*) FROM (SELECT 1 FROM event_push_actions a"
            " WHERE a.user_id = $1 AND a.room_id = m.room_id AND a.stream_ordering >"
            f" {_READ_UPTO.format(room='m.room_id', user='$1')} LIMIT $2) AS unread)), 0)"
            " FROM memberships m WHERE m.user_id = $1 AND m.membership IN ('join', 'invite')",
            user_id, MAX_UNREAD_TOTAL,
        )
        return min(int(total), MAX_UNREAD_TOTAL)

    async def listing(self, conn: Queries, user_id: str, before: int | None, limit: int,
                      only_highlight: bool) -> list[Row]:
        """The user's notifications, newest first, below ``before``, with whether each is
        read and the event's PDU."""
        return await conn.fetch(
            "SELECT a.room_id, a.event_id, a.stream_ordering, a.actions, a.ts,"
            " a.stream_ordering <= " + _READ_UPTO.format(room="a.room_id", user="$1")
            + " AS is_read, e.pdu, e.redacted_by FROM event_push_actions a"
            " JOIN events e ON e.stream_ordering = a.stream_ordering"
            " WHERE a.user_id = $1 AND a.stream_ordering < $2"
            " AND (a.highlight OR NOT $3) ORDER BY a.stream_ordering DESC LIMIT $4",
            user_id, before if before is not None else 2**62, only_highlight, limit,
        )
