"""Changing one's profile, and telling every room one is in.

A member's name and avatar in a room are those of their latest join event, as
every client reads them from room state. So a new display name or avatar is
followed by a new join event, with the new profile, in each room the user is
joined to, one room at a time under that room's lock (as Synapse does).
"""

from __future__ import annotations

from homeserver.accounts import AccountService, Requester
from homeserver.rooms.service import RoomService


class ProfileService:
    def __init__(self, accounts: AccountService, rooms: RoomService) -> None:
        self.accounts = accounts
        self.rooms = rooms

    async def set_field(self, requester: Requester, user_id: str, field: str,
                        value: str | None) -> None:
        if await self.accounts.set_profile_field(requester, user_id, field, value):
            await self.rooms.refresh_member_profile(user_id)
