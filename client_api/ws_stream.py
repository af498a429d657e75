"""GET /_matrix/client/unstable/ws: one socket per client for all its rooms.

On connect (optionally ``?since=<token>``) the server sends a sync-shaped
frame ``{"type": "sync", "next_batch", ...}``, then one incremental frame for
every later change. Reconnecting with the last ``next_batch`` delivers what
was missed, once, in order: the frames are /sync answers built from the
token. Client frames are the DM socket's; message and typing frames name
their ``room_id``, presence frames need none.
"""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web

from client_api.ws_auth import socket_session
from client_api.ws_dm import frame_sender, handle_frame
from client_api.ws_frames import FrameSender, answer_frames, close_on_failure, socket_endpoint
from homeserver.accounts import HeldSession
from homeserver.services import Homeserver
from homeserver.sync.answers import SyncRequest
from homeserver.sync.filters import NO_FILTER
from homeserver.sync.tokens import parse_serial, parse_token
from homeserver.web.http import hs

routes = web.RouteTableDef()


@routes.get("/_matrix/client/unstable/ws")
@socket_endpoint
async def stream_socket(request: web.Request, ws: web.WebSocketResponse) -> None:
    server = hs(request)
    async with socket_session(request, ws) as session:
        since = request.query.get("since")
        if since:
            parse_token(since)
        async with server.presence.connection(session.requester.user_id):
            await _serve(frame_sender(ws, request), server, session, since)


async def _serve(sender: FrameSender, server: Homeserver, session: HeldSession,
                 since: str | None) -> None:
    ws = sender.ws
    pump = asyncio.create_task(close_on_failure(ws, _push_syncs(sender, server, session,
                                                                since)))
    try:
        await answer_frames(
            sender,
            lambda frame: handle_frame(server, session, frame, getattr(frame, "room_id", None)),
            server.config.limits.socket_max_frame_bytes)
    finally:
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError, RuntimeError):
            await pump


async def _push_syncs(sender: FrameSender, server: Homeserver, session: HeldSession,
                      token: str | None) -> None:
    """Send the first sync frame, then one frame per change, each from the last token.

    One subscription serves the whole socket; each wake is answered by reading
    from the last token, so a frame holds everything since the one before."""
    who = session.requester
    async with server.sync.listen(who.user_id) as listener:
        first = True
        while not sender.ws.closed and not server.sync.stopping:
            if session.revoked.is_set():  # nothing more is sent; ws_auth closes the socket
                return
            result = await server.sync.build(SyncRequest(
                user_id=who.user_id, device_id=who.device_id,
                since=parse_token(token) if token else None,
                typing_since=parse_serial(token, 0) if token else None,
                presence_since=parse_serial(token, 1) if token else None,
                to_device_since=parse_serial(token, 2) if token else None,
                sync_filter=NO_FILTER,
            ))
            body = result.to_json()
            if first or not result.empty:
                await sender.send({"type": "sync", **body})
            token, first = body["next_batch"], False
            del result, body  # not held through the wait: an idle socket keeps no old frame
            await listener.wait(None)
