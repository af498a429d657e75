"""Bundled aggregations: what ``unsigned["m.relations"]`` says about an event's children.

Per the spec (v1.7+): ``m.replace`` is the latest valid edit as a whole event
(the client applies its ``m.new_content``), ``m.thread`` is the thread's size,
latest reply and whether the viewer took part. Annotations are not bundled;
``/relations`` lists them. One query answers a whole page of events.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from homeserver.events.relations import REPLACE, THREAD
from homeserver.models import StoredEvent
from homeserver.storage.relations import RelationStore


@dataclass(frozen=True)
class Bundle:
    """One event's aggregations, before formatting."""

    edit: StoredEvent | None = None
    thread_latest: StoredEvent | None = None
    thread_count: int = 0
    participated: bool = False


class Aggregations:
    def __init__(self, relations: RelationStore) -> None:
        self.relations = relations

    async def of(self, events: Sequence[StoredEvent], viewer: str) -> dict[str, Bundle]:
        """Bundles of the events that can have them (not state), by event ID."""
        candidates = {e.event_id: e for e in events if e.state_key is None}
        if not candidates:
            return {}
        rows = await self.relations.bundles(self.relations.db, candidates, viewer)
        bundles: dict[str, Bundle] = {}
        for parent_id, rel_type, child, count, mine in rows:
            found = bundles.get(parent_id, Bundle())
            if rel_type == REPLACE:
                found = Bundle(child, found.thread_latest, found.thread_count, found.participated)
            elif rel_type == THREAD:
                root_mine = candidates[parent_id].sender == viewer
                found = Bundle(found.edit, child, count, mine or root_mine)
            bundles[parent_id] = found
        return bundles
