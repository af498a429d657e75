"""Device-list changes: a stream position for each user whose devices or keys changed,
and who gets told: the people who share a room with them, and nobody else.

A change is announced on the user's own channel and on each of their rooms'
channels, so it wakes exactly the long-polls and sockets that may show it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from homeserver.channels import RoomChannels, user_channel
from homeserver.rooms.transactions import WriteTxn
from homeserver.storage.device_messages import DeviceMessageStore
from homeserver.storage.events import EventStore


@dataclass
class DeviceListNews:
    changed: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)


class DeviceLists:
    def __init__(self, store: DeviceMessageStore, events: EventStore,
                 channels: RoomChannels) -> None:
        self.store = store
        self.events = events
        self.channels = channels

    async def changed(self, txn: WriteTxn, user_id: str) -> None:
        """Record in ``txn`` that the user's devices or keys changed, and announce it."""
        ordering = await txn.next_position()
        await self.store.mark_device_list_changed(txn.conn, user_id, ordering)
        payload = {"kind": "device_list", "user_id": user_id, "stream_ordering": ordering}
        txn.announce(user_channel(user_id), dict(payload))
        for room_id in await self.store.joined_rooms(txn.conn, user_id):
            txn.announce(await self.channels.of(room_id, txn.conn), dict(payload))

    async def news(self, user_id: str, after: int, upto: int) -> DeviceListNews:
        """Whose device lists ``user_id`` should re-read, and whom they no longer share a
        room with, for the stream range (after, upto]."""
        if after >= upto:
            return DeviceListNews()
        keys_changed = await self.store.device_lists_changed(after, upto)
        moved = await self.store.membership_changes(user_id, after, upto)
        if not keys_changed and not moved:
            return DeviceListNews()
        joined_rooms = {r["room_id"] for r in moved
                        if r["user_id"] == user_id and r["membership"] == "join"}
        left_rooms = {r["room_id"] for r in moved
                      if r["user_id"] == user_id and r["membership"] != "join"}
        arrived = {r["user_id"] for r in moved
                   if r["user_id"] != user_id and r["membership"] == "join"}
        departed = {r["user_id"] for r in moved
                    if r["user_id"] != user_id and r["membership"] != "join"}
        arrived |= await self.store.joined_members(sorted(joined_rooms))
        departed |= await self.store.joined_members(sorted(left_rooms))
        sharing = await self.events.co_members(user_id)  # includes the user
        # The user's own changes always count: their other devices must hear of them.
        changed = (keys_changed & (sharing | {user_id})) | ((arrived & sharing) - {user_id})
        left = departed - sharing - {user_id}
        return DeviceListNews(sorted(changed), sorted(left))
