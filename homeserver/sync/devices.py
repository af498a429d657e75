"""The device sections of a sync answer: to-device messages for the syncing device,
device-list changes, and the device's one-time key counts and unused fallback keys.

To-device messages have their own place in the token (its fourth number): the
position of the last message handed out. A sync that comes back with that token
acknowledges every message up to it, and they are deleted; at most
``MAX_TO_DEVICE_PER_SYNC`` go out per answer, the rest in the next.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from homeserver.e2e.device_lists import DeviceListNews, DeviceLists
from homeserver.e2e.to_device import message_json
from homeserver.storage.device_messages import DeviceMessageStore
from homeserver.storage.e2e_keys import E2eKeyStore

MAX_TO_DEVICE_PER_SYNC = 100
FALLBACK_FIELD = "device_unused_fallback_key_types"


@dataclass
class DeviceNews:
    to_device_position: int
    to_device: list[dict[str, Any]] = field(default_factory=list)
    lists: DeviceListNews = field(default_factory=DeviceListNews)
    one_time_key_counts: dict[str, int] = field(default_factory=dict)
    unused_fallback_types: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.to_device or self.lists.changed or self.lists.left)

    def to_json(self) -> dict[str, Any]:
        return {
            "to_device": {"events": self.to_device},
            "device_lists": {"changed": self.lists.changed, "left": self.lists.left},
            "device_one_time_keys_count": self.one_time_key_counts,
            FALLBACK_FIELD: self.unused_fallback_types,
            "org.matrix.msc2732." + FALLBACK_FIELD: self.unused_fallback_types,
        }


class DeviceSync:
    def __init__(self, messages: DeviceMessageStore, keys: E2eKeyStore,
                 device_lists: DeviceLists) -> None:
        self.messages = messages
        self.keys = keys
        self.device_lists = device_lists

    async def news(self, user_id: str, device_id: str, since: int | None,
                   to_device_since: int | None, upto: int) -> DeviceNews:
        """What the device should hear for a sync from ``since`` up to ``upto``."""
        acknowledged = to_device_since if to_device_since is not None else since
        if acknowledged is not None:
            await self.messages.acknowledge(user_id, device_id, acknowledged)
        rows = await self.messages.pending(user_id, device_id, acknowledged or 0, upto,
                                           MAX_TO_DEVICE_PER_SYNC + 1)
        limited = len(rows) > MAX_TO_DEVICE_PER_SYNC
        if limited:
            # Stop before the position where the cut fell: one send's messages for
            # this device share a position, so they go out together next time.
            cut = rows[MAX_TO_DEVICE_PER_SYNC]["stream_ordering"]
            rows = [r for r in rows if r["stream_ordering"] < cut]
            position = cut - 1
        else:
            position = upto
        news = DeviceNews(position, [message_json(r) for r in rows])
        if since is not None:
            news.lists = await self.device_lists.news(user_id, since, upto)
        db = self.keys.db
        news.one_time_key_counts = await self.keys.one_time_key_counts(db, user_id, device_id)
        news.unused_fallback_types = await self.keys.unused_fallback_types(db, user_id,
                                                                           device_id)
        return news
