"""Appending events to rooms, ours and other servers', inside an open write.

Our events are built and signed (``building.py``), authorised against the
room's current state, and persisted (``persisting.py``). Events from other
servers, already checked for validity by the federation package, are
authorised the same way and persisted by the same step. The write's
transaction, its locks and what it publishes are ``transactions.py``'s.
"""

from __future__ import annotations

from typing import Any

from homeserver.clock import Clock
from homeserver.errors import BadJson, Forbidden
from homeserver.events.canonical import NotCanonical, check_canonical
from homeserver.models import StoredEvent
from homeserver.rooms.building import EventBuilder, authorise
from homeserver.rooms.persisting import EventPersister
from homeserver.rooms.transactions import WriteTxn
from homeserver.storage.events import EventStore
from homeserver.storage.invites import InviteStore

ROOM_VERSION = "10"


class EventWriter:
    def __init__(self, events: EventStore, invites: InviteStore, builder: EventBuilder,
                 persister: EventPersister, clock: Clock) -> None:
        self.events = events
        self.invites = invites
        self.builder = builder
        self.persister = persister
        self.clock = clock

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
        built = await self.builder.build(txn.conn, unsigned)
        authorise(built.pdu, built.auth_state)
        return await self.persister.persist(txn, built.event_id, built.pdu, ours=True,
                                            pdu_json=built.pdu_json)

    async def accept_remote(self, txn: WriteTxn, pdu: dict[str, Any], event_id: str,
                            new_room: bool = False) -> StoredEvent:
        """Store a PDU another server sent (already checked for validity) if the auth
        rules allow it against the room's current state; Forbidden otherwise. Only a
        join we asked for (``new_room``) may bring a room we do not hold yet."""
        room_id = pdu["room_id"]
        await txn.lock_room(room_id)
        existing = await self.events.event(txn.conn, event_id)
        if existing is not None:
            return existing
        if not await self.events.room_exists(txn.conn, room_id):
            if not (new_room and pdu["type"] == "m.room.create" and pdu.get("state_key") == ""):
                raise Forbidden("Unknown room")
            await self.events.insert_room(txn.conn, room_id, ROOM_VERSION, pdu["sender"],
                                          False, self.clock.time_ms())
            await self.invites.forget_room(txn.conn, room_id)
        elif pdu["type"] == "m.room.create":
            raise Forbidden("The room has its create event already")
        auth_state = await self.builder.auth_state(txn.conn, room_id, pdu)
        authorise(pdu, auth_state)
        return await self.persister.persist(txn, event_id, pdu, ours=False)
