"""GET /ws/dm/{user_id}: one socket per DM, relaying messages, typing and presence.

The URL names the other person; the server resolves the pair's room with
the same function as the DM endpoint and subscribes the socket to the
pair's channel. The first server frame, ``ready``, says the subscription is
live and carries the room ID and the peer's presence. Frames from the client
become events (idempotent on txn_id) or typing/presence changes; everything new in the DM, from any
socket, HTTP or worker, comes back as a server frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from client_api.http import hs, requester
from client_api.ws_frames import (
    Frame,
    FrameSender,
    MessageFrame,
    TypingFrame,
    close_code,
    error_frame,
    open_socket,
    parse_frame,
)
from homeserver.accounts import Requester
from homeserver.errors import MatrixError
from homeserver.notifier import Subscription
from homeserver.services import Homeserver

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
HEARTBEAT_SECONDS = 30.0
RELAYED_TYPES = {"m.room.message", "m.room.encrypted"}


@routes.get("/ws/dm/{user_id}")
async def dm_socket(request: web.Request) -> web.WebSocketResponse:
    ws = await open_socket(request, HEARTBEAT_SECONDS)
    server = hs(request)
    try:
        who = await requester(request)
        peer = request.match_info["user_id"]
        room_id = (await server.dms.resolve(who.user_id, peer)).room_id
    except MatrixError as exc:
        await ws.close(code=close_code(exc), message=exc.errcode.encode())
        return ws
    channel = await server.rooms.writer.channel_of(room_id)
    server.typing.socket_opened(who.user_id, room_id)
    async with server.presence.connection(who.user_id):
        await _serve(frame_sender(ws, request), server, who, room_id, peer, channel)
    return ws


def frame_sender(ws: web.WebSocketResponse, request: web.Request) -> FrameSender:
    return FrameSender(ws, request, hs(request).config.limits.socket_send_timeout_ms / 1000)


async def _serve(sender: FrameSender, server: Homeserver, who: Requester, room_id: str,
                 peer: str, channel: str) -> None:
    ws = sender.ws
    queue = server.config.limits.socket_queue
    with server.notifier.subscribe([channel], max_queued=queue) as subscription:
        await subscription.ready()
        # From here nothing published in the DM can be missed; the client may rely on it.
        presence = (await server.presence.contents([peer]))[peer]
        await ws.send_json({"type": "ready", "room_id": room_id, "user_id": peer,
                            "presence": presence["presence"],
                            "last_active_ago": presence.get("last_active_ago")})
        pump = asyncio.create_task(
            close_on_failure(ws, _relay(sender, server, subscription, who, room_id, peer))
        )
        try:
            await _serve_frames(ws, server, who, room_id)
        finally:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError, RuntimeError):
                await pump
            await server.typing.socket_closed(who.user_id, room_id)


async def _serve_frames(ws: web.WebSocketResponse, server: Homeserver, who: Requester,
                        room_id: str) -> None:
    async for msg in ws:
        if msg.type != WSMsgType.TEXT:
            continue
        try:
            reply = await _handle(server, who, room_id, msg.data)
        except MatrixError as exc:
            reply = error_frame(exc)
        if reply is not None:
            await ws.send_json(reply)


async def _handle(server: Homeserver, who: Requester, room_id: str,
                  raw: str) -> dict[str, Any] | None:
    return await handle_frame(server, who, parse_frame(raw), room_id)


async def handle_frame(server: Homeserver, who: Requester, frame: Frame,
                       room_id: str) -> dict[str, Any] | None:
    """Carry out one client frame in ``room_id``; the answer frame, if any."""
    if isinstance(frame, MessageFrame):
        await server.ratelimiter.check("message", who.user_id)
        event_id = await server.rooms.send(
            who.user_id, who.device_id, room_id, "m.room.message",
            {"msgtype": "m.text", "body": frame.body}, txn_id=frame.txn_id,
        )
        return {"type": "ack", "txn_id": frame.txn_id, "event_id": event_id}
    if isinstance(frame, TypingFrame):
        await server.typing.set_typing(who.user_id, room_id, frame.status == "start")
        return None
    await server.presence.set_presence(who.user_id, frame.status)
    return None


async def close_on_failure(ws: web.WebSocketResponse, pump: Awaitable[None]) -> None:
    """Run a socket's push loop; if it fails, close the socket instead of going quiet."""
    try:
        await pump
    except MatrixError as exc:  # e.g. the user left the room
        await ws.close(code=close_code(exc), message=exc.errcode.encode())
    except (ConnectionError, RuntimeError):
        pass  # the peer went away while we wrote
    except Exception:
        log.exception("socket push loop failed")
        await ws.close(code=WSCloseCode.INTERNAL_ERROR)


async def _relay(sender: FrameSender, server: Homeserver, subscription: Subscription,
                 who: Requester, room_id: str, peer: str) -> None:
    """Turn channel messages into server frames until the socket closes."""
    typing_seen: set[str] = set()
    while not sender.ws.closed:
        message = await subscription.next()
        if subscription.overflowed:  # it fell too far behind to catch up here
            await sender.cut_off()
            return
        if message is None:
            continue
        payload = message[1]
        kind = payload.get("kind")
        if kind == "event":
            event = await server.reader.event(who.user_id, room_id, payload["event_id"])
            if event["type"] in RELAYED_TYPES:
                await sender.send({"type": "message", "event": event})
        elif kind == "typing" and payload.get("room_id") == room_id:
            now = set(await server.typing.typing_in(room_id)) - {who.user_id}
            for user in now ^ typing_seen:
                await sender.send({"type": "typing", "user_id": user, "typing": user in now})
            typing_seen = now
        elif kind == "presence" and payload.get("user_id") == peer:
            content = (await server.presence.contents([peer]))[peer]
            await sender.send({"type": "presence", "user_id": peer,
                               "presence": content["presence"],
                                "last_active_ago": content.get("last_active_ago")})
