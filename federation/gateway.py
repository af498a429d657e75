"""Federation's side of the core's FederationGateway: joins, remote DMs and outgoing EDUs,
each handed to the module that owns it. ``setup`` connects one to the core's door."""

from __future__ import annotations

from typing import Any

from federation.dms import FederatedDms
from federation.edu_relay import EdusToServers
from federation.joins import RemoteJoiner
from homeserver.dms import DmResolution


class Gateway:
    def __init__(self, joiner: RemoteJoiner, dms: FederatedDms, edus: EdusToServers) -> None:
        self.joiner = joiner
        self.dms = dms
        self.edus = edus

    async def join(self, room_id: str, user_id: str, via: str) -> str:
        return await self.joiner.join(room_id, user_id, via)

    async def leave(self, room_id: str, user_id: str, via: str) -> None:
        await self.joiner.leave(room_id, user_id, via)

    async def resolve_dm(self, me: str, other: str) -> DmResolution:
        return await self.dms.resolve(me, other)

    async def typing_changed(self, room_id: str, user_id: str, typing: bool,
                             timeout_ms: int) -> None:
        await self.edus.typing_changed(room_id, user_id, typing, timeout_ms)

    async def receipt_sent(self, room_id: str, user_id: str, event_id: str,
                           ts: int) -> None:
        await self.edus.receipt_sent(room_id, user_id, event_id, ts)

    async def presence_changed(self, user_id: str, content: dict[str, Any]) -> None:
        await self.edus.presence_changed(user_id, content)
