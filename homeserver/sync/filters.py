"""Event filters (the spec's Filter and RoomEventFilter) as schemas with a matcher.

A filter is the client's to write and the server's to apply to every event a
/sync or /messages looks at, so its cost must not be the client's to choose.
Every list is bounded (``MAX_LIST_ENTRIES``, ``MAX_WILDCARDS``,
``MAX_ENTRY_LENGTH``) and so is the whole filter (``MAX_FILTER_BYTES``); past
a bound it is 400 ``M_BAD_JSON``, when stored and again when used. Lists are
compiled once per filter: names into a set, ``*`` patterns into one regex
whose every branch runs in linear time, so an event costs one set lookup and
one match per list, however the client wrote it.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from typing import Any

from homeserver import strict_json
from homeserver.errors import BadJson, InvalidParam, NotJson
from homeserver.schema import SchemaError, optional, parse

DEFAULT_TIMELINE_LIMIT = 10
MAX_TIMELINE_LIMIT = 1000
# Clients send a few hundred bytes; 64 KiB still names about 1000 rooms.
MAX_FILTER_BYTES = 64 * 1024
# More entries than a user has rooms or correspondents is never a real filter.
MAX_LIST_ENTRIES = 1000
# Wildcards are for families of types ("m.room.*"). Compiling them is the costly
# step (about 0.5 ms per 255-character pattern); ten per list keeps a /sync's
# lists under 20 ms together even when each request brings new ones.
MAX_WILDCARDS = 10
# The spec bounds user IDs, room IDs and event types at 255 bytes.
MAX_ENTRY_LENGTH = 255


_LIST = {"max_len": MAX_LIST_ENTRIES, "item_max_len": MAX_ENTRY_LENGTH}


class TypePatterns:
    """Event types with ``*`` wildcards (the spec's only one): a set and one regex."""

    def __init__(self, entries: list[str]) -> None:
        self.exact = frozenset(e for e in entries if "*" not in e)
        self.regex = _compile(tuple(sorted({e for e in entries if "*" in e})))

    def matches(self, value: str) -> bool:
        return value in self.exact or (self.regex is not None
                                       and self.regex.fullmatch(value) is not None)


@functools.lru_cache(maxsize=256)
def _compile(globs: tuple[str, ...]) -> re.Pattern[str] | None:
    # A stored filter is parsed on every /sync: the cache spares its compilation.
    if not globs:
        return None
    return re.compile("|".join(_glob_regex(g) for g in globs), re.DOTALL)


def _glob_regex(glob: str) -> str:
    """``a*b*c`` as a regex that never backtracks into an earlier part.

    Matching each middle part at its first occurrence is always right for
    globs, and the atomic group makes the regex engine commit to it.
    """
    first, *middle, last = [re.escape(part) for part in glob.split("*")]
    return first + "".join(f"(?>.*?{part})" for part in middle) + f".*{last}"


def _check_wildcards(name: str, entries: list[str] | None) -> None:
    if entries is not None and sum("*" in e for e in entries) > MAX_WILDCARDS:
        raise SchemaError(name, f"must hold at most {MAX_WILDCARDS} wildcard patterns")


class _RoomChoice:
    """``rooms`` and ``not_rooms`` as sets, asked once for each of the user's rooms."""

    rooms: list[str] | None
    not_rooms: list[str]

    @functools.cached_property
    def _room_sets(self) -> tuple[frozenset[str] | None, frozenset[str]]:
        return (None if self.rooms is None else frozenset(self.rooms), frozenset(self.not_rooms))

    def allows_room(self, room_id: str) -> bool:
        rooms, not_rooms = self._room_sets
        return (rooms is None or room_id in rooms) and room_id not in not_rooms


@dataclass
class RoomEventFilter(_RoomChoice):
    limit: int | None = optional(None, min=0, max=MAX_TIMELINE_LIMIT)
    types: list[str] | None = field(default=None, metadata=_LIST)
    not_types: list[str] = field(default_factory=list, metadata=_LIST)
    senders: list[str] | None = field(default=None, metadata=_LIST)
    not_senders: list[str] = field(default_factory=list, metadata=_LIST)
    rooms: list[str] | None = field(default=None, metadata=_LIST)
    not_rooms: list[str] = field(default_factory=list, metadata=_LIST)
    contains_url: bool | None = None
    lazy_load_members: bool = False
    include_redundant_members: bool = False

    def __post_init__(self) -> None:
        _check_wildcards("types", self.types)
        _check_wildcards("not_types", self.not_types)

    @functools.cached_property
    def _compiled(self) -> tuple[TypePatterns | None, TypePatterns, frozenset[str] | None,
                                 frozenset[str]]:
        return (None if self.types is None else TypePatterns(self.types),
                TypePatterns(self.not_types),
                None if self.senders is None else frozenset(self.senders),
                frozenset(self.not_senders))

    def matches(self, pdu: dict[str, Any]) -> bool:
        event_type, sender = pdu.get("type", ""), pdu.get("sender", "")
        types, not_types, senders, not_senders = self._compiled
        if types is not None and not types.matches(event_type):
            return False
        if not_types.matches(event_type):
            return False
        if senders is not None and sender not in senders:
            return False
        if sender in not_senders:
            return False
        if self.contains_url is not None:
            has_url = isinstance(pdu.get("content", {}).get("url"), str)
            return has_url == self.contains_url
        return True



@dataclass
class RoomFilter(_RoomChoice):
    rooms: list[str] | None = field(default=None, metadata=_LIST)
    not_rooms: list[str] = field(default_factory=list, metadata=_LIST)
    include_leave: bool = False
    timeline: RoomEventFilter = field(default_factory=RoomEventFilter)
    state: RoomEventFilter = field(default_factory=RoomEventFilter)
    ephemeral: RoomEventFilter = field(default_factory=RoomEventFilter)
    account_data: RoomEventFilter = field(default_factory=RoomEventFilter)



@dataclass
class SyncFilter:
    event_fields: list[str] | None = field(default=None, metadata=_LIST)
    event_format: str = optional("client", choices={"client", "federation"})
    presence: RoomEventFilter = field(default_factory=RoomEventFilter)
    account_data: RoomEventFilter = field(default_factory=RoomEventFilter)
    room: RoomFilter = field(default_factory=RoomFilter)

    @property
    def timeline_limit(self) -> int:
        limit = self.room.timeline.limit
        return DEFAULT_TIMELINE_LIMIT if limit is None else limit


# The filter of a request that names none. Filters are only read, so every such
# request shares this one: each waiting long-poll or socket would otherwise keep
# its own tree of eleven objects (about 2 KiB).
NO_FILTER = SyncFilter()


def parse_filter(data: Any) -> SyncFilter:
    """A filter from a client's JSON (stored or inline); 400 ``M_BAD_JSON`` past a bound."""
    try:
        size = len(json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode())
    except (ValueError, RecursionError):
        raise BadJson("Invalid filter: cannot be encoded as JSON") from None
    if size > MAX_FILTER_BYTES:
        raise BadJson(f"Invalid filter: must be at most {MAX_FILTER_BYTES} bytes of JSON")
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
