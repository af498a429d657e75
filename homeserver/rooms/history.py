"""What another server may read of the rooms we hold: events, state and members.

Federation's read door into the core. It checks nothing about who asks: the
federation handlers decide whether the asking server may see the room.
"""

from __future__ import annotations

from collections.abc import Iterable

from homeserver.models import StoredEvent
from homeserver.storage.database import Row
from homeserver.storage.events import EventStore


class RoomHistory:
    def __init__(self, events: EventStore) -> None:
        self._events = events
        self._db = events.db

    async def event(self, event_id: str) -> StoredEvent | None:
        return await self._events.event(self._db, event_id)

    async def events_by_id(self, event_ids: Iterable[str]) -> dict[str, StoredEvent]:
        return await self._events.events_by_id(event_ids)

    async def latest_event(self, room_id: str) -> Row | None:
        return await self._events.latest_event(self._db, room_id)

    async def room_events(self, room_id: str, *, after: int, upto: int, limit: int,
                          newest_first: bool) -> list[StoredEvent]:
        return await self._events.room_events(room_id, after=after, upto=upto, limit=limit,
                                              newest_first=newest_first)

    async def current_state(self, room_id: str) -> list[StoredEvent]:
        return await self._events.current_state(room_id)

    async def state_ids(self, room_id: str) -> dict[tuple[str, str], str]:
        return await self._events.current_state_ids(self._db, room_id)

    async def joined_users(self, room_id: str) -> list[str]:
        return await self._events.joined_users(self._db, room_id)

    async def co_members(self, user_id: str) -> set[str]:
        return await self._events.co_members(user_id)

    async def membership(self, room_id: str, user_id: str) -> Row | None:
        return await self._events.membership(self._db, room_id, user_id)
