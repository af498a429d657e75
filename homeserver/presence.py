"""Presence: online, unavailable or offline, seen only by people who share a room.

States live in the ephemeral store (memory, or Redis shared by every
worker), never as events. A user is online while they have a live socket or
/sync on any worker: each worker keeps a liveness deadline in the store
moving for the users connected to it. When the last connection ends, the
deadline stops at now + the grace; when it passes (or the worker died and
stopped refreshing), whichever worker sweeps first takes the user offline.
An online user idle longer than the idle limit shows as unavailable.

A change is published on the channels of the user's own rooms, so it costs
work in proportion to the people who share a room with them, not to all users.
Other servers' users are held only while they share a room with one of ours,
at most ``presence.max_remote_per_server`` of each server.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

from homeserver.beacon import Beacon
from homeserver.channels import RoomChannels
from homeserver.clock import Clock
from homeserver.ephemeral import EphemeralStore, PresenceState
from homeserver.errors import Forbidden, NotFound
from homeserver.gateway import FederationDoor
from homeserver.ids import server_of
from homeserver.lru import LruDict
from homeserver.notifier import Notifier
from homeserver.storage.accounts import AccountStore
from homeserver.storage.events import EventStore

log = logging.getLogger(__name__)
STATES = ("online", "unavailable", "offline")
IDLE_MS = 5 * 60 * 1000
GRACE_MS = 30 * 1000
ACTIVE_GRANULARITY_MS = 10_000  # last_active is rewritten at most this often
MAX_REMOTE_PER_SERVER = 1000


class PresenceService:
    def __init__(self, events: EventStore, accounts: AccountStore, channels: RoomChannels,
                 notifier: Notifier, federation: FederationDoor, store: EphemeralStore,
                 clock: Clock,
                 idle_ms: int = IDLE_MS, grace_ms: int = GRACE_MS,
                 max_remote_per_server: int = MAX_REMOTE_PER_SERVER) -> None:
        self.events = events
        self.accounts = accounts
        self.channels = channels
        self.notifier = notifier
        self.store = store
        self.clock = clock
        self.idle_ms = idle_ms
        self.grace_ms = grace_ms
        self.max_remote_per_server = max_remote_per_server
        self._remote: dict[str, LruDict[str, bool]] = {}  # server -> its users we hold
        self._connections: Counter[str] = Counter()
        self.connections_changed = Beacon()  # lit once a connection's end is handled
        self._refreshed_at = 0
        self._task: asyncio.Task[None] | None = None
        self.federation = federation

    def start(self) -> None:
        self._task = asyncio.create_task(self._sweep_forever())

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()

    @asynccontextmanager
    async def connection(self, user_id: str) -> AsyncIterator[None]:
        """The user is online for as long as this lasts, and for the grace after."""
        self._connections[user_id] += 1
        try:
            await self.store.keep_alive([user_id], self.clock.time_ms() + self.grace_ms)
            await self.touch(user_id)
            yield
        finally:
            self._connections[user_id] -= 1
            if self._connections[user_id] <= 0:
                del self._connections[user_id]
                await self.store.keep_alive([user_id], self.clock.time_ms() + self.grace_ms)
            self.connections_changed.changed()

    def connected_here(self, user_id: str) -> bool:
        """Whether the user has a live socket or /sync on this worker."""
        return self._connections[user_id] > 0

    async def set_presence(self, user_id: str, presence: str,
                           status_msg: str | None = None) -> None:
        now = self.clock.time_ms()
        old = (await self.store.presence_of([user_id])).get(user_id)
        changed = old is None or (self._shown(old), old.status_msg) != (presence, status_msg)
        serial = await self.store.set_presence(
            user_id, PresenceState(presence, now, status_msg), bump=changed)
        if presence != "offline":
            await self.store.keep_alive([user_id], now + self.grace_ms)
        if serial is not None:
            await self._announce(user_id, serial)

    async def touch(self, user_id: str) -> None:
        """The user is active (a /sync with set_presence=online): online, idle clock reset."""
        current = (await self.store.presence_of([user_id])).get(user_id)
        now = self.clock.time_ms()
        if current is None or self._shown(current) != "online":
            await self.set_presence(user_id, "online", current.status_msg if current else None)
        elif now - current.last_active_ms >= ACTIVE_GRANULARITY_MS:
            current.last_active_ms = now
            await self.store.set_presence(user_id, current, bump=False)
            await self.store.keep_alive([user_id], now + self.grace_ms)

    async def view_for(self, viewer: str, user_id: str) -> dict[str, Any]:
        # Sharing a room comes first: it also admits other servers' users.
        if viewer != user_id and not await self.events.share_a_room(viewer, user_id):
            if not await self.accounts.user_exists(user_id):
                raise NotFound("Unknown user")
            raise Forbidden("You do not share a room with this user")
        return (await self.contents([user_id]))[user_id]

    async def contents(self, user_ids: Iterable[str],
                       known_only: bool = False) -> dict[str, dict[str, Any]]:
        """The m.presence content of each user (offline when never seen, unless known_only)."""
        users = list(user_ids)
        states = await self.store.presence_of(users)
        return {u: self._content(states.get(u)) for u in users
                if not known_only or u in states}

    async def changed_since(self, serial: int) -> list[str]:
        """Users whose presence changed after ``serial``."""
        return await self.store.presence_changed_since(serial)

    def _content(self, state: PresenceState | None) -> dict[str, Any]:
        if state is None:
            return {"presence": "offline"}
        shown = self._shown(state)
        out: dict[str, Any] = {
            "presence": shown,
            "last_active_ago": max(0, self.clock.time_ms() - state.last_active_ms),
            "currently_active": shown == "online",
        }
        if state.status_msg is not None:
            out["status_msg"] = state.status_msg
        return out

    def _shown(self, state: PresenceState) -> str:
        idle = self.clock.time_ms() - state.last_active_ms > self.idle_ms
        return "unavailable" if state.presence == "online" and idle else state.presence

    async def sweep(self) -> None:
        """Keep this worker's connected users alive; take lapsed users offline."""
        now = self.clock.time_ms()
        if self._connections and now - self._refreshed_at >= self.grace_ms // 3:
            await self.store.keep_alive(list(self._connections), now + self.grace_ms)
            self._refreshed_at = now
        for user_id, serial in await self.store.take_lapsed(now):
            await self._announce(user_id, serial)

    async def _sweep_forever(self) -> None:
        tick = min(1.0, self.grace_ms / 3000)
        while True:
            await self.clock.sleep(tick)
            try:
                await self.sweep()
            except Exception:
                log.exception("presence sweep failed")

    async def set_remote(self, user_id: str, presence: str, last_active_ago: int,
                         status_msg: str | None) -> None:
        """Presence another server reports for its own user (it handles their expiry).

        Kept only while the user shares a room with one of ours, and for at most
        ``max_remote_per_server`` users of each server (the least recently updated one
        is forgotten to make room), so made-up users cost nothing.
        """
        if not await self._hold_remote(user_id):
            return
        state = PresenceState(presence, self.clock.time_ms() - max(0, last_active_ago),
                              status_msg)
        serial = await self.store.set_presence(user_id, state, bump=True)
        if serial is not None:
            await self._announce(user_id, serial)

    async def _hold_remote(self, user_id: str) -> bool:
        server = server_of(user_id)
        held = self._remote.get(server)
        if not await self.events.shares_room_with_local_user(user_id):
            if held is not None and held.pop(user_id) is not None:
                await self.store.forget_presence(user_id)
            return False
        if held is None:
            # One entry per server with a user in a room with ours: bounded by membership.
            held = self._remote[server] = LruDict(self.max_remote_per_server)
        for evicted in held.put(user_id, True):
            log.info("forgetting the presence of %s: %s has over %d users here", evicted,
                     server, self.max_remote_per_server)
            await self.store.forget_presence(evicted)
        return True

    async def _announce(self, user_id: str, serial: int) -> None:
        payload = {"kind": "presence", "user_id": user_id, "serial": serial}
        for row in await self.events.rooms_of_user(user_id, ["join"]):
            await self.notifier.publish(await self.channels.of(row["room_id"]), payload)
        if self.federation.connected:  # the content costs a read: only for other servers
            content = (await self.contents([user_id]))[user_id]
            await self.federation.gateway.presence_changed(user_id, content)
