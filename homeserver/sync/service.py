"""Assembling /sync for one user, and the long-poll that waits for news.

Each room's section is built by ``rooms.py``; to-device messages and device
lists by ``devices.py``; this module decides which rooms changed, adds account
data, presence and invites into rooms we do not hold, and waits.

An incremental sync reads only what changed for this user: their membership
rows, then the events, receipts and account data after ``since`` in their
own rooms, each through an index on (room or user, stream_ordering). Rooms
nobody touched cost one membership row; other users' rooms cost nothing.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from homeserver.channels import RoomChannels, user_channel
from homeserver.clock import Clock
from homeserver.ephemeral import EphemeralStore
from homeserver.notifier import Notifier
from homeserver.positions import StreamPositions
from homeserver.presence import PresenceService
from homeserver.push.rules import Rulesets
from homeserver.rooms.invites import RemoteInvites
from homeserver.rooms.reading import RoomReader
from homeserver.storage.events import EventStore
from homeserver.storage.receipts import ReceiptStore
from homeserver.storage.summaries import SummaryStore
from homeserver.storage.user_data import GLOBAL, UserDataStore
from homeserver.sync.answers import SyncRequest, SyncResult
from homeserver.sync.devices import DeviceSync
from homeserver.sync.listener import Listener, Parked
from homeserver.sync.rooms import RoomSections
from homeserver.sync.summary import RoomSummaries
from homeserver.sync.tokens import make_token
from homeserver.sync.unread import UnreadCounts
from homeserver.typing import TypingService

MAX_SYNC_TIMEOUT_MS = 300_000
PUSH_RULES = "m.push_rules"
# Put in every waiting long-poll's queue when the server stops, to wake it.
_STOPPING: tuple[str, dict[str, Any]] = ("", {"kind": "stopping"})


class SyncService:
    def __init__(self, events: EventStore, receipts: ReceiptStore, user_data: UserDataStore,
                 reader: RoomReader, channels: RoomChannels, positions: StreamPositions,
                 notifier: Notifier,
                 typing: TypingService, presence: PresenceService, ephemeral: EphemeralStore,
                 invites: RemoteInvites, clock: Clock, unread: UnreadCounts,
                 rulesets: Rulesets, devices: DeviceSync) -> None:
        self.events = events
        self.receipts = receipts
        self.rulesets = rulesets
        self.rooms = RoomSections(events, receipts, reader, unread,
                                  RoomSummaries(SummaryStore(events.db)))
        self.user_data = user_data
        self.channels = channels
        self.positions = positions
        self.notifier = notifier
        self.typing = typing
        self.presence = presence
        self.ephemeral = ephemeral
        self.invites = invites
        self.clock = clock
        self.devices = devices
        self.stopping = False
        self._waiting: set[Listener] = set()
        self.parked = Parked()

    def stop_waiting(self) -> None:
        """The server is stopping: every long-poll answers now with what it has, and
        later ones do not wait, so a shutdown never waits out a poll's timeout."""
        self.stopping = True
        for listener in self._waiting:
            listener.interrupt(_STOPPING)

    async def sync(self, request: SyncRequest) -> SyncResult:
        """Answer at once if anything changed, else wait for the notifier (up to timeout)."""
        if request.set_presence == "unavailable":
            await self.presence.set_presence(request.user_id, "unavailable")
        if request.set_presence != "online":
            return await self._sync(request)
        async with self.presence.connection(request.user_id):
            return await self._sync(request)

    async def _sync(self, request: SyncRequest) -> SyncResult:
        deadline = self.clock.monotonic() + min(request.timeout_ms, MAX_SYNC_TIMEOUT_MS) / 1000
        result = await self.build(request)
        if request.since is None or request.timeout_ms <= 0 or self.stopping or not result.empty:
            return result  # news already (as under load): no subscription to wait with
        async with self.listen(request.user_id) as listener:
            # The subscription wakes us for anything written from now on; read again
            # only if something was written between the read above and now.
            if await self._moved_since(result):
                result = await self.build(request)
            while result.empty and not self.stopping:
                if not await listener.wait(deadline - self.clock.monotonic()):
                    break
                result = await self.build(request)
        return result

    async def _moved_since(self, result: SyncResult) -> bool:
        """Whether any stream moved past what ``result`` was read up to."""
        typing_serial, presence_serial = await self.ephemeral.serials()
        upto = self.positions.current
        return (upto, typing_serial, presence_serial) != (
            result.position, result.typing_serial, result.presence_serial)

    @asynccontextmanager
    async def listen(self, user_id: str) -> AsyncIterator[Listener]:
        """A subscription to everything that concerns the user, for as long as this lasts.

        Open it before reading, so nothing written in between is missed."""
        listener = Listener(self.notifier, self.clock, self._channels_of, user_id, self.parked)
        await listener.open()
        self._waiting.add(listener)
        try:
            yield listener
        finally:
            self._waiting.discard(listener)
            listener.close()

    async def _channels_of(self, user_id: str) -> frozenset[str]:
        rooms = await self.events.rooms_of_user(user_id, ["join", "invite"])
        return frozenset([user_channel(user_id)]
                         + [await self.channels.of(r["room_id"]) for r in rooms])

    async def build(self, request: SyncRequest) -> SyncResult:
        result = await self._build(request)
        result.devices = await self.devices.news(request.user_id, request.device_id,
                                                 request.since, request.to_device_since,
                                                 result.position)
        return result

    async def _build(self, request: SyncRequest) -> SyncResult:
        # Serials are read first: a change after this point is sent next time.
        typing_serial, presence_serial = await self.ephemeral.serials()
        upto = self.positions.current  # every write at or below it has ended
        result = SyncResult(upto, typing_serial, presence_serial)
        since = request.since
        if (since == upto and not request.full_state
                and (request.typing_since, request.presence_since)
                == (typing_serial, presence_serial)):
            # Nothing reached any stream since the token: every section would be
            # empty. A long-poll builds this way first each time, so skip the reads.
            return result
        room_filter = request.sync_filter.room
        account_data: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for data_row in await self.user_data.account_data_since(request.user_id, since or 0, upto):
            account_data[data_row["room_id"]].append(_account_event(data_row))
        memberships = await self.events.rooms_of_user(
            request.user_id, ["join", "invite", "leave", "ban"]
        )
        joined = [r["room_id"] for r in memberships if r["membership"] == "join"]
        typing_seen = request.typing_since if since is not None else None
        typing = await self.typing.changes_for(joined, typing_seen)
        if since is not None and not request.full_state:
            # Only rooms that changed: the cost follows the news, not the room count.
            changed = await self._changed_rooms(request.user_id, since, upto)
            changed |= set(account_data) | set(typing)
            memberships = [r for r in memberships
                           if r["room_id"] in changed or r["stream_ordering"] > since]
        for row in memberships:
            room_id = row["room_id"]
            # SQLite answers without suspending: yield, so that one user's many
            # rooms never hold every other request until the whole sync is built.
            await asyncio.sleep(0)
            if room_filter.allows_room(room_id):
                await self.rooms.add(request, result, row, account_data.get(room_id, []),
                                     typing.get(room_id))
        await self._add_remote_invites(request, result)
        result.account_data = account_data.get(GLOBAL, [])
        if since is None and not any(e["type"] == PUSH_RULES for e in result.account_data):
            # Clients read their rules from here (matrix-js-sdk waits for them), also
            # before the user ever changed one.
            result.account_data.append({"type": PUSH_RULES, "content": {
                "global": await self.rulesets.of(request.user_id)}})
        result.presence = await self._presence(request)
        return result

    async def _add_remote_invites(self, request: SyncRequest, result: SyncResult) -> None:
        """Invites into rooms on other servers that we do not hold, and their rejections."""
        for view in await self.invites.for_sync(request.user_id, request.since,
                                                result.position):
            if not request.sync_filter.room.allows_room(view.room_id):
                continue
            if view.membership == "invite":
                result.rooms["invite"][view.room_id] = {
                    "invite_state": {"events": view.stripped_state}}
            else:  # rejected after the token (an initial sync gets pending invites only)
                result.rooms["leave"][view.room_id] = {
                    "timeline": {"events": [], "limited": False,
                                 "prev_batch": make_token(result.position)},
                    "state": {"events": []}, "account_data": {"events": []}}

    async def _changed_rooms(self, user_id: str, since: int, upto: int) -> set[str]:
        return (await self.events.rooms_with_events(user_id, since, upto)
                | await self.receipts.rooms_with_receipts(user_id, since, upto))

    async def _presence(self, request: SyncRequest) -> list[dict[str, Any]]:
        """Presence of people who share a room with the user, changed since their token."""
        changed = None
        if request.since is not None:
            changed = await self.presence.changed_since(request.presence_since or 0)
            if not changed:
                return []
        visible = await self.events.co_members(request.user_id)
        users = visible if changed is None else [u for u in changed if u in visible]
        contents = await self.presence.contents(users, known_only=True)
        return [{"type": "m.presence", "sender": user, "content": content}
                for user, content in sorted(contents.items())]



def _account_event(row: Any) -> dict[str, Any]:
    return {"type": row["type"], "content": json.loads(row["content"])}
