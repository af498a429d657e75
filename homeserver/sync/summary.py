"""A room's ``summary`` in /sync: who to name it after, and how many are in it.

``m.heroes`` follows the spec's rule: the first five members other than the syncing
user, by the order their membership was written, among those joined or invited; if
there are none, among those who left or were banned (so a DM whose peer left is still
named after them). Clients name a room without m.room.name from these.
"""

from __future__ import annotations

from typing import Any

from homeserver.models import StoredEvent
from homeserver.storage.summaries import SummaryStore

MAX_HEROES = 5


class RoomSummaries:
    def __init__(self, store: SummaryStore) -> None:
        self.store = store

    async def summary(self, room_id: str, user_id: str) -> dict[str, Any]:
        counts = await self.store.member_counts(room_id)
        heroes = await self.store.first_members(room_id, ("join", "invite"), user_id,
                                                MAX_HEROES)
        if not heroes:
            heroes = await self.store.first_members(room_id, ("leave", "ban"), user_id,
                                                    MAX_HEROES)
        return {
            "m.heroes": heroes,
            "m.joined_member_count": counts.get("join", 0),
            "m.invited_member_count": counts.get("invite", 0),
        }


def members_changed(events: list[StoredEvent]) -> bool:
    """Whether a sync's events for a room may change its summary."""
    return any(e.type == "m.room.member" for e in events)
