"""Persisting an event, ours or another server's: one step for both.

Takes the event's stream position, stores it with the room's new state and
what is derived from it (its relation, its search text: ``indexing.py``), and
announces it (after the commit) on the room's channel, and to a membership's
target, who may not listen to the room yet. Our own events are also queued,
in the same transaction, for every other server in the room.
"""

from __future__ import annotations

from typing import Any

from homeserver.channels import OUTBOX_CHANNEL, RoomChannels, user_channel
from homeserver.events.canonical import canonical_json
from homeserver.ids import server_of
from homeserver.models import StoredEvent
from homeserver.rooms.indexing import EventIndexer
from homeserver.rooms.transactions import WriteTxn
from homeserver.storage.events import EventStore
from homeserver.storage.federation import FederationStore


class EventPersister:
    def __init__(self, events: EventStore, channels: RoomChannels, server_name: str,
                 outbox: FederationStore | None, indexer: EventIndexer) -> None:
        self.events = events
        self.indexer = indexer
        self.channels = channels
        self.server_name = server_name
        self.outbox = outbox  # None: federation off, nothing is queued for other servers

    async def persist(self, txn: WriteTxn, event_id: str, pdu: dict[str, Any], ours: bool,
                      pdu_json: str | None = None) -> StoredEvent:
        if ours:
            await self.indexer.check_new(txn.conn, event_id, pdu)
        # The position is taken last, by the insert: the shorter a position is in
        # flight, the sooner tokens pass it.
        event = await self.events.insert_event(txn.conn, event_id, pdu, pdu_json)
        txn.took(event.stream_ordering)
        await self.indexer.record(txn.conn, event)
        await self._announce(txn, event)
        if ours:
            await self._queue_for_other_servers(txn, event, pdu_json)
        return event

    async def _announce(self, txn: WriteTxn, event: StoredEvent) -> None:
        payload = {"kind": "event", "room_id": event.room_id, "event_id": event.event_id,
                   "stream_ordering": event.stream_ordering}
        txn.announce(await self.channels.of(event.room_id, txn.conn), payload)
        if event.type == "m.room.member":
            txn.announce(user_channel(event.state_key or ""), payload)

    async def _queue_for_other_servers(self, txn: WriteTxn, event: StoredEvent,
                                       pdu_json: str | None) -> None:
        if self.outbox is None:
            return
        users = await self.events.joined_users(txn.conn, event.room_id)
        if event.type == "m.room.member" and event.state_key:
            users.append(event.state_key)  # a remote user leaving or kicked is told too
        servers = sorted({server_of(u) for u in users} - {self.server_name})
        if servers:
            await self.outbox.enqueue_pdu(txn.conn, servers, event.stream_ordering,
                                          pdu_json or canonical_json(event.pdu).decode())
            txn.announce(OUTBOX_CHANNEL, {"kind": "outbox"})
