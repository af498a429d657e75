"""The ephemeral store in process memory: the default, for one worker.

Presence changes and liveness deadlines are also kept in order (a list by
serial, a heap by deadline), so a woken sync and the once-a-second sweep cost
what changed, not the number of users.
"""

from __future__ import annotations

import bisect
import heapq
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import replace

from homeserver.ephemeral.store import EphemeralStore, PresenceState


class MemoryEphemeralStore(EphemeralStore):
    def __init__(self) -> None:
        self._typing_serial = 0
        self._presence_serial = 0
        self._typing: dict[str, dict[str, int]] = defaultdict(dict)  # room -> user -> expiry
        self._typing_changed: dict[str, int] = {}
        self._presence: dict[str, PresenceState] = {}
        self._presence_changed: dict[str, int] = {}
        self._deadlines: dict[str, int] = {}
        # Entries whose user changed again, or whose deadline moved, are stale:
        # skipped when read, dropped when they outnumber the live ones.
        self._changes: list[tuple[int, str]] = []  # (serial, user), serials ascending
        self._deadline_heap: list[tuple[int, str]] = []

    async def serials(self) -> tuple[int, int]:
        return self._typing_serial, self._presence_serial

    async def start_typing(self, room_id: str, user_id: str, expiry_ms: int,
                           now_ms: int) -> int | None:
        old = self._typing[room_id].get(user_id)
        self._typing[room_id][user_id] = expiry_ms
        return None if old is not None and old > now_ms else self._typing_changed_in(room_id)

    async def stop_typing(self, room_id: str, user_id: str, now_ms: int,
                          only_expiry: int | None = None) -> int | None:
        room = self._typing.get(room_id, {})
        old = room.get(user_id)
        if old is None or (only_expiry is not None and old != only_expiry):
            return None
        del room[user_id]
        if not room:
            self._typing.pop(room_id, None)
        return self._typing_changed_in(room_id)

    def _typing_changed_in(self, room_id: str) -> int:
        self._typing_serial += 1
        self._typing_changed[room_id] = self._typing_serial
        return self._typing_serial

    async def typers(self, room_id: str, now_ms: int) -> dict[str, int]:
        return {u: e for u, e in self._typing.get(room_id, {}).items() if e > now_ms}

    async def typing_changed_at(self, room_ids: list[str]) -> dict[str, int]:
        return {r: self._typing_changed[r] for r in room_ids if r in self._typing_changed}

    async def presence_of(self, user_ids: Iterable[str]) -> dict[str, PresenceState]:
        return {u: replace(self._presence[u]) for u in user_ids if u in self._presence}

    async def set_presence(self, user_id: str, state: PresenceState, bump: bool) -> int | None:
        self._presence[user_id] = replace(state)
        if not bump:
            return None
        self._presence_serial += 1
        self._presence_changed[user_id] = self._presence_serial
        self._changes.append((self._presence_serial, user_id))
        if len(self._changes) > 2 * len(self._presence_changed) + 64:
            self._changes = sorted((s, u) for u, s in self._presence_changed.items())
        return self._presence_serial

    async def presence_changed_since(self, serial: int) -> list[str]:
        start = bisect.bisect_right(self._changes, serial, key=lambda change: change[0])
        return [u for s, u in self._changes[start:] if self._presence_changed.get(u) == s]

    async def forget_presence(self, user_id: str) -> None:
        for kept in (self._presence, self._presence_changed, self._deadlines):
            kept.pop(user_id, None)

    async def keep_alive(self, user_ids: Iterable[str], deadline_ms: int) -> None:
        for user in user_ids:
            old = self._deadlines.get(user, 0)
            if deadline_ms > old:
                self._deadlines[user] = deadline_ms
                heapq.heappush(self._deadline_heap, (deadline_ms, user))
        if len(self._deadline_heap) > 2 * len(self._deadlines) + 64:
            self._deadline_heap = [(d, u) for u, d in self._deadlines.items()]
            heapq.heapify(self._deadline_heap)

    async def take_lapsed(self, now_ms: int) -> list[tuple[str, int]]:
        lapsed = []
        while self._deadline_heap and self._deadline_heap[0][0] <= now_ms:
            deadline, user = heapq.heappop(self._deadline_heap)
            if self._deadlines.get(user) == deadline:
                lapsed.append(user)
        taken = []
        for user in lapsed:
            del self._deadlines[user]
            state = self._presence.get(user)
            if state is not None and state.presence != "offline":
                state = replace(state, presence="offline")
                taken.append((user, await self.set_presence(user, state, bump=True) or 0))
        return taken
