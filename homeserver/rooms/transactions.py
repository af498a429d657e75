"""Write transactions: the lock order inside one, and news published after its commit.

Writes into one room are ordered by that room's lock, taken before anything
in the room is read, so the room's latest event and auth state cannot change
under the write; writes into different rooms run side by side. Locks are taken
in one order everywhere (a DM pair's, then a room's, then users' own data, users
sorted), so no two writes deadlock. Stream positions come from ``WriteTxn.next_position`` as late as
possible; ``homeserver/positions.py`` keeps tokens below the ones still in
flight, and hears here when a write ends. Notifications go out only after the
commit.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from homeserver.notifier import Notifier
from homeserver.positions import StreamPositions
from homeserver.storage.database import Connection, Database
from homeserver.storage.stream import lock_pair, lock_room, lock_user, take_position


@dataclass
class WriteTxn:
    """One open write: its connection, its positions and what to announce once it commits."""

    conn: Connection
    positions: StreamPositions
    taken: list[int] = field(default_factory=list)
    outbox: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    locked_rooms: set[str] = field(default_factory=set)
    locked_users: set[str] = field(default_factory=set)
    committed: list[Callable[[], None]] = field(default_factory=list)

    def announce(self, channel: str, payload: dict[str, Any]) -> None:
        """Publish after the commit; readers hear of it once its position is safe."""
        if self.taken:
            payload.setdefault("stream_ordering", self.taken[-1])
        self.outbox.append((channel, payload))

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once the write has committed (never if it rolls back)."""
        self.committed.append(callback)

    async def next_position(self) -> int:
        position = await take_position(self.conn)
        self.took(position)
        return position

    def took(self, position: int) -> None:
        """A store took ``position`` for this write (the event insert takes its own)."""
        self.positions.taken(position)
        self.taken.append(position)

    async def lock_room(self, room_id: str) -> None:
        """Hold the room's write lock until the commit (once per transaction)."""
        if room_id not in self.locked_rooms:
            self.locked_rooms.add(room_id)
            await lock_room(self.conn, room_id)

    async def lock_pair(self, low: str, high: str) -> None:
        await lock_pair(self.conn, low, high)

    async def lock_user(self, user_id: str) -> None:
        """Hold the user's own-data lock until the commit (after any room's lock)."""
        if user_id not in self.locked_users:
            self.locked_users.add(user_id)
            await lock_user(self.conn, user_id)


class Writes:
    """Opens write transactions, and publishes what they announced once they commit."""

    def __init__(self, db: Database, positions: StreamPositions, notifier: Notifier) -> None:
        self.db = db
        self.positions = positions
        self.notifier = notifier

    @asynccontextmanager
    async def transaction(self, room_id: str | None = None) -> AsyncIterator[WriteTxn]:
        """A write; with ``room_id``, holding that room's lock from the start, so
        checks made in it (txn IDs, memberships) stay true until it commits."""
        txn: WriteTxn | None = None
        try:
            async with self.db.transaction() as conn:
                txn = WriteTxn(conn, self.positions)
                if room_id is not None:
                    await txn.lock_room(room_id)
                yield txn
        except BaseException:
            if txn is not None:
                await self.positions.ended(txn.taken, committed=False)
            raise
        for callback in txn.committed:
            callback()
        await self.positions.ended(txn.taken, committed=True)
        for channel, payload in txn.outbox:
            await self.notifier.publish(channel, payload)
