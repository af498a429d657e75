"""SQL for events: the timeline, state, memberships, rooms and transaction IDs."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from canonicaljson import encode_canonical_json

from homeserver.models import StoredEvent
from homeserver.storage.database import Connection, Database, Row

EVENT_COLUMNS = "stream_ordering, event_id, pdu, redacted_by"


def _event(row: Row) -> StoredEvent:
    return StoredEvent(
        row["stream_ordering"], row["event_id"], json.loads(row["pdu"]), row["redacted_by"]
    )


class EventStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # rooms ---------------------------------------------------------------
    async def insert_room(self, conn: Connection, room_id: str, version: str, creator: str,
                          is_direct: bool, now_ms: int) -> None:
        await conn.execute(
            "INSERT INTO rooms (room_id, room_version, creator, is_direct, created_ts)"
            " VALUES ($1, $2, $3, $4, $5)",
            room_id, version, creator, is_direct, now_ms,
        )

    async def room_exists(self, conn: Connection, room_id: str) -> bool:
        return await conn.fetchrow("SELECT 1 FROM rooms WHERE room_id = $1", room_id) is not None

    # events --------------------------------------------------------------
    async def insert_event(self, conn: Connection, event: StoredEvent,
                           pdu_json: str | None = None) -> None:
        """Store the event and, for a state event, move the room's current state.

        ``pdu_json``: the PDU's canonical JSON, if the caller has encoded it already."""
        pdu = event.pdu
        await conn.execute(
            "INSERT INTO events (stream_ordering, event_id, room_id, sender, type, state_key,"
            " depth, origin_server_ts, pdu) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            event.stream_ordering, event.event_id, pdu["room_id"], pdu["sender"], pdu["type"],
            pdu.get("state_key"), pdu["depth"], pdu["origin_server_ts"],
            pdu_json if pdu_json is not None else encode_canonical_json(pdu).decode(),
        )
        if event.state_key is not None:
            await self._set_current_state(conn, event)
        if event.type == "m.room.member":
            await self._set_membership(conn, event)

    async def _set_current_state(self, conn: Connection, event: StoredEvent) -> None:
        await conn.execute(
            "INSERT INTO current_state (room_id, type, state_key, event_id) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (room_id, type, state_key) DO UPDATE SET event_id = excluded.event_id",
            event.room_id, event.type, event.state_key, event.event_id,
        )

    async def _set_membership(self, conn: Connection, event: StoredEvent) -> None:
        await conn.execute(
            "INSERT INTO memberships (room_id, user_id, membership, event_id, stream_ordering)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (room_id, user_id) DO UPDATE SET"
            " membership = excluded.membership, event_id = excluded.event_id,"
            " stream_ordering = excluded.stream_ordering, forgotten = FALSE",
            event.room_id, event.state_key, event.pdu["content"]["membership"], event.event_id,
            event.stream_ordering,
        )

    async def mark_redacted(self, conn: Connection, event_id: str, redaction_id: str) -> None:
        await conn.execute(
            "UPDATE events SET redacted_by = $2 WHERE event_id = $1 AND redacted_by IS NULL",
            event_id, redaction_id,
        )

    async def latest_event(self, conn: Connection, room_id: str) -> Row | None:
        return await conn.fetchrow(
            "SELECT event_id, depth FROM events WHERE room_id = $1"
            " ORDER BY stream_ordering DESC LIMIT 1",
            room_id,
        )

    async def event(self, event_id: str, conn: Connection | None = None) -> StoredEvent | None:
        row = await (conn or self.db).fetchrow(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE event_id = $1", event_id
        )
        return _event(row) if row else None

    async def events_by_id(self, event_ids: Iterable[str]) -> dict[str, StoredEvent]:
        ids = list(dict.fromkeys(event_ids))
        if not ids:
            return {}
        marks = ", ".join(f"${i}" for i in range(1, len(ids) + 1))
        rows = await self.db.fetch(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE event_id IN ({marks})", *ids
        )
        found = [_event(r) for r in rows]
        return {e.event_id: e for e in found}

    async def room_events(self, room_id: str, *, after: int, upto: int, limit: int,
                          newest_first: bool) -> list[StoredEvent]:
        """Events with after < stream_ordering <= upto, newest or oldest first."""
        order = "DESC" if newest_first else "ASC"
        rows = await self.db.fetch(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE room_id = $1"
            f" AND stream_ordering > $2 AND stream_ordering <= $3"
            f" ORDER BY stream_ordering {order} LIMIT $4",
            room_id, after, upto, limit,
        )
        return [_event(r) for r in rows]

    async def state_events_between(self, room_id: str, after: int, upto: int) -> list[StoredEvent]:
        rows = await self.db.fetch(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE room_id = $1 AND state_key IS NOT NULL"
            f" AND stream_ordering > $2 AND stream_ordering <= $3 ORDER BY stream_ordering",
            room_id, after, upto,
        )
        return [_event(r) for r in rows]

    async def rooms_with_events(self, user_id: str, after: int, upto: int) -> set[str]:
        """The user's rooms with an event in (after, upto]: a scan of that stream slice."""
        rows = await self.db.fetch(
            "SELECT DISTINCT e.room_id FROM events e JOIN memberships m"
            " ON m.room_id = e.room_id AND m.user_id = $1"
            " WHERE e.stream_ordering > $2 AND e.stream_ordering <= $3",
            user_id, after, upto,
        )
        return {r["room_id"] for r in rows}

    # state -----------------------------------------------------------------
    async def current_state_ids(self, room_id: str, conn: Connection | None = None,
                                types: Iterable[str] | None = None) -> dict[tuple[str, str], str]:
        sql = "SELECT type, state_key, event_id FROM current_state WHERE room_id = $1"
        args: list[Any] = [room_id]
        if types is not None:
            wanted = list(types)
            sql += " AND type IN (" + ", ".join(f"${i + 2}" for i in range(len(wanted))) + ")"
            args.extend(wanted)
        rows = await (conn or self.db).fetch(sql, *args)
        return {(r["type"], r["state_key"]): r["event_id"] for r in rows}

    async def state_events(self, conn: Connection, room_id: str,
                           keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], StoredEvent]:
        """The current state events for the given (type, state_key) keys, in their order.

        One statement for all keys: each (type, state_key) pair is a primary-key
        lookup (SQLite plans a multi-index OR), and a message's auth check needs three."""
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return {}
        pairs = " OR ".join(f"(c.type = ${2 * i + 2} AND c.state_key = ${2 * i + 3})"
                            for i in range(len(wanted)))
        rows = await conn.fetch(
            "SELECT c.type, c.state_key, e.stream_ordering, e.event_id, e.pdu, e.redacted_by"
            " FROM current_state c JOIN events e ON e.event_id = c.event_id"
            f" WHERE c.room_id = $1 AND ({pairs})",
            room_id, *(part for key in wanted for part in key),
        )
        found = {(r["type"], r["state_key"]): r for r in rows}
        return {key: _event(found[key]) for key in wanted if key in found}

    async def current_state(self, room_id: str) -> list[StoredEvent]:
        rows = await self.db.fetch(
            "SELECT e.stream_ordering, e.event_id, e.pdu, e.redacted_by FROM current_state c"
            " JOIN events e ON e.event_id = c.event_id WHERE c.room_id = $1"
            " ORDER BY e.stream_ordering",
            room_id,
        )
        return [_event(r) for r in rows]

    # memberships -----------------------------------------------------------
    async def membership(self, room_id: str, user_id: str,
                         conn: Connection | None = None) -> Row | None:
        return await (conn or self.db).fetchrow(
            "SELECT membership, event_id, stream_ordering, forgotten FROM memberships"
            " WHERE room_id = $1 AND user_id = $2",
            room_id, user_id,
        )

    async def rooms_of_user(self, user_id: str, memberships: Iterable[str]) -> list[Row]:
        wanted = list(memberships)
        marks = ", ".join(f"${i + 2}" for i in range(len(wanted)))
        return await self.db.fetch(
            "SELECT room_id, membership, event_id, stream_ordering FROM memberships"
            f" WHERE user_id = $1 AND membership IN ({marks}) AND NOT forgotten",
            user_id, *wanted,
        )

    async def members(self, room_id: str, membership: str | None = None) -> list[str]:
        if membership is None:
            rows = await self.db.fetch(
                "SELECT user_id FROM memberships WHERE room_id = $1", room_id
            )
        else:
            rows = await self.db.fetch(
                "SELECT user_id FROM memberships WHERE room_id = $1 AND membership = $2",
                room_id, membership,
            )
        return [r["user_id"] for r in rows]

    async def joined_users(self, room_id: str, conn: Connection | None = None) -> list[str]:
        rows = await (conn or self.db).fetch(
            "SELECT user_id FROM memberships WHERE room_id = $1 AND membership = 'join'",
            room_id)
        return [r["user_id"] for r in rows]

    async def share_a_room(self, user_a: str, user_b: str) -> bool:
        row = await self.db.fetchrow(
            "SELECT 1 FROM memberships a JOIN memberships b ON a.room_id = b.room_id"
            " WHERE a.user_id = $1 AND b.user_id = $2"
            " AND a.membership = 'join' AND b.membership = 'join' LIMIT 1",
            user_a, user_b,
        )
        return row is not None

    async def shares_room_with_local_user(self, user_id: str) -> bool:
        """Whether ``user_id`` is joined to a room that one of our own users is joined to."""
        row = await self.db.fetchrow(
            "SELECT 1 FROM memberships a JOIN memberships b ON a.room_id = b.room_id"
            " JOIN users u ON u.user_id = b.user_id"
            " WHERE a.user_id = $1 AND a.membership = 'join' AND b.membership = 'join'"
            " LIMIT 1",
            user_id,
        )
        return row is not None

    async def co_members(self, user_id: str) -> set[str]:
        """Everyone joined to a room this user is joined to (themselves included)."""
        rows = await self.db.fetch(
            "SELECT DISTINCT b.user_id FROM memberships a JOIN memberships b"
            " ON a.room_id = b.room_id WHERE a.user_id = $1"
            " AND a.membership = 'join' AND b.membership = 'join'",
            user_id,
        )
        return {r["user_id"] for r in rows}

    async def forget(self, room_id: str, user_id: str) -> None:
        await self.db.execute(
            "UPDATE memberships SET forgotten = TRUE WHERE room_id = $1 AND user_id = $2",
            room_id, user_id,
        )

    # transaction IDs -------------------------------------------------------
    async def event_for_txn(self, conn: Connection, user_id: str, device_id: str, scope: str,
                            txn_id: str) -> str | None:
        return await conn.fetchval(
            "SELECT event_id FROM txn_ids"
            " WHERE user_id = $1 AND device_id = $2 AND scope = $3 AND txn_id = $4",
            user_id, device_id, scope, txn_id,
        )

    async def txn_ids_of(self, user_id: str, device_id: str,
                         event_ids: Iterable[str]) -> dict[str, str]:
        """event_id -> txn_id for the events this device sent with a transaction ID."""
        ids = list(event_ids)
        if not ids:
            return {}
        marks = ", ".join(f"${i + 3}" for i in range(len(ids)))
        rows = await self.db.fetch(
            "SELECT event_id, txn_id FROM txn_ids WHERE user_id = $1 AND device_id = $2"
            f" AND event_id IN ({marks})",
            user_id, device_id, *ids,
        )
        return {r["event_id"]: r["txn_id"] for r in rows}

    async def record_txn(self, conn: Connection, user_id: str, device_id: str, scope: str,
                         txn_id: str, event_id: str, now_ms: int) -> None:
        await conn.execute(
            "INSERT INTO txn_ids (user_id, device_id, scope, txn_id, event_id, created_ts)"
            " VALUES ($1, $2, $3, $4, $5, $6)",
            user_id, device_id, scope, txn_id, event_id, now_ms,
        )
