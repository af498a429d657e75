"""Appending events to rooms: position, prev/auth events, signature, auth check, storage.

Local events are built, signed and queued for the other servers in the room;
events from other servers (already checked for validity by the federation
package) are authorised against the room's state and stored the same way.

Every write happens in one database transaction that first takes the next
stream position; that row lock orders writers on every backend and worker,
so the room's latest event and auth state read inside it cannot change under
us. Notifications go out only after the commit.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from homeserver.clock import Clock
from homeserver.errors import BadJson, Forbidden, MatrixError
from homeserver.events import auth_rules
from homeserver.events.canonical import NotCanonical, canonical_json, check_canonical
from homeserver.events.hashing import sign_and_name
from homeserver.events.keys import SigningKey
from homeserver.ids import server_of
from homeserver.models import StoredEvent
from homeserver.notifier import (
    OUTBOX_CHANNEL,
    Notifier,
    dm_channel,
    room_channel,
    user_channel,
)
from homeserver.storage.database import Connection, Database
from homeserver.storage.dms import DmStore
from homeserver.storage.events import EventStore
from homeserver.storage.federation import FederationStore
from homeserver.storage.invites import InviteStore
from homeserver.storage.stream import next_position

ROOM_VERSION = "10"
MAX_PDU_BYTES = 65_536


@dataclass
class WriteTxn:
    """One open write: its connection and what to announce once it commits."""

    conn: Connection
    reserved: int | None = None  # the position taken to lock the stream, not yet used
    outbox: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def announce(self, channel: str, payload: dict[str, Any]) -> None:
        self.outbox.append((channel, payload))

    async def next_position(self) -> int:
        """The next stream position: the one that locked the stream first, then new ones."""
        if self.reserved is not None:
            position, self.reserved = self.reserved, None
            return position
        return await next_position(self.conn)


class EventWriter:
    def __init__(self, db: Database, events: EventStore, dms: DmStore, notifier: Notifier,
                 key: SigningKey, server_name: str, clock: Clock,
                 invites: InviteStore, outbox: FederationStore | None = None) -> None:
        self.db = db
        self.invites = invites
        self.events = events
        self.dms = dms
        self.outbox = outbox  # None: federation off, nothing is queued for other servers
        self.notifier = notifier
        self.key = key
        self.server_name = server_name
        self.clock = clock
        self._channels: dict[str, str] = {}

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[WriteTxn]:
        async with self.db.transaction() as conn:
            # Taking a position first locks the stream: checks made inside this
            # transaction (txn IDs, memberships, DM pairs) stay true until it commits.
            # The position is kept for the first write, saving a round trip.
            txn = WriteTxn(conn, reserved=await next_position(conn))
            yield txn
        for channel, payload in txn.outbox:
            await self.notifier.publish(channel, payload)

    async def append(self, txn: WriteTxn, room_id: str, sender: str, event_type: str,
                     content: dict[str, Any], state_key: str | None = None,
                     extra: dict[str, Any] | None = None) -> StoredEvent:
        """Build, sign, authorise and store one event; raise Forbidden if the rules say no."""
        unsigned = {"type": event_type, "sender": sender, "content": content, "room_id": room_id,
                    **({"state_key": state_key} if state_key is not None else {}), **(extra or {})}
        try:
            # A client's content is signed and stored as it came: it must be Canonical
            # JSON (no floats, integers within ±(2^53-1)) or every reader of it breaks.
            check_canonical(unsigned)
        except NotCanonical as exc:
            raise BadJson(f"Event is not Canonical JSON: {exc}") from None
        ordering = await txn.next_position()
        auth_state = await self._auth_state(txn.conn, room_id, unsigned)
        pdu, event_id, pdu_json = await self._build(txn.conn, unsigned, auth_state)
        _authorise(pdu, auth_state)
        event = StoredEvent(ordering, event_id, pdu)
        await self.events.insert_event(txn.conn, event, pdu_json)
        await self._announce(txn, event)
        await self._queue_for_other_servers(txn, event)
        return event

    async def accept_remote(self, txn: WriteTxn, pdu: dict[str, Any], event_id: str,
                            new_room: bool = False) -> StoredEvent:
        """Store a PDU another server sent (already checked for validity) if the auth
        rules allow it against the room's current state; Forbidden otherwise. Only a
        join we asked for (``new_room``) may bring a room we do not hold yet."""
        existing = await self.events.event(event_id, txn.conn)
        if existing is not None:
            return existing
        room_id = pdu["room_id"]
        known = await self.events.room_exists(txn.conn, room_id)
        if not known:
            if not (new_room and pdu["type"] == "m.room.create" and pdu.get("state_key") == ""):
                raise Forbidden("Unknown room")
            await self.events.insert_room(txn.conn, room_id, ROOM_VERSION, pdu["sender"],
                                          False, self.clock.time_ms())
            await self.invites.forget_room(txn.conn, room_id)
        elif pdu["type"] == "m.room.create":
            raise Forbidden("The room has its create event already")
        auth_state = await self._auth_state(txn.conn, room_id, pdu)
        _authorise(pdu, auth_state)
        event = StoredEvent(await txn.next_position(), event_id, pdu)
        await self.events.insert_event(txn.conn, event)
        await self._announce(txn, event)
        return event

    async def template(self, room_id: str, sender: str, event_type: str,
                       content: dict[str, Any], state_key: str | None = None) -> dict[str, Any]:
        """An unsigned event another server may sign and send back (make_join,
        make_leave), checked against the auth rules as if it were sent now."""
        unsigned = {"type": event_type, "sender": sender, "content": content,
                    "room_id": room_id, "origin_server_ts": self.clock.time_ms(),
                    **({"state_key": state_key} if state_key is not None else {})}
        auth_state = await self._auth_state(self.db, room_id, unsigned)
        latest = await self.events.latest_event(self.db, room_id)
        if latest is None:
            raise Forbidden("Unknown room")
        pdu = {**unsigned, "auth_events": sorted(e.event_id for e in auth_state.values()),
               "prev_events": [latest["event_id"]], "depth": latest["depth"] + 1}
        _authorise(pdu, auth_state)
        return pdu

    async def _queue_for_other_servers(self, txn: WriteTxn, event: StoredEvent) -> None:
        """Queue a local event for every other server in the room, in this transaction."""
        if self.outbox is None:
            return
        users = await self.events.joined_users(event.room_id, txn.conn)
        if event.type == "m.room.member" and event.state_key:
            users.append(event.state_key)  # a remote user leaving or kicked is told too
        servers = sorted({server_of(u) for u in users} - {self.server_name})
        if servers:
            await self.outbox.enqueue_pdu(txn.conn, servers, event.stream_ordering,
                                          canonical_json(event.pdu).decode())
            txn.announce(OUTBOX_CHANNEL, {"kind": "outbox"})
    async def _auth_state(self, conn: Connection, room_id: str,
                          partial: dict[str, Any]) -> dict[tuple[str, str], StoredEvent]:
        if partial["type"] == "m.room.create":
            return {}
        keys = auth_rules.auth_types_for_event(partial)
        return await self.events.state_events(conn, room_id, keys)

    async def _build(self, conn: Connection, partial: dict[str, Any],
                     auth_state: dict[tuple[str, str], StoredEvent]
                     ) -> tuple[dict[str, Any], str, str]:
        """The signed PDU, its event ID and its canonical JSON (each encoded once)."""
        latest = await self.events.latest_event(conn, partial["room_id"])
        pdu = {
            **partial,
            "auth_events": sorted(e.event_id for e in auth_state.values()),
            "prev_events": [latest["event_id"]] if latest else [],
            "depth": (latest["depth"] + 1) if latest else 1,
            "origin": self.server_name,
            "origin_server_ts": self.clock.time_ms(),
        }
        signed, event_id = sign_and_name(pdu, self.server_name, self.key)
        encoded = canonical_json(signed)
        if len(encoded) > MAX_PDU_BYTES:
            raise MatrixError("Event too large", status=413, errcode="M_TOO_LARGE")
        return signed, event_id, encoded.decode()

    async def _announce(self, txn: WriteTxn, event: StoredEvent) -> None:
        payload = {"kind": "event", "room_id": event.room_id, "event_id": event.event_id,
                   "stream_ordering": event.stream_ordering}
        txn.announce(await self.channel_of(event.room_id, txn.conn), payload)
        if event.type == "m.room.member":
            # The target may not listen to the room yet (an invite): tell them directly.
            txn.announce(user_channel(event.state_key or ""), payload)

    async def channel_of(self, room_id: str, conn: Connection | None = None) -> str:
        """``dm_<low>_<high>`` for a DM room, ``room_<id>`` otherwise (cached: it never changes)."""
        channel = self._channels.get(room_id)
        if channel is None:
            pair = await self.dms.pair_of_room(room_id, conn)
            channel = dm_channel(pair["user_low"], pair["user_high"]) if pair \
                else room_channel(room_id)
            if pair or await self.events.room_exists(conn or self.db, room_id):
                self._channels[room_id] = channel
        return channel


def _authorise(pdu: dict[str, Any], auth_state: dict[tuple[str, str], StoredEvent]) -> None:
    """Forbidden unless the auth rules allow ``pdu`` against ``auth_state``."""
    try:
        auth_rules.check_auth(pdu, {k: e.pdu for k, e in auth_state.items()})
    except auth_rules.AuthError as exc:
        raise Forbidden(str(exc)) from None
