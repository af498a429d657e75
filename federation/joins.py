"""Joining and leaving a room that lives on another server: make_*, sign, send_*.

A join's answer holds the room's state, checked like any PDU (signatures,
hashes) and stored in depth order, each event against the state before it,
then our join: from then on we hold the room. A leave (rejecting an invite
into a room we do not hold) stores nothing; the remote server keeps it.
Either failing to reach the other server is a 502 for the client.
"""

from __future__ import annotations

from typing import Any

from federation.client import FederationClient, FederationError, path
from federation.keyring import KeyRing
from federation.pdu_checks import InvalidPdu, check_pdu
from homeserver.errors import Forbidden, MatrixError
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
        event_id, signed, answer = await self._exchange("join", room_id, user_id, via)
        state = await self._checked(room_id,
                                    answer.get("state") if isinstance(answer, dict) else None)
        await self.hs.received.store_join(state, signed, event_id)
        return event_id

    async def leave(self, room_id: str, user_id: str, via: str) -> None:
        """Leave (or reject an invite into) ``room_id`` through server ``via``."""
        await self._exchange("leave", room_id, user_id, via)

    async def _exchange(self, membership: str, room_id: str, user_id: str,
                        via: str) -> tuple[str, dict[str, Any], Any]:
        """make_<membership>, sign, send_<membership>: the event's ID, itself, the answer."""
        try:
            made = await self.client.request(
                "GET", via, path(f"/_matrix/federation/v1/make_{membership}/{{}}/{{}}",
                                 room_id, user_id), query={"ver": [ROOM_VERSION]})
            template = _template(made, membership, room_id, user_id)
            event = {**template, "origin": self.hs.server_name,
                     "origin_server_ts": self.hs.clock.time_ms()}
            signed = sign_event(event, self.hs.server_name, self.hs.signing_key)
            try:  # the template was theirs: out-of-range values must not get our signature
                event_id = await check_pdu(signed, self.keyring)
            except InvalidPdu as exc:
                raise Forbidden(f"make_{membership} offered an invalid event: {exc}") from None
            answer = await self.client.request(
                "PUT", via, path(f"/_matrix/federation/v2/send_{membership}/{{}}/{{}}",
                                 room_id, event_id), signed)
        except FederationError as exc:
            raise MatrixError(f"{via} could not {membership} us: {exc}", status=502,
                              errcode="M_UNKNOWN") from None
        return event_id, signed, answer

    async def _checked(self, room_id: str, pdus: Any) -> list[tuple[str, dict[str, Any]]]:
        if not isinstance(pdus, list):
            raise Forbidden("send_join answered without the room's state")
        checked = []
        for pdu in pdus:
            if not isinstance(pdu, dict) or pdu.get("room_id") != room_id:
                raise Forbidden("the room's state holds an event of another room")
            try:
                checked.append((await check_pdu(pdu, self.keyring), pdu))
            except InvalidPdu as exc:
                raise Forbidden(f"the room's state holds an invalid event: {exc}") from None
        return checked


def _template(made: Any, membership: str, room_id: str, user_id: str) -> dict[str, Any]:
    """The event make_* offers, if it is the one we asked for: we sign it as our user's,
    so another server must not slip anything else (a join for a leave, another room,
    another user) under our signature."""
    if not isinstance(made, dict) or made.get("room_version", "1") != ROOM_VERSION:
        raise Forbidden("The room's version is not supported here")
    event = made.get("event")
    content = event.get("content") if isinstance(event, dict) else None
    if not isinstance(content, dict) or (
        event.get("type"), event.get("room_id"), event.get("sender"), event.get("state_key"),
        content.get("membership"),
    ) != ("m.room.member", room_id, user_id, user_id, membership):
        raise Forbidden(f"make_{membership} offered another event than the one asked for")
    return event
