"""GET /ws/dm/{user_id}: one socket per DM, relaying messages, typing and presence.

The URL names the other person; the server resolves the pair's room with
the same function as the DM endpoint and subscribes the socket to the
pair's channel. The first server frame, ``ready``, says the subscription is
live and carries the room ID and the peer's presence. Frames from the client
become events (idempotent on txn_id) or typing/presence changes; everything new in the DM, from any
socket, HTTP or worker, comes back as a server frame.

The socket also carries what end-to-end encryption needs, as /sync does: the
device's to-device messages (``{"type": "to_device", "events", "position"}``,
kept until the client sends ``{"type": "to_device_ack", "position"}`` or a sync
token past them comes back) and ``{"type": "device_lists", "changed": [user]}``
when the peer's or the user's own devices or keys change.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from aiohttp import web

from client_api.ws_auth import socket_session
from client_api.ws_frames import (
    Frame,
    FrameSender,
    MessageFrame,
    PresenceFrame,
    ToDeviceAckFrame,
    answer_frames,
    close_on_failure,
    socket_endpoint,
)
from homeserver.accounts import HeldSession, Requester
from homeserver.channels import user_channel
from homeserver.errors import BadJson
from homeserver.notifier import Subscription
from homeserver.services import Homeserver
from homeserver.web.http import hs

routes = web.RouteTableDef()
RELAYED_TYPES = {"m.room.message", "m.room.encrypted"}


@routes.get("/ws/dm/{user_id}")
@socket_endpoint
async def dm_socket(request: web.Request, ws: web.WebSocketResponse) -> None:
    server = hs(request)
    async with socket_session(request, ws) as session:
        who = session.requester
        peer = request.match_info["user_id"]
        room_id = (await server.dms.resolve(who.user_id, peer)).room_id
        channel = await server.channels.of(room_id)
        server.typing.socket_opened(who.user_id, room_id)
        async with server.presence.connection(who.user_id):
            await _serve(frame_sender(ws, request), server, session, room_id, peer, channel)


def frame_sender(ws: web.WebSocketResponse, request: web.Request) -> FrameSender:
    return FrameSender(ws, request, hs(request).config.limits.socket_send_timeout_ms / 1000)


async def _serve(sender: FrameSender, server: Homeserver, session: HeldSession,
                 room_id: str, peer: str, channel: str) -> None:
    ws = sender.ws
    who = session.requester
    queue = server.config.limits.socket_queue
    channels = [channel, user_channel(who.user_id)]
    with server.notifier.subscribe(channels, max_queued=queue) as subscription:
        await subscription.ready()
        # From here nothing published in the DM can be missed; the client may rely on it.
        presence = (await server.presence.contents([peer]))[peer]
        await ws.send_json({"type": "ready", "room_id": room_id, "user_id": peer,
                            "presence": presence["presence"],
                            "last_active_ago": presence.get("last_active_ago")})
        pump = asyncio.create_task(
            close_on_failure(ws, _relay(sender, server, subscription, session, room_id, peer))
        )
        try:
            await answer_frames(sender,
                                lambda frame: handle_frame(server, session, frame, room_id),
                                server.config.limits.socket_max_frame_bytes)
        finally:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError, RuntimeError):
                await pump
            await server.typing.socket_closed(who.user_id, room_id)


async def handle_frame(server: Homeserver, session: HeldSession, frame: Frame,
                       room_id: str | None) -> dict[str, Any] | None:
    """Carry out one client frame (in ``room_id`` unless presence); the answer, if any."""
    session.check()  # a frame read after a revocation, before the socket closed
    who = session.requester
    if isinstance(frame, PresenceFrame):
        await server.presence.set_presence(who.user_id, frame.status)
        return None
    if isinstance(frame, ToDeviceAckFrame):
        await server.to_device.acknowledge(who.user_id, who.device_id, frame.position)
        return None
    if room_id is None:
        raise BadJson("room_id is required on this socket")
    if isinstance(frame, MessageFrame):
        await server.ratelimiter.check("message", who.user_id)
        event_id = await server.rooms.send(
            who.user_id, who.device_id, room_id, "m.room.message",
            {"msgtype": "m.text", "body": frame.body}, txn_id=frame.txn_id,
        )
        return {"type": "ack", "txn_id": frame.txn_id, "event_id": event_id}
    await server.typing.set_typing(who.user_id, room_id, frame.status == "start")
    return None


async def _relay(sender: FrameSender, server: Homeserver, subscription: Subscription,
                 session: HeldSession, room_id: str, peer: str) -> None:
    """Turn channel messages into server frames until the socket closes."""
    who = session.requester
    typing_seen: set[str] = set()
    to_device_sent = await _push_to_device(sender, server, who, 0)
    own_channel = user_channel(who.user_id)
    while not sender.ws.closed:
        message = await subscription.next()
        if session.revoked.is_set():  # news that came with the revocation is not sent;
            return                    # ws_auth closes the socket
        if subscription.overflowed:  # it fell too far behind to catch up here
            await sender.cut_off()
            return
        channel, payload = message
        kind = payload.get("kind")
        if kind == "to_device":
            to_device_sent = await _push_to_device(sender, server, who, to_device_sent)
        elif kind == "device_list" and payload.get("user_id") in (peer, who.user_id):
            await sender.send({"type": "device_lists", "changed": [payload["user_id"]],
                               "left": []})
        elif channel == own_channel:
            continue  # the user's other news (invites, account data) is not this DM's
        elif kind == "event":
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


async def _push_to_device(sender: FrameSender, server: Homeserver, who: Requester,
                          after: int) -> int:
    """Send the device's to-device messages past ``after``; the position sent up to."""
    while True:
        events, position = await server.to_device.pending(who.user_id, who.device_id, after)
        if not events:
            return after
        await sender.send({"type": "to_device", "events": events, "position": position})
        after = position
