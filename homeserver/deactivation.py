"""Closing an account for good: its tokens die, it leaves every room, its ID stays taken.

The account is refused first (login and every token), so nothing it still holds can act
while it is being taken out of its rooms; a room it cannot leave cleanly does not keep the
account open. Invites from other servers into rooms we do not hold are left unanswered
(answering needs that server; the account can no longer accept them anyway).
"""

from __future__ import annotations

import logging

from homeserver.accounts import AccountService
from homeserver.errors import MatrixError
from homeserver.rooms.service import RoomService
from homeserver.storage.events import EventStore

log = logging.getLogger(__name__)


class Deactivation:
    def __init__(self, accounts: AccountService, rooms: RoomService, events: EventStore) -> None:
        self.accounts = accounts
        self.rooms = rooms
        self.events = events

    async def deactivate(self, user_id: str) -> None:
        await self.accounts.deactivate(user_id)
        for row in await self.events.rooms_of_user(user_id, ["join", "invite", "knock"]):
            try:
                await self.rooms.leave(user_id, row["room_id"], reason="Account deactivated")
            except MatrixError as exc:
                log.warning("deactivated %s could not leave %s: %s", user_id, row["room_id"],
                            exc)
