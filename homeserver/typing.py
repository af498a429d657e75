"""Typing notifications: relayed, expired by the server, never stored as events.

Who types where lives in the ephemeral store (memory, or Redis shared by
every worker). A notice expires exactly at its timeout: the worker that set
it keeps a timer on the injected clock, and so does every worker that has
shown it to someone, so the stop is announced even if the first worker
died. The store ends a notice only once, whoever's timer fires first.
Every change gets a serial that /sync tokens carry.
"""

from __future__ import annotations

import asyncio
from collections import Counter

from homeserver.channels import RoomChannels
from homeserver.clock import Clock
from homeserver.ephemeral import EphemeralStore
from homeserver.errors import Forbidden
from homeserver.gateway import FederationDoor
from homeserver.notifier import Notifier
from homeserver.storage.events import EventStore

MAX_TIMEOUT_MS = 120_000


class TypingService:
    def __init__(self, events: EventStore, channels: RoomChannels, notifier: Notifier,
                 federation: FederationDoor, store: EphemeralStore, clock: Clock,
                 max_timeout_ms: int = MAX_TIMEOUT_MS) -> None:
        self.events = events
        self.channels = channels
        self.notifier = notifier
        self.store = store
        self.clock = clock
        self.max_timeout_ms = max_timeout_ms
        self.federation = federation
        # One timer per (room, user) with the time it wakes at: however often a client
        # restarts typing, it holds one task, which re-reads the store when it wakes.
        self._timers: dict[tuple[str, str], tuple[int, asyncio.Task[None]]] = {}
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
        row = await self.events.membership(self.events.db, room_id, user_id)
        if row is None or row["membership"] != "join":
            raise Forbidden("You are not a member of this room")
        if not typing:
            await self._stop(room_id, user_id)
            return
        now = self.clock.time_ms()
        timeout_ms = max(0, min(timeout_ms, self.max_timeout_ms))
        serial = await self.store.start_typing(room_id, user_id, now + timeout_ms, now)
        self._expire_at(room_id, user_id, now + timeout_ms)
        if serial is not None:
            await self._announce(room_id, serial)
        await self.federation.gateway.typing_changed(room_id, user_id, True, timeout_ms)

    async def typing_in(self, room_id: str) -> list[str]:
        typers = await self.store.typers(room_id, self.clock.time_ms())
        for user, expiry in typers.items():
            self._expire_at(room_id, user, expiry)
        return sorted(typers)

    async def changes_for(self, room_ids: list[str], serial: int | None) -> dict[str, list[str]]:
        """Who types in each room whose typing changed after ``serial`` (None: any typing)."""
        changed_at = await self.store.typing_changed_at(room_ids)
        updates = {}
        for room_id, at in changed_at.items():
            if serial is None or at > serial:
                typers = await self.typing_in(room_id)
                if typers or serial is not None:
                    updates[room_id] = typers
        return updates

    def _expire_at(self, room_id: str, user_id: str, expiry: int) -> None:
        timer = self._timers.get((room_id, user_id))
        if timer is not None:
            if timer[0] <= expiry:
                return  # it wakes no later than this notice ends, and looks again then
            timer[1].cancel()
        task = asyncio.create_task(self._expire_later(room_id, user_id, expiry))
        self._timers[(room_id, user_id)] = (expiry, task)

    async def _expire_later(self, room_id: str, user_id: str, wake: int) -> None:
        key = (room_id, user_id)
        try:
            while True:
                await self.clock.sleep(max(0, wake - self.clock.time_ms()) / 1000)
                expiry = (await self.store.typers(room_id, 0)).get(user_id)
                if expiry is None:
                    return
                if expiry > self.clock.time_ms():  # renewed since: wait for the new end
                    wake = expiry
                    task = asyncio.current_task()
                    assert task is not None
                    self._timers[key] = (wake, task)
                    continue
                serial = await self.store.stop_typing(room_id, user_id, self.clock.time_ms(),
                                                      only_expiry=expiry)
                if serial is not None:
                    await self._announce(room_id, serial)
                return
        finally:
            timer = self._timers.get(key)
            if timer is not None and timer[1] is asyncio.current_task():
                del self._timers[key]

    async def _stop(self, room_id: str, user_id: str) -> None:
        serial = await self.store.stop_typing(room_id, user_id, self.clock.time_ms())
        if serial is not None:
            await self._announce(room_id, serial)
            await self.federation.gateway.typing_changed(room_id, user_id, False, 0)

    async def _announce(self, room_id: str, serial: int) -> None:
        channel = await self.channels.of(room_id)
        await self.notifier.publish(channel, {"kind": "typing", "room_id": room_id,
                                              "serial": serial})

    def close(self) -> None:
        for _, timer in list(self._timers.values()):
            timer.cancel()
