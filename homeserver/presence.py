"""Presence: online, unavailable or offline, seen only by people who share a room.

Kept in memory and never stored as events. A user who has been idle longer
than the idle limit shows as unavailable. Each change bumps a serial; /sync
tokens carry the serial they have seen. A change is published on the
channels of the user's own rooms, so it costs work in proportion to the
people who share a room with them, not to all users.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from homeserver.clock import Clock
from homeserver.errors import Forbidden, NotFound
from homeserver.notifier import Notifier
from homeserver.rooms.writer import EventWriter
from homeserver.storage.accounts import AccountStore
from homeserver.storage.events import EventStore

STATES = ("online", "unavailable", "offline")
IDLE_MS = 5 * 60 * 1000


@dataclass
class Presence:
    presence: str
    last_active_ms: int
    status_msg: str | None = None


class PresenceService:
    def __init__(self, events: EventStore, accounts: AccountStore, writer: EventWriter,
                 notifier: Notifier, clock: Clock, idle_ms: int = IDLE_MS) -> None:
        self.events = events
        self.accounts = accounts
        self.writer = writer
        self.notifier = notifier
        self.clock = clock
        self.idle_ms = idle_ms
        self.serial = 0
        self._users: dict[str, Presence] = {}
        self._changed_at: dict[str, int] = {}

    async def set_presence(self, user_id: str, presence: str,
                           status_msg: str | None = None) -> None:
        now = self.clock.time_ms()
        old = self._users.get(user_id)
        self._users[user_id] = Presence(presence, now, status_msg)
        if old is None or (old.presence, old.status_msg) != (presence, status_msg):
            await self._changed(user_id)

    async def touch(self, user_id: str) -> None:
        """The user is active (a /sync with set_presence=online): online, idle clock reset."""
        current = self._users.get(user_id)
        if current is None or self._shown(current) != "online":
            await self.set_presence(user_id, "online",
                                    current.status_msg if current else None)
        else:
            current.last_active_ms = self.clock.time_ms()

    async def view_for(self, viewer: str, user_id: str) -> dict[str, Any]:
        if viewer != user_id:
            if not await self.accounts.user_exists(user_id):
                raise NotFound("Unknown user")
            if not await self.events.share_a_room(viewer, user_id):
                raise Forbidden("You do not share a room with this user")
        return self.content(user_id)

    def content(self, user_id: str) -> dict[str, Any]:
        state = self._users.get(user_id)
        if state is None:
            return {"presence": "offline"}
        ago = max(0, self.clock.time_ms() - state.last_active_ms)
        shown = self._shown(state)
        out: dict[str, Any] = {"presence": shown, "last_active_ago": ago,
                               "currently_active": shown == "online"}
        if state.status_msg is not None:
            out["status_msg"] = state.status_msg
        return out

    def _shown(self, state: Presence) -> str:
        idle = self.clock.time_ms() - state.last_active_ms > self.idle_ms
        return "unavailable" if state.presence == "online" and idle else state.presence

    def changed_since(self, serial: int | None) -> list[str]:
        """Users whose presence changed after ``serial`` (None: everyone known)."""
        return [u for u, s in self._changed_at.items() if serial is None or s > serial]

    async def _changed(self, user_id: str) -> None:
        self.serial += 1
        self._changed_at[user_id] = self.serial
        payload = {"kind": "presence", "user_id": user_id, "serial": self.serial}
        for row in await self.events.rooms_of_user(user_id, ["join"]):
            await self.notifier.publish(await self.writer.channel_of(row["room_id"]), payload)
