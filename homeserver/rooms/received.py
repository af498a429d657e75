"""Events other servers sent, stored by the core in transactions it owns.

Federation checks a PDU's validity (signature, hashes, event ID) and hands it here;
storing it goes through ``EventWriter.accept_remote``, the same persistence step as
our own events, which authorises it against the room's current state.
"""

from __future__ import annotations

from typing import Any

from homeserver.rooms.building import EventBuilder
from homeserver.rooms.transactions import Writes
from homeserver.rooms.writer import EventWriter


class ReceivedEvents:
    def __init__(self, writer: EventWriter, writes: Writes, builder: EventBuilder) -> None:
        self.writer = writer
        self.writes = writes
        self.builder = builder

    async def template(self, room_id: str, sender: str, event_type: str,
                       content: dict[str, Any], state_key: str | None = None) -> dict[str, Any]:
        """An event for another server to sign and send back (make_join, make_leave)."""
        return await self.builder.template(room_id, sender, event_type, content, state_key)

    async def store(self, pdu: dict[str, Any], event_id: str) -> None:
        """Store one checked PDU into a room we hold; Forbidden if the rules refuse it."""
        async with self.writes.transaction() as txn:
            await self.writer.accept_remote(txn, pdu, event_id)

    async def store_join(self, state: list[tuple[str, dict[str, Any]]],
                         join: dict[str, Any], join_id: str) -> None:
        """Take a room we joined through another server: its checked state (by event ID),
        oldest first, and our join, all in one transaction."""
        async with self.writes.transaction() as txn:
            for pdu_id, pdu in sorted(state, key=lambda item: item[1]["depth"]):
                await self.writer.accept_remote(txn, pdu, pdu_id, new_room=True)
            await self.writer.accept_remote(txn, join, join_id)
