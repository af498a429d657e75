"""What the server derives from an event as it is stored: its relation and its search text.

Both are written in the event's own transaction, for our events and other
servers' alike (``persisting.py`` calls ``record``), and both go when the
event is redacted (``forget``), so a redacted edit no longer replaces, a
redacted reaction no longer counts and redacted words are no longer found.
"""

from __future__ import annotations

from typing import Any

from homeserver.errors import MatrixError
from homeserver.events.relations import ANNOTATION, relation_of, searchable_text
from homeserver.models import StoredEvent
from homeserver.storage.database import Connection
from homeserver.storage.relations import RelationStore
from homeserver.storage.search import SearchStore


class DuplicateAnnotation(MatrixError):
    status, errcode = 400, "M_DUPLICATE_ANNOTATION"


class EventIndexer:
    def __init__(self, relations: RelationStore, search: SearchStore) -> None:
        self.relations = relations
        self.search = search

    async def check_new(self, conn: Connection, event_id: str, pdu: dict[str, Any]) -> None:
        """Refuse our user's second identical annotation before anything is written."""
        relation = relation_of(pdu, event_id)
        if relation is None or relation.rel_type != ANNOTATION or relation.key is None:
            return
        if await self.relations.has_annotation(conn, relation.parent_id, pdu["sender"],
                                               relation.key):
            raise DuplicateAnnotation("You have already annotated this event with that key")

    async def record(self, conn: Connection, event: StoredEvent) -> None:
        relation = relation_of(event.pdu, event.event_id)
        if relation is not None:
            # Another server's duplicate annotation is stored as an event but counted once.
            await self.relations.record(conn, event.event_id, event.room_id, event.sender,
                                        relation.rel_type, relation.parent_id, relation.key)
        text = searchable_text(event.pdu)
        if text is not None:
            await self.search.index(conn, event.event_id, event.room_id, text[0],
                                    event.stream_ordering, text[1])

    async def forget(self, conn: Connection, event_id: str) -> None:
        await self.relations.forget(conn, event_id)
        await self.search.forget(conn, event_id)
