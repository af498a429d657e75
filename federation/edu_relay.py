"""Our users' typing, receipts and presence, sent as EDUs to the servers that share a room."""

from __future__ import annotations

from typing import Any

from federation.sender import Sender
from homeserver.ids import server_of
from homeserver.peers import RoomMembers


class EdusToServers:
    def __init__(self, events: RoomMembers, sender: Sender, server_name: str) -> None:
        self.events = events
        self.sender = sender
        self.server_name = server_name

    async def typing_changed(self, room_id: str, user_id: str, typing: bool,
                             timeout_ms: int) -> None:
        content = {"room_id": room_id, "user_id": user_id, "typing": typing,
                   "timeout": timeout_ms}
        await self._send(room_id, user_id, "m.typing", content)

    async def receipt_sent(self, room_id: str, user_id: str, event_id: str, ts: int) -> None:
        content = {room_id: {"m.read": {user_id: {"event_ids": [event_id],
                                                  "data": {"ts": ts}}}}}
        await self._send(room_id, user_id, "m.receipt", content)

    async def presence_changed(self, user_id: str, content: dict[str, Any]) -> None:
        if server_of(user_id) != self.server_name:
            return
        push = {"user_id": user_id, **content}
        servers = {server_of(u) for u in await self.events.co_members(user_id)}
        for server in servers - {self.server_name}:
            self.sender.queue_edu(server, {"edu_type": "m.presence", "content": {"push": [push]}})

    async def _send(self, room_id: str, user_id: str, edu_type: str,
                    content: dict[str, Any]) -> None:
        if server_of(user_id) != self.server_name:
            return  # another server's user: their server tells the others
        users = await self.events.joined_users(room_id)
        for server in {server_of(u) for u in users} - {self.server_name}:
            self.sender.queue_edu(server, {"edu_type": edu_type, "content": content})
