"""What goes with a device when it is deleted or logged out: its keys, the
signatures on it, its waiting to-device messages and the pushers it set (all of
the user's once no device is left); and the device-list change that tells the
people who share a room with its owner."""

from __future__ import annotations

from homeserver.e2e.device_lists import DeviceLists
from homeserver.rooms.transactions import Writes
from homeserver.storage.device_messages import DeviceMessageStore
from homeserver.storage.e2e_keys import E2eKeyStore
from homeserver.storage.pushers import PusherStore


class DeviceCleanup:
    def __init__(self, keys: E2eKeyStore, messages: DeviceMessageStore, writes: Writes,
                 device_lists: DeviceLists, pushers: PusherStore) -> None:
        self.keys = keys
        self.pushers = pushers
        self.messages = messages
        self.writes = writes
        self.device_lists = device_lists

    async def devices_removed(self, user_id: str, device_ids: list[str]) -> None:
        async with self.writes.transaction() as txn:
            await txn.lock_user(user_id)
            # A stolen phone's pusher would otherwise keep receiving message content.
            await self.pushers.delete_of_devices(txn.conn, user_id, device_ids)
            if not device_ids:
                return
            await self.keys.forget_devices(txn.conn, user_id, device_ids)
            await self.messages.forget_devices(txn.conn, user_id, device_ids)
            await self.device_lists.changed(txn, user_id)
