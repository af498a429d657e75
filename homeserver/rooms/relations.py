"""Reading relations for a member: ``/relations`` (children of an event) and ``/threads``.

Both check membership the way ``/messages`` does (joined, else 403; a parent
not in the room is 404), and paginate by stream position with the same
token meanings: going backwards a token is the newest position still to show.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from homeserver.errors import NotFound
from homeserver.rooms.reading import RoomReader
from homeserver.storage.events import EventStore
from homeserver.storage.relations import RelationStore

# The spec lets a server bound recursion; Synapse follows three levels as well.
MAX_RECURSION_DEPTH = 3
TOP = 2**62


@dataclass(frozen=True)
class RelationsPage:
    chunk: list[dict[str, Any]]
    next_pos: int | None
    depth: int | None = None


@dataclass(frozen=True)
class RelationsRequest:
    parent_id: str
    rel_type: str | None = None
    event_type: str | None = None
    from_pos: int | None = None
    to_pos: int | None = None
    backwards: bool = True
    limit: int = 50
    recurse: bool = False


class RelationsReader:
    def __init__(self, relations: RelationStore, events: EventStore, reader: RoomReader) -> None:
        self.relations = relations
        self.events = events
        self.reader = reader

    async def children(self, user_id: str, room_id: str,
                       request: RelationsRequest) -> RelationsPage:
        await self.reader.require_joined(room_id, user_id)
        parent = await self.events.event(self.relations.db, request.parent_id)
        if parent is None or parent.room_id != room_id:
            raise NotFound("Event not found")
        if request.backwards:
            upper = TOP if request.from_pos is None else request.from_pos
            lower = request.to_pos or 0
        else:
            lower = request.from_pos or 0
            upper = TOP if request.to_pos is None else request.to_pos
        depth = MAX_RECURSION_DEPTH if request.recurse else 1
        found = await self.relations.children(
            self.relations.db, room_id, request.parent_id, depth=depth,
            rel_type=request.rel_type, event_type=request.event_type, lower=lower,
            upper=upper, newest_first=request.backwards, limit=request.limit + 1)
        more = len(found) > request.limit
        found = found[:request.limit]
        next_pos = None
        if more and found:
            last = found[-1][0].stream_ordering
            next_pos = last - 1 if request.backwards else last
        chunk = await self.reader.format([e for e, _ in found], user_id=user_id)
        reached = max((d for _, d in found), default=0)
        return RelationsPage(chunk, next_pos, reached if request.recurse else None)

    async def threads(self, user_id: str, room_id: str, participated_only: bool,
                      from_pos: int | None, limit: int) -> RelationsPage:
        """Thread roots, most recently active first, each with its m.thread bundle."""
        await self.reader.require_joined(room_id, user_id)
        roots = await self.relations.thread_roots(
            self.relations.db, room_id, user_id if participated_only else None,
            TOP if from_pos is None else from_pos, limit + 1)
        more = len(roots) > limit
        roots = roots[:limit]
        events = await self.events.events_by_id(root for root, _ in roots)
        ordered = [events[root] for root, _ in roots if root in events]
        chunk = await self.reader.format(ordered, user_id=user_id)
        return RelationsPage(chunk, roots[-1][1] - 1 if more and roots else None)
