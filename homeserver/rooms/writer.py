"""Appending events to rooms: position, prev/auth events, signature, auth check, storage.

Local events are built, signed and queued for the other servers in the room;
events from other servers (already checked for validity by the federation
package) are authorised against the room's state and stored the same way.

Every write happens in one database transaction. Writes into one room are
ordered by that room's lock, taken before anything in the room is read, so
the room's latest event and auth state cannot change under us; writes into
different rooms run side by side. Each event's stream position comes from a
sequence as late as possible, and ``homeserver/positions.py`` keeps tokens
below the positions still in flight. Notifications go out only after the
commit.
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
from homeserver.events.hashing import compute_event_id, sign_event
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
from homeserver.positions import StreamPositions
from homeserver.storage.database import Connection, Database
from homeserver.storage.dms import DmStore
from homeserver.storage.events import EventStore
from homeserver.storage.federation import FederationStore
from homeserver.storage.invites import InviteStore
from homeserver.storage.stream import lock_pair, lock_room, lock_user, take_position

ROOM_VERSION = "10"
MAX_PDU_BYTES = 65_536


@dataclass
class WriteTxn:
    """One open write: its connection, its positions and what to announce once it commits."""

    conn: Connection
    positions: StreamPositions
    taken: list[int] = field(default_factory=list)
    outbox: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    locked: set[str] = field(default_factory=set)
    locked_users: set[str] = field(default_factory=set)

    def announce(self, channel: str, payload: dict[str, Any]) -> None:
        """Publish after the commit; readers hear of it once its position is safe."""
        if self.taken:
            payload.setdefault("stream_ordering", self.taken[-1])
        self.outbox.append((channel, payload))

    async def next_position(self) -> int:
        position = await take_position(self.conn)
        self.positions.taken(position)
        self.taken.append(position)
        return position

    async def lock_room(self, room_id: str) -> None:
        """Hold the room's write lock until the commit (once per transaction)."""
        if room_id not in self.locked:
            self.locked.add(room_id)
            await lock_room(self.conn, room_id)

    async def lock_pair(self, low: str, high: str) -> None:
        await lock_pair(self.conn, low, high)

    async def lock_user(self, user_id: str) -> None:
        """Hold the user's own-data lock until the commit; take locks room first."""
        if user_id not in self.locked_users:
            self.locked_users.add(user_id)
            await lock_user(self.conn, user_id)


class EventWriter:
    def __init__(self, db: Database, events: EventStore, dms: DmStore, notifier: Notifier,
                 positions: StreamPositions, key: SigningKey, server_name: str, clock: Clock,
                 invites: InviteStore, outbox: FederationStore | None = None) -> None:
        self.db = db
        self.positions = positions
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
    async def transaction(self, room_id: str | None = None) -> AsyncIterator[WriteTxn]:
        """A write; with ``room_id``, holding that room's lock from the start, so
        checks made in it (txn IDs, memberships) stay true until it commits."""
        txn: WriteTxn | None = None
        try:
            async with self.db.transaction() as conn:
                txn = WriteTxn(conn, self.positions)
                if room_id is not None:
                    await txn.lock_room(room_id)
                yield txn
        except BaseException:
            if txn is not None:
                await self.positions.ended(txn.taken, committed=False)
            raise
        await self.positions.ended(txn.taken, committed=True)
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
        await txn.lock_room(room_id)
        auth_state = await self._auth_state(txn.conn, room_id, unsigned)
        pdu = await self._build(txn.conn, unsigned, auth_state)
        _authorise(pdu, auth_state)
        # Taken last: the shorter a position is in flight, the sooner tokens pass it.
        event = StoredEvent(await txn.next_position(), compute_event_id(pdu), pdu)
        await self.events.insert_event(txn.conn, event)
        await self._announce(txn, event)
        await self._queue_for_other_servers(txn, event)
        return event

    async def accept_remote(self, txn: WriteTxn, pdu: dict[str, Any], event_id: str,
                            new_room: bool = False) -> StoredEvent:
        """Store a PDU another server sent (already checked for validity) if the auth
        rules allow it against the room's current state; Forbidden otherwise. Only a
        join we asked for (``new_room``) may bring a room we do not hold yet."""
        await txn.lock_room(pdu["room_id"])
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
                     auth_state: dict[tuple[str, str], StoredEvent]) -> dict[str, Any]:
        latest = await self.events.latest_event(conn, partial["room_id"])
        pdu = {
            **partial,
            "auth_events": sorted(e.event_id for e in auth_state.values()),
            "prev_events": [latest["event_id"]] if latest else [],
            "depth": (latest["depth"] + 1) if latest else 1,
            "origin": self.server_name,
            "origin_server_ts": self.clock.time_ms(),
        }
        signed = sign_event(pdu, self.server_name, self.key)
        if len(canonical_json(signed)) > MAX_PDU_BYTES:
            raise MatrixError("Event too large", status=413, errcode="M_TOO_LARGE")
        return signed

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
