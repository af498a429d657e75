"""Our users' typing, sent as ``m.typing`` EDUs to the other servers in the room."""

from __future__ import annotations

from federation.sender import Sender
from homeserver.ids import server_of
from homeserver.storage.events import EventStore


class TypingToServers:
    def __init__(self, events: EventStore, sender: Sender, server_name: str) -> None:
        self.events = events
        self.sender = sender
        self.server_name = server_name

    async def typing_changed(self, room_id: str, user_id: str, typing: bool,
                             timeout_ms: int) -> None:
        if server_of(user_id) != self.server_name:
            return  # another server's user: their server tells the others
        content = {"room_id": room_id, "user_id": user_id, "typing": typing,
                   "timeout": timeout_ms}
        for server in await self._other_servers(room_id):
            self.sender.queue_edu(server, {"edu_type": "m.typing", "content": content})

    async def _other_servers(self, room_id: str) -> set[str]:
        users = await self.events.joined_users(room_id)
        return {server_of(u) for u in users} - {self.server_name}
