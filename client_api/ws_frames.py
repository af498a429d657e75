"""The WebSocket protocol's client frames, checked by schema; errors become error frames.

Client frames::

    {"type": "message", "body": "...", "txn_id": "..."[, "room_id": "..."]}
    {"type": "typing", "status": "start" | "stop"[, "room_id": "..."]}
    {"type": "presence", "status": "online" | "unavailable"}

Close codes sent before any data when a socket cannot be opened:
4001 no or unknown access token, 4003 not allowed, 4004 unknown user,
4000 a bad request (for example a DM with yourself). An open socket whose
client stops reading is closed with 4008 once a send waits longer than
``limits.socket_send_timeout_ms`` or its queue passes ``limits.socket_queue``
messages: reconnect and fill the gap from the last token.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from dataclasses import dataclass
from typing import Any

from aiohttp import WSCloseCode, web

from homeserver.errors import BadJson, MatrixError, NotJson
from homeserver.schema import SchemaError, limit, optional, parse

MAX_BODY_CHARS = 32_000
CLOSE_CODES = {401: 4001, 403: 4003, 404: 4004}
CLOSE_TOO_SLOW = 4008


@dataclass
class MessageFrame:
    body: str = limit(max_len=MAX_BODY_CHARS, min_len=1)
    txn_id: str = limit(max_len=255, min_len=1)
    room_id: str | None = optional(None, max_len=255)  # the general stream names the room


@dataclass
class TypingFrame:
    status: str = limit(choices={"start", "stop"})
    room_id: str | None = optional(None, max_len=255)


@dataclass
class PresenceFrame:
    status: str = limit(choices={"online", "unavailable"})


FRAMES: dict[str, type] = {"message": MessageFrame, "typing": TypingFrame,
                           "presence": PresenceFrame}
Frame = MessageFrame | TypingFrame | PresenceFrame


def parse_frame(raw: str) -> Frame:
    try:
        data = json.loads(raw)
    except ValueError:
        raise NotJson("Frame is not JSON") from None
    if not isinstance(data, dict):
        raise NotJson("Frame must be a JSON object")
    kind = data.get("type")
    if kind not in FRAMES:
        raise MatrixError(f"Unknown frame type {kind!r}", errcode="M_UNRECOGNIZED")
    fields = {k: v for k, v in data.items() if k != "type"}
    try:
        return parse(FRAMES[kind], fields)
    except SchemaError as exc:
        raise BadJson(str(exc)) from None


def error_frame(exc: MatrixError) -> dict[str, Any]:
    return {"type": "error", "errcode": exc.errcode, "error": exc.message}


def close_code(exc: MatrixError) -> int:
    return CLOSE_CODES.get(exc.status, 4000)



OPEN_SOCKETS = web.AppKey("open_sockets", weakref.WeakSet)


async def open_socket(request: web.Request, heartbeat: float) -> web.WebSocketResponse:
    """Accept a WebSocket and remember it, so a shutdown can say goodbye to it."""
    ws = web.WebSocketResponse(heartbeat=heartbeat)
    await ws.prepare(request)
    request.app[OPEN_SOCKETS].add(ws)
    return ws


def close_sockets_on_shutdown(app: web.Application) -> None:
    app[OPEN_SOCKETS] = weakref.WeakSet()

    async def going_away(app: web.Application) -> None:
        # Without this a stopping server waits for every client to hang up.
        await asyncio.gather(*(ws.close(code=WSCloseCode.GOING_AWAY, message=b"shutting down")
                               for ws in list(app[OPEN_SOCKETS])), return_exceptions=True)

    app.on_shutdown.append(going_away)


class FrameSender:
    """Pushes server frames; a client that stops reading is cut off with 4008."""

    def __init__(self, ws: web.WebSocketResponse, request: web.Request,
                 timeout_s: float) -> None:
        self.ws = ws
        self.request = request
        self.timeout_s = timeout_s

    async def send(self, frame: dict[str, Any]) -> None:
        try:
            async with asyncio.timeout(self.timeout_s):
                await self.ws.send_json(frame)
        except TimeoutError:
            await self.cut_off()

    async def cut_off(self) -> None:
        """Close as too slow; if even the close frame cannot leave, drop the connection."""
        try:
            async with asyncio.timeout(1.0):
                await self.ws.close(code=CLOSE_TOO_SLOW, message=b"client too slow")
        except TimeoutError:
            if self.request.transport is not None:
                self.request.transport.abort()
