"""What push rules recorded, read back: GET /notifications and a room's counts."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from homeserver.models import StoredEvent
from homeserver.rooms.reading import RoomReader
from homeserver.storage.database import Database
from homeserver.storage.notifications import NotificationStore

# Beyond every stream position: counts with no upper bound.
NO_LIMIT = 2**62


@dataclass(frozen=True)
class Counts:
    notification_count: int
    highlight_count: int


class NotificationService:
    def __init__(self, store: NotificationStore, db: Database, reader: RoomReader) -> None:
        self.store = store
        self.db = db
        self.reader = reader

    async def room_counts(self, room_id: str, user_id: str) -> Counts:
        """Notifications and highlights after the user's read receipt in the room."""
        _, notify, highlight = await self.store.counts_between(self.db, room_id, user_id, 0,
                                                               NO_LIMIT)
        return Counts(notify, highlight)

    async def listing(self, user_id: str, before: int | None, limit: int,
                      only_highlight: bool) -> dict[str, Any]:
        """The spec's /notifications answer, newest first, from ``before`` (a next_token)."""
        rows = await self.store.listing(self.db, user_id, before, limit, only_highlight)
        events = [StoredEvent(r["stream_ordering"], r["event_id"], json.loads(r["pdu"]),
                              r["redacted_by"]) for r in rows]
        formatted = await self.reader.format(events, with_room_id=True)
        notifications = [
            {"actions": json.loads(row["actions"]), "event": event, "profile_tag": None,
             "read": bool(row["is_read"]), "room_id": row["room_id"], "ts": row["ts"]}
            for row, event in zip(rows, formatted, strict=True)]
        answer: dict[str, Any] = {"notifications": notifications}
        if len(rows) == limit:
            answer["next_token"] = str(rows[-1]["stream_ordering"])
        return answer
