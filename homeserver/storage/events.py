"""SQL for events: the timeline, state, memberships, rooms and transaction IDs."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from canonicaljson import encode_canonical_json

from homeserver.models import StoredEvent
from homeserver.storage.database import Connection, Database, Queries, Row
from homeserver.storage.stream import POSITION_SQL, WRITING, WRITING_SQL, take_position

EVENT_COLUMNS = "stream_ordering, event_id, pdu, redacted_by"
_INSERT_EVENT = ("INSERT INTO events (stream_ordering, event_id, room_id, sender, type, state_key,"
                 " depth, origin_server_ts, pdu)")


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

    async def room_exists(self, conn: Queries, room_id: str) -> bool:
        return await conn.fetchrow("SELECT 1 FROM rooms WHERE room_id = $1", room_id) is not None

    # events --------------------------------------------------------------
    async def insert_event(self, conn: Connection, event_id: str, pdu: dict[str, Any],
                           pdu_json: str | None = None) -> StoredEvent:
        """Store the event at the next stream position and, for a state event, move
        the room's current state. On PostgreSQL the position is taken by the insert
        itself: one round trip fewer on every write. ``pdu_json``: the PDU's canonical
        JSON, if the caller has encoded it already."""
        if pdu_json is None:
            pdu_json = encode_canonical_json(pdu).decode()
        columns = (event_id, pdu["room_id"], pdu["sender"], pdu["type"], pdu.get("state_key"),
                   pdu["depth"], pdu["origin_server_ts"], pdu_json)
        if conn.dialect == "postgres":
            position = await conn.fetchval(
                _INSERT_EVENT + f" SELECT {POSITION_SQL}, $1, $2, $3, $4, $5, $6, $7, $8"
                f" FROM ({WRITING_SQL.format('$9')}) AS writing RETURNING stream_ordering",
                *columns, WRITING)
        else:
            position = await take_position(conn)
            await conn.execute(_INSERT_EVENT + " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                               position, *columns)
        event = StoredEvent(position, event_id, pdu)
        if event.state_key is not None:
            await self._set_current_state(conn, event)
        if event.type == "m.room.member":
            await self._set_membership(conn, event)
        return event

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

    async def latest_event(self, conn: Queries, room_id: str) -> Row | None:
        return await conn.fetchrow(
            "SELECT event_id, depth FROM events WHERE room_id = $1"
            " ORDER BY stream_ordering DESC LIMIT 1",
            room_id,
        )

    async def event(self, conn: Queries, event_id: str) -> StoredEvent | None:
        row = await conn.fetchrow(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE event_id = $1", event_id
        )
        return _event(row) if row else None

    async def event_near_time(self, conn: Queries, room_id: str, ts: int,
                              forwards: bool) -> tuple[str, int] | None:
        """(event ID, origin_server_ts) of the room's event closest to ``ts`` in that
        direction, the time itself included: the (room_id, origin_server_ts) index."""
        if forwards:
            sql = ("SELECT event_id, origin_server_ts FROM events WHERE room_id = $1"
                   " AND origin_server_ts >= $2 ORDER BY origin_server_ts, stream_ordering"
                   " LIMIT 1")
        else:
            sql = ("SELECT event_id, origin_server_ts FROM events WHERE room_id = $1"
                   " AND origin_server_ts <= $2"
                   " ORDER BY origin_server_ts DESC, stream_ordering DESC LIMIT 1")
        row = await conn.fetchrow(sql, room_id, ts)
        return (row["event_id"], row["origin_server_ts"]) if row else None

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
    async def current_state_ids(self, conn: Queries, room_id: str,
                                types: Iterable[str] | None = None) -> dict[tuple[str, str], str]:
        sql = "SELECT type, state_key, event_id FROM current_state WHERE room_id = $1"
        args: list[Any] = [room_id]
        if types is not None:
            wanted = list(types)
            sql += " AND type IN (" + ", ".join(f"${i + 2}" for i in range(len(wanted))) + ")"
            args.extend(wanted)
        rows = await conn.fetch(sql, *args)
        return {(r["type"], r["state_key"]): r["event_id"] for r in rows}

    async def state_events(self, conn: Queries, room_id: str,
                           keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], StoredEvent]:
        """The current state events for the given (type, state_key) keys."""
        state, _ = await self.room_head(conn, room_id, keys, with_latest=False)
        return state

    async def room_head(self, conn: Queries, room_id: str, keys: Iterable[tuple[str, str]],
                        with_latest: bool = True,
                        ) -> tuple[dict[tuple[str, str], StoredEvent], Row | None]:
        """What a new event builds on, in one round trip: the current state events for
        ``keys`` and the room's latest event (its ``event_id`` and ``depth``)."""
        wanted = list(dict.fromkeys(keys))
        args: list[Any] = [room_id]
        parts = []
        if wanted:
            # Each pair a primary-key lookup: SQLite plans OR as a multi-index OR, but
            # scans the room's whole state for a row-value IN.
            pairs = []
            for event_type, state_key in wanted:
                args += [event_type, state_key]
                pairs.append(f"(c.type = ${len(args) - 1} AND c.state_key = ${len(args)})")
            parts.append(
                "SELECT 0 AS latest, c.type, c.state_key, e.stream_ordering, e.event_id,"
                " e.pdu, e.redacted_by, e.depth FROM current_state c"
                " JOIN events e ON e.event_id = c.event_id WHERE c.room_id = $1"
                f" AND ({' OR '.join(pairs)})")
        if with_latest:
            parts.append(
                "SELECT * FROM (SELECT 1 AS latest, NULL AS type, NULL AS state_key,"
                " stream_ordering, event_id, NULL AS pdu, NULL AS redacted_by, depth"
                " FROM events WHERE room_id = $1 ORDER BY stream_ordering DESC LIMIT 1) AS head")
        if not parts:
            return {}, None
        rows = await conn.fetch(" UNION ALL ".join(parts), *args)
        state = {(r["type"], r["state_key"]): _event(r) for r in rows if not r["latest"]}
        latest = next((r for r in rows if r["latest"]), None)
        return state, latest

    async def current_state(self, room_id: str) -> list[StoredEvent]:
        rows = await self.db.fetch(
            "SELECT e.stream_ordering, e.event_id, e.pdu, e.redacted_by FROM current_state c"
            " JOIN events e ON e.event_id = c.event_id WHERE c.room_id = $1"
            " ORDER BY e.stream_ordering",
            room_id,
        )
        return [_event(r) for r in rows]

    # memberships -----------------------------------------------------------
    async def membership(self, conn: Queries, room_id: str, user_id: str) -> Row | None:
        return await conn.fetchrow(
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

    async def joined_users(self, conn: Queries, room_id: str) -> list[str]:
        rows = await conn.fetch(
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
    async def sender_checks(self, conn: Queries, room_id: str, user_id: str, device_id: str,
                            scope: str, txn_id: str | None) -> tuple[str | None, str | None]:
        """In one round trip: the event an earlier request with this transaction ID
        made (if any), and the sender's membership of the room (if any)."""
        row = await conn.fetchrow(
            "SELECT (SELECT event_id FROM txn_ids WHERE user_id = $1 AND device_id = $2"
            " AND scope = $3 AND txn_id = $4) AS earlier, (SELECT membership FROM memberships"
            " WHERE room_id = $5 AND user_id = $1) AS membership",
            user_id, device_id, scope, txn_id, room_id,
        )
        assert row is not None
        return row["earlier"], row["membership"]

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
