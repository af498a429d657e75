"""EDUs from other servers: typing, receipts and presence, each only for their own users.

What they leave here is bounded: typing and receipts only for users joined to the room
(the core checks membership), presence only for users who share a room with one of ours
and at most ``presence.max_remote_per_server`` of each server; an EDU that is not
canonical JSON, or malformed, is dropped.
"""

from __future__ import annotations

import logging
from typing import Any

from homeserver.errors import MatrixError
from homeserver.events.canonical import NotCanonical, check_canonical
from homeserver.ids import server_of
from homeserver.presence import STATES as PRESENCE_STATES
from homeserver.services import Homeserver

log = logging.getLogger(__name__)
REMOTE_TYPING_TIMEOUT_MS = 30_000
MAX_RECEIPTS, MAX_PRESENCE = 100, 100  # per EDU


async def receive_edu(server: Homeserver, origin: str, edu: Any) -> None:
    """Apply one EDU; one that is malformed or not the origin's to give is dropped."""
    if not isinstance(edu, dict) or not isinstance(edu.get("content"), dict):
        return
    try:
        check_canonical(edu)
    except NotCanonical as exc:
        log.info("dropped EDU from %s: %s", origin, exc)
        return
    kind, content = edu.get("edu_type"), edu["content"]
    try:
        if kind == "m.typing":
            await _typing(server, origin, content)
        elif kind == "m.receipt":
            await _receipts(server, origin, content)
        elif kind == "m.presence":
            await _presence(server, origin, content)
    except (MatrixError, KeyError, TypeError, ValueError, AttributeError) as exc:
        log.info("dropped %s EDU from %s: %s", kind, origin, exc)


async def _typing(server: Homeserver, origin: str, content: dict[str, Any]) -> None:
    user_id, room_id = str(content["user_id"]), str(content["room_id"])
    if server_of(user_id) != origin:
        return
    # Remote typing expires here too, on our own timer (the service caps it).
    timeout = content.get("timeout")
    timeout_ms = timeout if isinstance(timeout, int) and timeout > 0 else \
        REMOTE_TYPING_TIMEOUT_MS
    await server.typing.set_typing(user_id, room_id, bool(content.get("typing")), timeout_ms)


async def _receipts(server: Homeserver, origin: str, content: dict[str, Any]) -> None:
    # Each receipt is a write (kept only for users joined to the room): a few per EDU.
    receipts = [(room_id, user_id, receipt)
                for room_id, by_type in content.items() if isinstance(by_type, dict)
                for user_id, receipt in (by_type.get("m.read") or {}).items()
                if server_of(user_id) == origin]  # a server speaks only for its own users
    for room_id, user_id, receipt in receipts[:MAX_RECEIPTS]:
        for event_id in receipt.get("event_ids", [])[:1]:
            await server.user_data.receipt(user_id, room_id, "m.read", event_id)


async def _presence(server: Homeserver, origin: str, content: dict[str, Any]) -> None:
    for push in content.get("push", [])[:MAX_PRESENCE]:
        user_id, presence = str(push["user_id"]), push["presence"]
        if server_of(user_id) != origin or presence not in PRESENCE_STATES:
            continue
        status = push.get("status_msg")
        await server.presence.set_remote(user_id, presence, int(push.get("last_active_ago", 0)),
                                         status if isinstance(status, str) else None)
