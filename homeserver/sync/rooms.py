"""One room's part of a /sync answer: joined (timeline, state, receipts, typing,
counts, summary), invited (stripped state only) or left (the timeline up to the leave).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from homeserver.events.format import stripped_state
from homeserver.models import StoredEvent
from homeserver.rooms.reading import RoomReader
from homeserver.storage.events import EventStore
from homeserver.storage.receipts import ReceiptStore
from homeserver.sync.answers import SyncRequest, SyncResult
from homeserver.sync.summary import RoomSummaries, members_changed
from homeserver.sync.tokens import make_token
from homeserver.sync.unread import UnreadCounts

INVITE_STATE_TYPES = [
    "m.room.create", "m.room.join_rules", "m.room.name", "m.room.avatar",
    "m.room.canonical_alias", "m.room.encryption", "m.room.topic",
]


class RoomSections:
    def __init__(self, events: EventStore, receipts: ReceiptStore, reader: RoomReader,
                 unread: UnreadCounts, summaries: RoomSummaries) -> None:
        self.events = events
        self.receipts = receipts
        self.reader = reader
        self.unread = unread
        self.summaries = summaries

    async def add(self, request: SyncRequest, result: SyncResult, row: Any,
                  account_data: list[dict[str, Any]], typing: list[str] | None) -> None:
        """Put one room of the user's in the section its membership calls for, if it changed."""
        room_id, membership, changed_at = row["room_id"], row["membership"], \
            row["stream_ordering"]
        since = request.since
        membership_is_new = since is None or changed_at > since
        if membership == "join":
            room_since = None if membership_is_new or request.full_state else since
            room = await self._joined_room(request, room_id, room_since, result.position,
                                           account_data, typing)
            if room is not None:
                result.rooms["join"][room_id] = room
        elif membership == "invite":
            if membership_is_new:
                result.rooms["invite"][room_id] = await self._invited_room(room_id, row)
        elif (since is not None and changed_at > since) or (
            since is None and request.sync_filter.room.include_leave
        ):
            result.rooms["leave"][room_id] = await self._left_room(
                request, room_id, since, changed_at
            )

    async def _joined_room(self, request: SyncRequest, room_id: str, since: int | None,
                           upto: int, account_data: list[dict[str, Any]],
                           typing: list[str] | None) -> dict[str, Any] | None:
        limit = request.sync_filter.timeline_limit
        timeline, limited = await self._timeline(room_id, since, upto, limit, request)
        receipts = await self.receipts.changed_in_rooms([room_id], since or 0, upto)
        if since is not None and not (timeline or receipts or account_data or typing is not None):
            return None
        ephemeral = _receipt_events(receipts, request.user_id)
        if typing is not None:
            ephemeral.append({"type": "m.typing", "content": {"user_ids": typing}})
        state = await self._state(room_id, since, timeline, limited, request)
        notify, highlight = await self.unread.count(room_id, request.user_id, upto)
        room: dict[str, Any] = {
            "timeline": await self._timeline_section(request, timeline, limited, upto),
            "state": {"events": await self.reader.format(state, with_room_id=False)},
            "ephemeral": {"events": ephemeral},
            "account_data": {"events": account_data},
            "unread_notifications": {"notification_count": notify,
                                     "highlight_count": highlight},
        }
        if since is None or members_changed(timeline) or members_changed(state):
            room["summary"] = await self.summaries.summary(room_id, request.user_id)
        return room

    async def _timeline(self, room_id: str, since: int | None, upto: int, limit: int,
                        request: SyncRequest) -> tuple[list[StoredEvent], bool]:
        timeline_filter = request.sync_filter.room.timeline
        newest = await self.events.room_events(
            room_id, after=since or 0, upto=upto, limit=limit + 1, newest_first=True
        )
        limited = len(newest) > limit
        kept = [e for e in reversed(newest[:limit]) if timeline_filter.matches(e.pdu)]
        return kept, limited

    async def _timeline_section(self, request: SyncRequest, timeline: list[StoredEvent],
                                limited: bool, position: int) -> dict[str, Any]:
        first = timeline[0].stream_ordering - 1 if timeline else position
        return {
            "events": await self.reader.format(
                timeline, with_room_id=False, viewer=(request.user_id, request.device_id)
            ),
            "limited": limited,
            "prev_batch": make_token(first),
        }

    async def _state(self, room_id: str, since: int | None, timeline: list[StoredEvent],
                     limited: bool, request: SyncRequest) -> list[StoredEvent]:
        in_timeline = {e.event_id for e in timeline}
        state_filter = request.sync_filter.room.state
        if since is None:
            state = await self.events.current_state(room_id)
        elif limited and timeline:
            state = await self.events.state_events_between(
                room_id, since, timeline[0].stream_ordering - 1
            )
        else:
            state = []
        return [e for e in state if e.event_id not in in_timeline and state_filter.matches(e.pdu)]

    async def _invited_room(self, room_id: str, row: Any) -> dict[str, Any]:
        """Stripped state only, as the spec gives an invitee: no summary, whose member
        counts and heroes would tell someone not yet in the room who is."""
        invite = await self.events.event(self.events.db, row["event_id"])
        keys = [(t, "") for t in INVITE_STATE_TYPES]
        if invite is not None:  # the inviter's own member event: their name and avatar
            keys.append(("m.room.member", invite.sender))
        state = await self.events.state_events(self.events.db, room_id, keys)
        stripped = [stripped_state(e) for e in state.values()]
        if invite is not None:
            stripped.append(stripped_state(invite))
        return {"invite_state": {"events": stripped}}

    async def _left_room(self, request: SyncRequest, room_id: str, since: int | None,
                         left_at: int) -> dict[str, Any]:
        limit = request.sync_filter.timeline_limit
        timeline, limited = await self._timeline(room_id, since, left_at, limit, request)
        return {
            "timeline": await self._timeline_section(request, timeline, limited, left_at),
            "state": {"events": []},
            "account_data": {"events": []},
        }


def _receipt_events(rows: list[Any], viewer: str) -> list[dict[str, Any]]:
    """One m.receipt event; private receipts only for their owner."""
    content: dict[str, dict[str, dict[str, Any]]] = defaultdict(lambda: defaultdict(dict))
    for row in rows:
        if row["receipt_type"] == "m.read.private" and row["user_id"] != viewer:
            continue
        content[row["event_id"]][row["receipt_type"]][row["user_id"]] = {"ts": row["ts"]}
    return [{"type": "m.receipt", "content": content}] if content else []
