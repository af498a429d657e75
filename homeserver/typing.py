"""Typing notifications: relayed, expired by the server, never stored as events.

Each room keeps who is typing until when. A typing notice expires exactly at
its timeout (one timer per notice on the injected clock, so tests advance
time instead of sleeping). Every change bumps a serial; /sync tokens carry
the serial they have seen. Only joined members may type or see typing.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict

from homeserver.clock import Clock
from homeserver.errors import Forbidden
from homeserver.notifier import Notifier
from homeserver.rooms.writer import EventWriter
from homeserver.storage.events import EventStore

MAX_TIMEOUT_MS = 120_000


class TypingService:
    def __init__(self, events: EventStore, writer: EventWriter, notifier: Notifier,
                 clock: Clock, max_timeout_ms: int = MAX_TIMEOUT_MS) -> None:
        self.events = events
        self.writer = writer
        self.notifier = notifier
        self.clock = clock
        self.max_timeout_ms = max_timeout_ms
        self.serial = 0
        self._typing: dict[str, dict[str, int]] = defaultdict(dict)  # room -> user -> expiry
        self._changed_at: dict[str, int] = {}  # room -> serial of its last change
        self._timers: set[asyncio.Task[None]] = set()
        self._sockets: Counter[tuple[str, str]] = Counter()  # (user, room) -> open sockets

    def socket_opened(self, user_id: str, room_id: str) -> None:
        self._sockets[(user_id, room_id)] += 1

    async def socket_closed(self, user_id: str, room_id: str) -> None:
        """A user's typing in a room ends at once when their last socket on it closes."""
        self._sockets[(user_id, room_id)] -= 1
        if self._sockets[(user_id, room_id)] <= 0:
            del self._sockets[(user_id, room_id)]
            await self._stop(room_id, user_id)

    async def set_typing(self, user_id: str, room_id: str, typing: bool,
                         timeout_ms: int = 30_000) -> None:
        row = await self.events.membership(room_id, user_id)
        if row is None or row["membership"] != "join":
            raise Forbidden("You are not a member of this room")
        if not typing:
            await self._stop(room_id, user_id)
            return
        timeout_ms = max(0, min(timeout_ms, self.max_timeout_ms))
        expiry = self.clock.time_ms() + timeout_ms
        was_typing = user_id in self._typing[room_id]
        self._typing[room_id][user_id] = expiry
        timer = asyncio.create_task(self._expire_later(room_id, user_id, expiry, timeout_ms))
        self._timers.add(timer)
        timer.add_done_callback(self._timers.discard)
        if not was_typing:
            await self._changed(room_id)

    async def _expire_later(self, room_id: str, user_id: str, expiry: int,
                            timeout_ms: int) -> None:
        await self.clock.sleep(timeout_ms / 1000)
        if self._typing[room_id].get(user_id) == expiry:  # not renewed since
            await self._stop(room_id, user_id)

    async def _stop(self, room_id: str, user_id: str) -> None:
        if self._typing[room_id].pop(user_id, None) is not None:
            await self._changed(room_id)

    async def _changed(self, room_id: str) -> None:
        self.serial += 1
        self._changed_at[room_id] = self.serial
        channel = await self.writer.channel_of(room_id)
        await self.notifier.publish(channel, {"kind": "typing", "room_id": room_id,
                                              "serial": self.serial})

    def typing_in(self, room_id: str) -> list[str]:
        return sorted(self._typing.get(room_id, {}))

    def changed_since(self, room_id: str, serial: int | None) -> bool:
        """Whether a client that saw ``serial`` (None: nothing yet) must be told."""
        last = self._changed_at.get(room_id)
        if serial is None:
            return bool(self._typing.get(room_id))
        return last is not None and last > serial

    def close(self) -> None:
        for timer in self._timers:
            timer.cancel()
