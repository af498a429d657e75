"""Room aliases (``#name:ourserver``) and the public room directory.

Only local aliases exist: an alias of another server is not found here (asking its
server is federation's, not done yet). An alias may be added by a member of its room
and deleted by whoever added it or a room admin (power level 100). A room is listed in
/publicRooms while its directory visibility is public and its join rule is public: a
room made private again drops out without anyone touching the directory.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from homeserver.clock import Clock
from homeserver.errors import Forbidden, InvalidParam, MatrixError, NotFound
from homeserver.events.power_levels import power_level_of
from homeserver.rooms.service import RoomService, RoomSpec
from homeserver.storage.events import EventStore
from homeserver.storage.room_directory import RoomDirectoryStore

MAX_ALIAS_LENGTH = 255
ROOM_ADMIN = 100
# /publicRooms reads this many listed rooms at most; an organisation's server has fewer.
MAX_LISTED_ROOMS = 5000
_ALIAS_LOCALPART = re.compile(r"^[^:\s\x00#]+$")
_SUMMARY_STATE = [("m.room.join_rules", ""), ("m.room.name", ""), ("m.room.topic", ""),
                  ("m.room.canonical_alias", ""), ("m.room.avatar", ""),
                  ("m.room.history_visibility", ""), ("m.room.guest_access", ""),
                  ("m.room.create", ""), ("m.room.power_levels", "")]


@dataclass(frozen=True)
class PublicRoomsPage:
    chunk: list[dict[str, Any]]
    next_batch: str | None
    prev_batch: str | None
    total: int


class RoomDirectoryService:
    def __init__(self, rooms: RoomService, store: RoomDirectoryStore, events: EventStore,
                 server_name: str, clock: Clock) -> None:
        self.rooms = rooms
        self.store = store
        self.events = events
        self.server_name = server_name
        self.clock = clock

    # aliases ----------------------------------------------------------------
    def local_alias(self, alias: str) -> str:
        """The alias if it is well formed and ours; M_INVALID_PARAM otherwise."""
        localpart, sep, server = alias.removeprefix("#").partition(":")
        if (not alias.startswith("#") or not sep or len(alias) > MAX_ALIAS_LENGTH
                or not _ALIAS_LOCALPART.match(localpart)):
            raise InvalidParam(f"{alias!r} is not a room alias (#name:server)")
        if server != self.server_name:
            raise InvalidParam(f"Only aliases of this server ({self.server_name}) can be made")
        return alias

    def alias_for_name(self, room_alias_name: str) -> str:
        return self.local_alias(f"#{room_alias_name}:{self.server_name}")

    async def resolve(self, alias: str) -> str:
        """The room an alias names; 404 for an unknown or another server's alias."""
        try:
            alias = self.local_alias(alias)
        except InvalidParam:
            raise NotFound("Room alias not found") from None
        found = await self.store.alias(self.store.db, alias)
        if found is None:
            raise NotFound("Room alias not found")
        return found[0]

    async def add_alias(self, user_id: str, alias: str, room_id: str) -> None:
        alias = self.local_alias(alias)
        async with self.rooms.writes.transaction(room_id) as txn:
            if not await self.events.room_exists(txn.conn, room_id):
                raise NotFound("No such room")
            await self.rooms.require_joined(txn, room_id, user_id)
            if not await self.store.insert_alias(txn.conn, alias, room_id, user_id,
                                                 self.clock.time_ms()):
                raise _alias_taken()

    async def delete_alias(self, user_id: str, alias: str) -> None:
        alias = self.local_alias(alias)
        found = await self.store.alias(self.store.db, alias)
        if found is None:
            raise NotFound("Room alias not found")
        room_id, creator = found
        async with self.rooms.writes.transaction(room_id) as txn:
            if user_id != creator and await self._power(txn.conn, room_id, user_id) < ROOM_ADMIN:
                raise Forbidden("Only who made the alias or a room admin may delete it")
            await self.store.delete_alias(txn.conn, alias)

    async def aliases(self, user_id: str, room_id: str) -> list[str]:
        row = await self.events.membership(self.events.db, room_id, user_id)
        if row is None or row["membership"] != "join":
            raise Forbidden("You are not a member of this room")
        return await self.store.aliases_of(room_id)

    async def create_room(self, creator: str, spec: RoomSpec, alias: str | None,
                          public: bool) -> str:
        """createRoom with its alias (taken: 409, and no room is made) and visibility."""
        for user in spec.invite:
            await self.rooms.check_local_user(user)
        room_id = self.rooms.new_room_id()
        async with self.rooms.writes.transaction() as txn:
            if alias is not None:
                if not await self.store.insert_alias(txn.conn, alias, room_id, creator,
                                                     self.clock.time_ms()):
                    raise _alias_taken(400, "M_ROOM_IN_USE")
                spec.initial_state.append({"type": "m.room.canonical_alias",
                                           "content": {"alias": alias}, "state_key": ""})
            await self.rooms.create_in(txn, room_id, creator, spec)
            if public:
                await self.store.set_public(txn.conn, room_id, True, self.clock.time_ms())
        return room_id

    # the public directory ----------------------------------------------------
    async def visibility(self, room_id: str) -> str:
        if not await self.events.room_exists(self.events.db, room_id):
            raise NotFound("No such room")
        return "public" if await self.store.is_public(room_id) else "private"

    async def set_visibility(self, user_id: str, room_id: str, visibility: str) -> None:
        async with self.rooms.writes.transaction(room_id) as txn:
            if not await self.events.room_exists(txn.conn, room_id):
                raise NotFound("No such room")
            await self.rooms.require_joined(txn, room_id, user_id)
            if await self._power(txn.conn, room_id, user_id) < ROOM_ADMIN:
                raise Forbidden("Only a room admin may list or unlist the room")
            await self.store.set_public(txn.conn, room_id, visibility == "public",
                                        self.clock.time_ms())

    async def public_rooms(self, limit: int, since: str | None,
                           search: str | None) -> PublicRoomsPage:
        offset = _offset(since)
        listed = []
        for room_id in await self.store.public_rooms(MAX_LISTED_ROOMS):
            entry = await self._summary(room_id)
            if entry is not None and _matches(entry, search):
                listed.append(entry)
        listed.sort(key=lambda e: (-e["num_joined_members"], e["room_id"]))
        page = listed[offset:offset + limit]
        more = offset + limit < len(listed)
        return PublicRoomsPage(page, f"o{offset + limit}" if more else None,
                               f"o{max(0, offset - limit)}" if offset else None, len(listed))

    async def _summary(self, room_id: str) -> dict[str, Any] | None:
        """A listed room's entry, or None if its join rule is not public (any more)."""
        state = await self.events.state_events(self.events.db, room_id, _SUMMARY_STATE)

        def content(event_type: str) -> dict[str, Any]:
            event = state.get((event_type, ""))
            return event.pdu.get("content", {}) if event is not None else {}

        if content("m.room.join_rules").get("join_rule") != "public":
            return None
        entry: dict[str, Any] = {
            "room_id": room_id,
            "num_joined_members": len(await self.events.joined_users(self.events.db, room_id)),
            "world_readable":
                content("m.room.history_visibility").get("history_visibility")
                == "world_readable",
            "guest_can_join": content("m.room.guest_access").get("guest_access") == "can_join",
            "join_rule": "public",
        }
        for key, event_type in (("name", "m.room.name"), ("topic", "m.room.topic"),
                                ("canonical_alias", "m.room.canonical_alias"),
                                ("avatar_url", "m.room.avatar")):
            value = content(event_type).get("url" if key == "avatar_url" else
                                            "alias" if key == "canonical_alias" else key)
            if isinstance(value, str):
                entry[key] = value
        room_type = content("m.room.create").get("type")
        if isinstance(room_type, str):
            entry["room_type"] = room_type
        return entry

    async def _power(self, conn: Any, room_id: str, user_id: str) -> int:
        state = await self.events.state_events(
            conn, room_id, [("m.room.power_levels", ""), ("m.room.create", "")])
        return power_level_of(user_id, {key: event.pdu for key, event in state.items()})


def _alias_taken(status: int = 409, errcode: str = "M_UNKNOWN") -> MatrixError:
    """409 M_UNKNOWN for PUT /directory/room; createRoom answers 400 M_ROOM_IN_USE."""
    return MatrixError("Room alias already exists", status=status, errcode=errcode)


def _offset(since: str | None) -> int:
    if since is None:
        return 0
    if not re.fullmatch(r"o\d{1,9}", since):
        raise InvalidParam("Unknown pagination token")
    return int(since[1:])


def _matches(entry: dict[str, Any], search: str | None) -> bool:
    if not search:
        return True
    needle = search.casefold()
    return any(needle in str(entry.get(key, "")).casefold()
               for key in ("name", "topic", "canonical_alias"))
