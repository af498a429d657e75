"""Notification and highlight counts for /sync, counted in full once, then only what is new.

A count is the number of events the user's push rules said notify them (and
of those, highlight them) after the user's read receipt: the rows
``homeserver/push/recording.py`` writes with each event. Counting afresh on every
sync reads every unread row each time, so a user who lets a busy room pile up
pays for the whole pile on each new message. Instead the last answer is kept per
(room, user) with the receipt position and the stream position it was counted
up to; the next sync counts only rows after that position and adds them, as long
as the receipt has not moved. This is exact because rows are written in their
event's transaction: at or below a sync's position they never change.
"""

from __future__ import annotations

from dataclasses import dataclass

from homeserver.lru import LruDict
from homeserver.storage.database import Database
from homeserver.storage.notifications import NotificationStore

# About 150 bytes an entry: a few hundred KiB at most.
MAX_KEPT = 2048


@dataclass(frozen=True)
class _Counted:
    read_upto: int
    counted_upto: int
    notify: int
    highlight: int


class UnreadCounts:
    def __init__(self, store: NotificationStore, db: Database, max_kept: int = MAX_KEPT) -> None:
        self.store = store
        self.db = db
        self._kept: LruDict[tuple[str, str], _Counted] = LruDict(max_kept)

    async def count(self, room_id: str, user_id: str, upto: int) -> tuple[int, int]:
        """(notifications, highlights) after the user's read receipt, up to ``upto``."""
        key = (room_id, user_id)
        kept = self._kept.get(key)
        after = kept.counted_upto if kept is not None and kept.counted_upto <= upto else 0
        read_upto, notify, highlight = await self.store.counts_between(
            self.db, room_id, user_id, after, upto)
        if read_upto >= after:
            pass  # everything after the receipt was just counted
        elif kept is not None and read_upto == kept.read_upto:
            notify, highlight = kept.notify + notify, kept.highlight + highlight
        else:  # the receipt moved to a place inside what was counted: count again
            read_upto, notify, highlight = await self.store.counts_between(
                self.db, room_id, user_id, 0, upto)
        self._kept.put(key, _Counted(read_upto, upto, notify, highlight))
        return notify, highlight
