"""GET /_matrix/client/unstable/ws: one socket per client for all its rooms.

On connect (optionally ``?since=<token>``) the server sends a sync-shaped
frame ``{"type": "sync", "next_batch", ...}``, then one incremental frame for
every later change. Reconnecting with the last ``next_batch`` delivers what
was missed, once, in order: the frames are /sync answers built from the
token. Client frames are the DM socket's, each with a ``room_id``.
"""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import WSMsgType, web

from client_api.http import hs, requester
from client_api.ws_dm import HEARTBEAT_SECONDS, close_on_failure, frame_sender, handle_frame
from client_api.ws_frames import FrameSender, close_code, error_frame, open_socket, parse_frame
from homeserver.accounts import Requester
from homeserver.errors import BadJson, MatrixError
from homeserver.services import Homeserver
from homeserver.sync.filters import SyncFilter
from homeserver.sync.service import SyncRequest
from homeserver.sync.tokens import parse_serial, parse_token

routes = web.RouteTableDef()
WAIT_MS = 30_000


@routes.get("/_matrix/client/unstable/ws")
async def stream_socket(request: web.Request) -> web.WebSocketResponse:
    ws = await open_socket(request, HEARTBEAT_SECONDS)
    try:
        who = await requester(request)
        since = request.query.get("since")
        if since:
            parse_token(since)
    except MatrixError as exc:
        await ws.close(code=close_code(exc), message=exc.errcode.encode())
        return ws
    server = hs(request)
    async with server.presence.connection(who.user_id):
        await _serve(frame_sender(ws, request), server, who, since)
    return ws


async def _serve(sender: FrameSender, server: Homeserver, who: Requester,
                 since: str | None) -> None:
    ws = sender.ws
    pump = asyncio.create_task(close_on_failure(ws, _push_syncs(sender, server, who, since)))
    try:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            reply = await _answer(server, who, msg.data)
            if reply is not None:
                await ws.send_json(reply)
    finally:
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError, RuntimeError):
            await pump


async def _answer(server: Homeserver, who: Requester, raw: str) -> dict | None:
    try:
        frame = parse_frame(raw)
        room_id = getattr(frame, "room_id", None)
        if room_id is None:
            raise BadJson("room_id is required on this socket")
        return await handle_frame(server, who, frame, room_id)
    except MatrixError as exc:
        return error_frame(exc)


async def _push_syncs(sender: FrameSender, server: Homeserver, who: Requester,
                      token: str | None) -> None:
    """Send the first sync frame, then one frame per change, each from the last token."""
    first = True
    while not sender.ws.closed:
        result = await server.sync.sync(SyncRequest(
            user_id=who.user_id, device_id=who.device_id,
            since=parse_token(token) if token else None,
            typing_since=parse_serial(token, 0) if token else None,
            presence_since=parse_serial(token, 1) if token else None,
            sync_filter=SyncFilter(), timeout_ms=0 if first else WAIT_MS,
        ))
        body = result.to_json()
        if first or not result.empty:
            await sender.send({"type": "sync", **body})
        token, first = body["next_batch"], False
