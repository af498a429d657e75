"""What a user keeps on the server and shares with their rooms: account data,
filters, read receipts and read markers."""

from __future__ import annotations

import json
from typing import Any

from homeserver.channels import RoomChannels, user_channel
from homeserver.clock import Clock
from homeserver.errors import Forbidden, NotFound
from homeserver.gateway import FederationDoor
from homeserver.rooms.transactions import Writes, WriteTxn
from homeserver.storage.events import EventStore
from homeserver.storage.receipts import ReceiptStore
from homeserver.storage.user_data import GLOBAL, UserDataStore

RECEIPT_TYPES = {"m.read", "m.read.private"}


class UserDataService:
    def __init__(self, store: UserDataStore, receipts: ReceiptStore, events: EventStore,
                 writes: Writes, channels: RoomChannels, federation: FederationDoor,
                 clock: Clock) -> None:
        self.store = store
        self.receipts = receipts
        self.events = events
        self.writes = writes
        self.channels = channels
        self.clock = clock
        self.federation = federation

    async def put_account_data(self, user_id: str, data_type: str, content: dict[str, Any],
                               room_id: str = GLOBAL) -> None:
        async with self.writes.transaction() as txn:
            if room_id != GLOBAL:
                await self._require_member(txn, room_id, user_id)
            await self.put_in(txn, user_id, data_type, content, room_id)

    async def put_in(self, txn: WriteTxn, user_id: str, data_type: str,
                     content: dict[str, Any], room_id: str = GLOBAL) -> None:
        ordering = await txn.next_position()
        await self.store.put_account_data(txn.conn, user_id, room_id, data_type, content,
                                          ordering)
        txn.announce(user_channel(user_id), {"kind": "account_data", "stream_ordering": ordering})

    async def account_data(self, user_id: str, data_type: str,
                           room_id: str = GLOBAL) -> dict[str, Any]:
        found = await self.store.account_data(self.store.db, user_id, room_id, data_type)
        if found is None:
            raise NotFound("Account data not found")
        return found

    async def add_to_direct(self, txn: WriteTxn, user_id: str, other: str, room_id: str) -> None:
        """Name the DM room in ``m.direct``, keeping every entry the client wrote."""
        await txn.lock_user(user_id)  # two DMs resolved at once must not lose an entry
        content = await self.store.account_data(txn.conn, user_id, GLOBAL, "m.direct") or {}
        rooms = content.get(other)
        rooms = list(rooms) if isinstance(rooms, list) else []
        if room_id in rooms:
            return
        await self.put_in(txn, user_id, "m.direct", {**content, other: [*rooms, room_id]})

    async def add_filter(self, user_id: str, filter_content: dict[str, Any]) -> str:
        return await self.store.add_filter(user_id, json.dumps(filter_content))

    async def filter(self, user_id: str, filter_id: str) -> dict[str, Any]:
        found = await self.store.filter(user_id, filter_id)
        if found is None:
            raise NotFound("No such filter")
        return found

    async def receipt(self, user_id: str, room_id: str, receipt_type: str,
                      event_id: str) -> None:
        async with self.writes.transaction(room_id) as txn:
            await self.receipt_in(txn, user_id, room_id, receipt_type, event_id)

    async def receipt_in(self, txn: WriteTxn, user_id: str, room_id: str, receipt_type: str,
                         event_id: str) -> None:
        await self._require_member(txn, room_id, user_id)
        event = await self.events.event(txn.conn, event_id)
        if event is None or event.room_id != room_id:
            raise NotFound("Event not found")
        ordering = await txn.next_position()
        moved = await self.receipts.put(txn.conn, room_id, user_id, receipt_type, event_id,
                                        event.stream_ordering, self.clock.time_ms(), ordering)
        if moved:
            channel = await self.channels.of(room_id, txn.conn)
            txn.announce(channel, {"kind": "receipt", "stream_ordering": ordering})
            if receipt_type == "m.read":  # private ones stay here
                await self.federation.gateway.receipt_sent(room_id, user_id,
                                                           event_id, self.clock.time_ms())

    async def read_markers(self, user_id: str, room_id: str, fully_read: str | None,
                           read: str | None, read_private: str | None) -> None:
        async with self.writes.transaction(room_id) as txn:
            await self._require_member(txn, room_id, user_id)
            if fully_read is not None:
                await self.put_in(txn, user_id, "m.fully_read", {"event_id": fully_read}, room_id)
            for receipt_type, event_id in (("m.read", read), ("m.read.private", read_private)):
                if event_id is not None:
                    await self.receipt_in(txn, user_id, room_id, receipt_type, event_id)

    async def _require_member(self, txn: WriteTxn, room_id: str, user_id: str) -> None:
        row = await self.events.membership(txn.conn, room_id, user_id)
        if row is None or row["membership"] != "join":
            raise Forbidden("You are not a member of this room")
