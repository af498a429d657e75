"""Server-side search (``POST /search``, the ``room_events`` category) for a user.

The search term becomes plain words (letters and digits, at most
``MAX_WORDS``, each cut at ``MAX_WORD_LENGTH``), each matched as a prefix,
all required; ``storage/search.py`` turns them into its dialect's query. Only
rooms the user is joined to now are searched (the store joins on
memberships), and only what ``/messages`` would show them there; encrypted
messages carry no body and are never indexed. Pages are by rank (``r`` +
offset) or newest first (``s`` + the position to go below).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from homeserver.errors import InvalidParam
from homeserver.events.relations import SEARCH_FIELDS
from homeserver.models import StoredEvent
from homeserver.rooms.reading import RoomReader
from homeserver.storage.events import EventStore
from homeserver.storage.search import SearchQuery, SearchStore
from homeserver.sync.filters import RoomEventFilter, TypePatterns
from homeserver.sync.tokens import make_token

MAX_WORDS = 16
MAX_WORD_LENGTH = 64
DEFAULT_LIMIT = 10
MAX_LIMIT = 100
# Pages by rank are counted from the top: deep pages cost more; nobody reads 100 pages.
MAX_OFFSET = 10_000
KEY_TYPES = {key: event_type for event_type, (key, _) in SEARCH_FIELDS.items()}
_WORD = re.compile(r"[^\W_]+")
_BATCH = re.compile(r"([rs])([0-9]{1,16})")


@dataclass(frozen=True)
class EventContext:
    before_limit: int = 5
    after_limit: int = 5
    include_profile: bool = False


@dataclass(frozen=True)
class SearchCriteria:
    search_term: str
    keys: list[str]
    event_filter: RoomEventFilter
    by_rank: bool = True
    context: EventContext | None = None
    include_state: bool = False


def words_of(term: str) -> list[str]:
    return [w[:MAX_WORD_LENGTH] for w in _WORD.findall(term.lower())][:MAX_WORDS]


def _keys(criteria: SearchCriteria) -> list[str]:
    """The searched keys whose event types the filter lets through."""
    wanted = criteria.event_filter
    types = None if wanted.types is None else TypePatterns(wanted.types)
    not_types = TypePatterns(wanted.not_types)
    return [key for key in dict.fromkeys(criteria.keys)
            if (types is None or types.matches(KEY_TYPES[key]))
            and not not_types.matches(KEY_TYPES[key])]


class SearchService:
    def __init__(self, search: SearchStore, events: EventStore, reader: RoomReader) -> None:
        self.search = search
        self.events = events
        self.reader = reader

    async def room_events(self, user_id: str, criteria: SearchCriteria,
                          next_batch: str | None) -> dict[str, Any]:
        """The ``room_events`` category of a /search answer."""
        offset, before = self._batch(next_batch, criteria.by_rank)
        words = words_of(criteria.search_term)
        wanted = criteria.event_filter
        query = SearchQuery(words, user_id, _keys(criteria), wanted.rooms, wanted.not_rooms,
                            wanted.senders, wanted.not_senders)
        if not words or not query.keys:
            return {"results": [], "count": 0, "highlights": []}
        limit = min(wanted.limit or DEFAULT_LIMIT, MAX_LIMIT)
        hits = await self.search.search(self.search.db, query, by_rank=criteria.by_rank,
                                         offset=offset, before=before, limit=limit + 1)
        more, hits = len(hits) > limit, hits[:limit]
        events = await self.reader.format([h.event for h in hits], user_id=user_id)
        results = [{"rank": hit.rank, "result": event} for hit, event in zip(hits, events,
                                                                              strict=True)]
        if criteria.context is not None:
            for hit, result in zip(hits, results, strict=True):
                result["context"] = await self._context(user_id, hit.event, criteria.context)
        answer: dict[str, Any] = {"results": results,
                                  "count": await self.search.count(self.search.db, query),
                                  "highlights": words}
        if more and hits:
            answer["next_batch"] = (f"r{offset + limit}" if criteria.by_rank
                                    else f"s{hits[-1].event.stream_ordering}")
        if criteria.include_state:
            rooms = dict.fromkeys(h.event.room_id for h in hits)
            answer["state"] = {room: await self.reader.format(
                await self.events.current_state(room)) for room in rooms}
        return answer

    @staticmethod
    def _batch(next_batch: str | None, by_rank: bool) -> tuple[int, int | None]:
        """(offset, position to stay below) a ``next_batch`` token stands for."""
        if next_batch is None:
            return 0, None
        match = _BATCH.fullmatch(next_batch)
        if match is None or (match[1] == "r") != by_rank:
            raise InvalidParam("Invalid next_batch token")
        value = int(match[2])
        if by_rank:
            if value > MAX_OFFSET:
                raise InvalidParam("Search results this deep are not served")
            return value, None
        return 0, value

    async def _context(self, user_id: str, event: StoredEvent,
                       wanted: EventContext) -> dict[str, Any]:
        before, after, start, end = await self.reader.around(
            user_id, event, wanted.before_limit, wanted.after_limit, RoomEventFilter())
        context: dict[str, Any] = {"events_before": before, "events_after": after,
                                   "start": make_token(start), "end": make_token(end)}
        if wanted.include_profile:
            context["profile_info"] = await self._profiles(event.room_id, [
                e["sender"] for e in [*before, *after]] + [event.sender])
        return context

    async def _profiles(self, room_id: str, users: list[str]) -> dict[str, Any]:
        keys = [("m.room.member", user) for user in dict.fromkeys(users)]
        found = await self.events.state_events(self.events.db, room_id, keys)
        return {key[1]: {k: event.pdu["content"].get(k) for k in ("displayname", "avatar_url")}
                for key, event in found.items()}
