"""Events other servers sent, stored by the core in transactions it owns.

Federation checks a PDU's validity (signature, hashes, event ID) and hands it here;
storing it goes through ``EventWriter.accept_remote``, the same persistence step as
our own events, which authorises it against the room's current state.
"""

from __future__ import annotations

from typing import Any

from homeserver.rooms.writer import EventWriter


class ReceivedEvents:
    def __init__(self, writer: EventWriter) -> None:
        self.writer = writer

    async def store(self, pdu: dict[str, Any], event_id: str) -> None:
        """Store one checked PDU into a room we hold; Forbidden if the rules refuse it."""
        async with self.writer.transaction() as txn:
            await self.writer.accept_remote(txn, pdu, event_id)

    async def store_join(self, state: list[tuple[str, dict[str, Any]]],
                         join: dict[str, Any], join_id: str) -> None:
        """Take a room we joined through another server: its checked state (by event ID),
        oldest first, and our join, all in one transaction."""
        async with self.writer.transaction() as txn:
            for pdu_id, pdu in sorted(state, key=lambda item: item[1]["depth"]):
                await self.writer.accept_remote(txn, pdu, pdu_id, new_room=True)
            await self.writer.accept_remote(txn, join, join_id)
