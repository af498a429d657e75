"""Reading rooms for a member: state, members, single events, paginated history, context.

Every read first checks that the requester is joined; a room that does not
exist answers exactly like one the requester is not in.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from homeserver.clock import Clock
from homeserver.errors import Forbidden, NotFound
from homeserver.events.format import client_event
from homeserver.models import StoredEvent
from homeserver.positions import StreamPositions
from homeserver.rooms.aggregations import Aggregations, Bundle
from homeserver.rooms.service import NOT_MEMBER
from homeserver.storage.events import EventStore
from homeserver.sync.filters import RoomEventFilter

MAX_SCAN_BATCHES = 20


@dataclass(frozen=True)
class Page:
    chunk: list[dict[str, Any]]
    start: int
    end: int | None


@dataclass(frozen=True)
class Context:
    event: dict[str, Any]
    before: list[dict[str, Any]]
    after: list[dict[str, Any]]
    start: int
    end: int
    state: list[dict[str, Any]]


class RoomReader:
    def __init__(self, events: EventStore, positions: StreamPositions, clock: Clock,
                 aggregations: Aggregations) -> None:
        self.events = events
        self.aggregations = aggregations
        self.positions = positions
        self.clock = clock

    async def require_joined(self, room_id: str, user_id: str) -> None:
        row = await self.events.membership(self.events.db, room_id, user_id)
        if row is None or row["membership"] != "join":
            raise Forbidden(NOT_MEMBER)

    async def format(self, events: Iterable[StoredEvent], with_room_id: bool = True,
                     viewer: tuple[str, str] | None = None, user_id: str | None = None,
                     bundle: bool = True) -> list[dict[str, Any]]:
        """Client events, each redacted one with the redaction that did it, and each
        with its bundled aggregations (edits, threads) in ``unsigned["m.relations"]``.

        With ``viewer`` (user, device), events that device sent carry their
        ``unsigned.transaction_id``, which clients use to match their local echo.
        ``user_id`` (or the viewer's) is whose thread participation is told.
        """
        events = list(events)
        user = viewer[0] if viewer is not None else user_id or ""
        bundles = await self.aggregations.of(events, user) if bundle else {}
        redactions = await self.events.events_by_id(e.redacted_by for e in events if e.redacted_by)
        txn_ids: dict[str, str] = {}
        if viewer is not None:
            own = [e.event_id for e in events if e.sender == viewer[0]]
            txn_ids = await self.events.txn_ids_of(viewer[0], viewer[1], own)
        now = self.clock.time_ms()
        formatted = []
        for event in events:
            out = client_event(event, now, redactions.get(event.redacted_by or ""), with_room_id)
            if event.event_id in txn_ids:
                out["unsigned"]["transaction_id"] = txn_ids[event.event_id]
            formatted.append(out)
        if bundles:
            await self._add_bundles(events, formatted, bundles, with_room_id, user)
        return formatted

    async def _add_bundles(self, events: list[StoredEvent], formatted: list[dict[str, Any]],
                           bundles: dict[str, Bundle], with_room_id: bool, user: str) -> None:
        # A thread's latest reply shows its own edit: one more query for the page, no deeper.
        latest = [b.thread_latest for b in bundles.values() if b.thread_latest is not None]
        shown = {e["event_id"]: e for e in await self._format_children(latest, with_room_id,
                                                                        user)}
        now = self.clock.time_ms()
        for event, out in zip(events, formatted, strict=True):
            found = bundles.get(event.event_id)
            if found is None:
                continue
            relations: dict[str, Any] = {}
            if found.edit is not None and event.redacted_by is None:
                relations["m.replace"] = client_event(found.edit, now, None, with_room_id)
            if found.thread_latest is not None:
                relations["m.thread"] = {
                    "latest_event": shown[found.thread_latest.event_id],
                    "count": found.thread_count,
                    "current_user_participated": found.participated,
                }
            if relations:
                out["unsigned"]["m.relations"] = relations

    async def _format_children(self, events: list[StoredEvent], with_room_id: bool,
                               user: str) -> list[dict[str, Any]]:
        if not events:
            return []
        bundles = await self.aggregations.of(events, user)
        formatted = await self.format(events, with_room_id, user_id=user, bundle=False)
        now = self.clock.time_ms()
        for event, out in zip(events, formatted, strict=True):
            edit = bundles.get(event.event_id, Bundle()).edit
            if edit is not None and event.redacted_by is None:
                out["unsigned"]["m.relations"] = {
                    "m.replace": client_event(edit, now, None, with_room_id)}
        return formatted

    async def state(self, user_id: str, room_id: str) -> list[dict[str, Any]]:
        await self.require_joined(room_id, user_id)
        return await self.format(await self.events.current_state(room_id))

    async def state_content(self, user_id: str, room_id: str, event_type: str,
                            state_key: str) -> dict[str, Any]:
        await self.require_joined(room_id, user_id)
        found = await self.events.state_events(self.events.db, room_id, [(event_type, state_key)])
        if not found:
            raise NotFound("Event not found")
        return (await self.format(found.values()))[0]["content"]

    async def members(self, user_id: str, room_id: str, membership: str | None = None,
                      not_membership: str | None = None) -> list[dict[str, Any]]:
        await self.require_joined(room_id, user_id)
        state = await self.events.current_state(room_id)
        members = [e for e in state if e.type == "m.room.member"]
        if membership is not None:
            members = [e for e in members if e.pdu["content"].get("membership") == membership]
        if not_membership is not None:
            members = [e for e in members
                       if e.pdu["content"].get("membership") != not_membership]
        return await self.format(members)

    async def joined_members(self, user_id: str, room_id: str) -> dict[str, dict[str, Any]]:
        joined = await self.members(user_id, room_id, membership="join")
        return {
            e["state_key"]: {"display_name": e["content"].get("displayname"),
                             "avatar_url": e["content"].get("avatar_url")}
            for e in joined
        }

    async def event(self, user_id: str, room_id: str, event_id: str) -> dict[str, Any]:
        await self.require_joined(room_id, user_id)
        found = await self.events.event(self.events.db, event_id)
        if found is None or found.room_id != room_id:
            raise NotFound("Event not found")
        return (await self.format([found], user_id=user_id))[0]

    async def messages(self, user_id: str, room_id: str, from_pos: int | None,
                       to_pos: int | None, backwards: bool, limit: int,
                       event_filter: RoomEventFilter) -> Page:
        """A page of history from ``from_pos`` towards ``to_pos`` (positions, not events)."""
        await self.require_joined(room_id, user_id)
        if from_pos is None:
            from_pos = self.positions.current if backwards else 0
        found, end = await self._scan(room_id, from_pos, to_pos, backwards, limit, event_filter)
        return Page(await self.format(found, user_id=user_id), from_pos, end)

    async def event_near_time(self, user_id: str, room_id: str, ts: int,
                              forwards: bool) -> tuple[str, int]:
        """The event closest to a time (``/timestamp_to_event``), for a member."""
        await self.require_joined(room_id, user_id)
        found = await self.events.event_near_time(self.events.db, room_id, ts, forwards)
        if found is None:
            raise NotFound("No event found in that direction")
        return found

    async def context(self, user_id: str, room_id: str, event_id: str, limit: int,
                      event_filter: RoomEventFilter) -> Context:
        """An event with up to ``limit`` events around it (half before) and the room's state."""
        await self.require_joined(room_id, user_id)
        found = await self.events.event(self.events.db, event_id)
        if found is None or found.room_id != room_id:
            raise NotFound("Event not found")
        around = await self.around(user_id, found, limit // 2, limit - limit // 2,
                                   event_filter)
        state = await self.format(await self.events.current_state(room_id))
        return Context((await self.format([found], user_id=user_id))[0], *around, state)

    async def around(self, user_id: str, event: StoredEvent, before_limit: int,
                     after_limit: int, event_filter: RoomEventFilter,
                     ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int, int]:
        """The events before (newest first) and after an event the caller may see, and
        the positions to paginate on from either end."""
        position, room_id = event.stream_ordering, event.room_id
        before: list[StoredEvent] = []
        start: int | None = position - 1
        if before_limit:
            before, start = await self._scan(room_id, position - 1, None, True, before_limit,
                                             event_filter)
        after, end = await self._scan(room_id, position, None, False, after_limit,
                                      event_filter)
        if end is None:  # nothing more yet: a client carries on from the newest shown
            end = after[-1].stream_ordering if after else position
        formatted = await self.format([*before, *after], user_id=user_id)
        return (formatted[:len(before)], formatted[len(before):], 0 if start is None else start,
                end)

    async def _scan(self, room_id: str, from_pos: int, to_pos: int | None, backwards: bool,
                    limit: int, event_filter: RoomEventFilter,
                    ) -> tuple[list[StoredEvent], int | None]:
        """Up to ``limit`` events the filter lets through, and where the next page starts
        (None once the history in that direction is exhausted)."""
        found: list[StoredEvent] = []
        cursor = from_pos
        exhausted = False
        for _ in range(MAX_SCAN_BATCHES):
            await asyncio.sleep(0)  # SQLite never suspends: let others in between batches
            batch = await self._batch(room_id, cursor, to_pos, backwards, limit)
            if not batch:
                exhausted = True
                break
            found.extend(e for e in batch if event_filter.matches(e.pdu))
            cursor = batch[-1].stream_ordering - 1 if backwards else batch[-1].stream_ordering
            if len(found) >= limit:
                break
        found = found[:limit]
        if found:
            last = found[-1].stream_ordering
            cursor = last - 1 if backwards else last
        return found, None if exhausted and len(found) < limit else cursor

    async def _batch(self, room_id: str, cursor: int, to_pos: int | None, backwards: bool,
                     limit: int) -> list[StoredEvent]:
        if backwards:
            return await self.events.room_events(room_id, after=to_pos or 0, upto=cursor,
                                                 limit=limit, newest_first=True)
        upto = to_pos if to_pos is not None else 2**62
        return await self.events.room_events(room_id, after=cursor, upto=upto, limit=limit,
                                             newest_first=False)
