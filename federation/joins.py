"""Joining a room that lives on another server: make_join, sign, send_join, store.

The answer's state is checked like any PDU (signatures, hashes) and stored
in depth order, each event against the state before it, then our join.
"""

from __future__ import annotations

from typing import Any

from federation.client import FederationClient, path
from federation.keyring import KeyRing
from federation.pdu_checks import InvalidPdu, check_pdu
from homeserver.errors import Forbidden
from homeserver.events.hashing import sign_event
from homeserver.rooms.writer import ROOM_VERSION
from homeserver.services import Homeserver


class RemoteJoiner:
    def __init__(self, hs: Homeserver, client: FederationClient, keyring: KeyRing) -> None:
        self.hs = hs
        self.client = client
        self.keyring = keyring

    async def join(self, room_id: str, user_id: str, via: str) -> str:
        """Join ``user_id`` to ``room_id`` through server ``via``; the join's event ID."""
        made = await self.client.request(
            "GET", via, path("/_matrix/federation/v1/make_join/{}/{}", room_id, user_id),
            query={"ver": [ROOM_VERSION]})
        if made.get("room_version", "1") != ROOM_VERSION:
            raise Forbidden("The room's version is not supported here")
        event = {**made["event"], "origin": self.hs.server_name,
                 "origin_server_ts": self.hs.clock.time_ms()}
        signed = sign_event(event, self.hs.server_name, self.hs.signing_key)
        try:
            event_id = await check_pdu(signed, self.keyring)  # the template was theirs
        except InvalidPdu as exc:
            raise Forbidden(f"make_join answered with an invalid event: {exc}") from None
        answer = await self.client.request(
            "PUT", via, path("/_matrix/federation/v2/send_join/{}/{}", room_id, event_id),
            signed)
        state = await self._checked(answer.get("state"))
        writer = self.hs.rooms.writer
        async with writer.transaction() as txn:
            for pdu_id, pdu in sorted(state, key=lambda item: item[1]["depth"]):
                await writer.accept_remote(txn, pdu, pdu_id)
            await writer.accept_remote(txn, signed, event_id)
        return event_id

    async def _checked(self, pdus: Any) -> list[tuple[str, dict[str, Any]]]:
        if not isinstance(pdus, list):
            raise Forbidden("send_join answered without the room's state")
        checked = []
        for pdu in pdus:
            try:
                checked.append((await check_pdu(pdu, self.keyring), pdu))
            except InvalidPdu as exc:
                raise Forbidden(f"the room's state holds an invalid event: {exc}") from None
        return checked
