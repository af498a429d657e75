"""Event filters (the spec's Filter and RoomEventFilter) as schemas with a matcher."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any

from homeserver import strict_json
from homeserver.errors import BadJson, InvalidParam, NotJson
from homeserver.schema import SchemaError, optional, parse

DEFAULT_TIMELINE_LIMIT = 10
MAX_TIMELINE_LIMIT = 1000


def _matches_any(value: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(value, p) if "*" in p else value == p for p in patterns)


@dataclass
class RoomEventFilter:
    limit: int | None = optional(None, min=0, max=MAX_TIMELINE_LIMIT)
    types: list[str] | None = None
    not_types: list[str] = field(default_factory=list)
    senders: list[str] | None = None
    not_senders: list[str] = field(default_factory=list)
    rooms: list[str] | None = None
    not_rooms: list[str] = field(default_factory=list)
    contains_url: bool | None = None
    lazy_load_members: bool = False
    include_redundant_members: bool = False

    def matches(self, pdu: dict[str, Any]) -> bool:
        event_type, sender = pdu.get("type", ""), pdu.get("sender", "")
        if self.types is not None and not _matches_any(event_type, self.types):
            return False
        if _matches_any(event_type, self.not_types):
            return False
        if self.senders is not None and sender not in self.senders:
            return False
        if sender in self.not_senders:
            return False
        if self.contains_url is not None:
            has_url = isinstance(pdu.get("content", {}).get("url"), str)
            return has_url == self.contains_url
        return True

    def allows_room(self, room_id: str) -> bool:
        in_rooms = self.rooms is None or room_id in self.rooms
        return in_rooms and room_id not in self.not_rooms


@dataclass
class RoomFilter:
    rooms: list[str] | None = None
    not_rooms: list[str] = field(default_factory=list)
    include_leave: bool = False
    timeline: RoomEventFilter = field(default_factory=RoomEventFilter)
    state: RoomEventFilter = field(default_factory=RoomEventFilter)
    ephemeral: RoomEventFilter = field(default_factory=RoomEventFilter)
    account_data: RoomEventFilter = field(default_factory=RoomEventFilter)

    def allows_room(self, room_id: str) -> bool:
        return (self.rooms is None or room_id in self.rooms) and room_id not in self.not_rooms


@dataclass
class SyncFilter:
    event_fields: list[str] | None = None
    event_format: str = optional("client", choices={"client", "federation"})
    presence: RoomEventFilter = field(default_factory=RoomEventFilter)
    account_data: RoomEventFilter = field(default_factory=RoomEventFilter)
    room: RoomFilter = field(default_factory=RoomFilter)

    @property
    def timeline_limit(self) -> int:
        limit = self.room.timeline.limit
        return DEFAULT_TIMELINE_LIMIT if limit is None else limit


def parse_filter(data: Any) -> SyncFilter:
    try:
        return parse(SyncFilter, data)
    except SchemaError as exc:
        raise BadJson(f"Invalid filter: {exc}") from None


def parse_room_event_filter(raw: str | None) -> RoomEventFilter:
    """The ``filter`` query parameter of /messages: inline JSON."""
    if not raw:
        return RoomEventFilter()
    try:
        return parse(RoomEventFilter, strict_json.loads(raw))
    except (NotJson, BadJson, SchemaError) as exc:
        raise InvalidParam(f"Invalid filter: {exc}") from None
