"""What the notifier's channels are called, and which channel a room's news goes to.

The brief's groups: ``dm_<low>_<high>`` for a DM pair, ``room_<room>`` for any
other room, ``user_<user>`` for what concerns one user (invites, account
data), ``presence_updates``, ``token_revocations`` (logouts, so every worker
drops the token from its cache), ``federation_outbox`` (wakes the federation
sender) and ``stream_positions`` (the positions of writes that ended, for
every worker's safe token). IDs are written in a safe alphabet:
``A-Z a-z 0-9 . -`` stay, every other byte of the UTF-8 form becomes ``=``
and two hex digits, so ``_`` only ever separates parts.
"""

from __future__ import annotations

import re

from homeserver.lru import LruDict
from homeserver.storage.database import Queries
from homeserver.storage.dms import DmStore
from homeserver.storage.events import EventStore

PRESENCE_CHANNEL = "presence_updates"
REVOCATIONS_CHANNEL = "token_revocations"
OUTBOX_CHANNEL = "federation_outbox"
POSITIONS_CHANNEL = "stream_positions"
_SAFE = re.compile(rb"[^A-Za-z0-9.\-]")
MAX_CACHED_ROOMS = 100_000


def safe_id(value: str) -> str:
    return _SAFE.sub(lambda m: b"=%02x" % m.group()[0], value.encode()).decode()


def dm_channel(low: str, high: str) -> str:
    return f"dm_{safe_id(low)}_{safe_id(high)}"


def room_channel(room_id: str) -> str:
    return f"room_{safe_id(room_id)}"


def user_channel(user_id: str) -> str:
    return f"user_{safe_id(user_id)}"


class RoomChannels:
    """The channel of each room: its pair's for a DM room, its own otherwise."""

    def __init__(self, events: EventStore, dms: DmStore) -> None:
        self.events = events
        self.dms = dms
        # A room's channel never changes once the room exists: cached, bounded.
        self._known: LruDict[str, str] = LruDict(MAX_CACHED_ROOMS)

    async def of(self, room_id: str, conn: Queries | None = None) -> str:
        channel = self._known.get(room_id)
        if channel is None:
            queries = conn or self.events.db
            pair = await self.dms.pair_of_room(queries, room_id)
            channel = dm_channel(pair["user_low"], pair["user_high"]) if pair \
                else room_channel(room_id)
            if pair or await self.events.room_exists(queries, room_id):
                self._known.put(room_id, channel)
        return channel
