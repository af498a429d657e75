"""Unread message counts for /sync, counted in full once and then only what is new.

A count is the number of messages from others after the user's read receipt.
Counting it afresh on every sync reads every unread message each time, so a
user who lets a busy room pile up pays for the whole pile on each new message.
Instead the last answer is kept per (room, user) with the receipt position and
the stream position it was counted up to; the next sync counts only messages
after that position and adds them, as long as the receipt has not moved. This
is exact because events at or below a sync's position are committed and never
change their room, sender or type.
"""

from __future__ import annotations

from dataclasses import dataclass

from homeserver.lru import LruDict
from homeserver.storage.receipts import ReceiptStore

# About 150 bytes an entry: a few hundred KiB at most.
MAX_KEPT = 2048


@dataclass(frozen=True)
class _Counted:
    read_upto: int
    counted_upto: int
    count: int


class UnreadCounts:
    def __init__(self, receipts: ReceiptStore, max_kept: int = MAX_KEPT) -> None:
        self.receipts = receipts
        self._kept: LruDict[tuple[str, str], _Counted] = LruDict(max_kept)

    async def count(self, room_id: str, user_id: str, upto: int) -> int:
        """Messages from others after the user's read receipt, up to position ``upto``."""
        key = (room_id, user_id)
        kept = self._kept.get(key)
        after = kept.counted_upto if kept is not None and kept.counted_upto <= upto else 0
        read_upto, new = await self.receipts.unread_between(room_id, user_id, after, upto)
        if read_upto >= after:
            count = new  # everything after the receipt was just counted
        elif kept is not None and read_upto == kept.read_upto:
            count = kept.count + new
        else:  # the receipt moved to a place inside what was counted: count again
            read_upto, count = await self.receipts.unread_between(room_id, user_id, 0, upto)
        self._kept.put(key, _Counted(read_upto, upto, count))
        return count
