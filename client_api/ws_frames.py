"""The WebSocket protocol's client frames, checked by schema; errors become error frames.

Client frames::

    {"type": "message", "body": "...", "txn_id": "..."[, "room_id": "..."]}
    {"type": "typing", "status": "start" | "stop"[, "room_id": "..."]}
    {"type": "presence", "status": "online" | "unavailable"}
    {"type": "to_device_ack", "position": <the position of a to_device frame>}

Every frame a client sends is answered or refused, and the socket lives on:
a frame that is not JSON, not an object, of the wrong shape, nested too deep
or holding a lone surrogate gets an error frame ``{"type": "error",
"errcode", "error"}``. A frame over ``limits.socket_max_frame_bytes`` is
refused by aiohttp before it is read (close 1009); text that is not UTF-8
closes with 1007.

Close codes sent before any data when a socket cannot be opened:
4001 no or unknown access token, 4003 not allowed, 4004 unknown user,
4000 a bad request (for example a DM with yourself). An open socket whose
client stops reading is closed with 4008 once a send waits longer than
``limits.socket_send_timeout_ms`` or its queue passes ``limits.socket_queue``
messages: reconnect and fill the gap from the last token. Once the handshake
is out nothing is ever answered in HTTP on the socket: an unexpected failure
closes it with 1011.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from homeserver import strict_json
from homeserver.errors import BadJson, MatrixError, NotJson, TooLarge
from homeserver.schema import SchemaError, limit, optional, parse
from homeserver.web.http import UPGRADED_SOCKET, hs

log = logging.getLogger(__name__)
MAX_BODY_CHARS = 32_000
HEARTBEAT_SECONDS = 30.0
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


@dataclass
class ToDeviceAckFrame:
    """The client holds the to-device messages up to ``position``: they may go."""

    position: int = limit(min=0, max=2**53 - 1)


FRAMES: dict[str, type] = {"message": MessageFrame, "typing": TypingFrame,
                           "presence": PresenceFrame, "to_device_ack": ToDeviceAckFrame}
Frame = MessageFrame | TypingFrame | PresenceFrame | ToDeviceAckFrame
Answer = Callable[[Frame], Awaitable[dict[str, Any] | None]]


def parse_frame(raw: str, max_chars: int) -> Frame:
    if len(raw) > max_chars:  # aiohttp's own limit is in bytes; never parse past ours
        raise TooLarge("Frame too large")
    data = strict_json.loads(raw, safe_numbers=True)
    if not isinstance(data, dict):
        raise BadJson("Frame must be a JSON object")
    kind = data.get("type")
    if not isinstance(kind, str) or kind not in FRAMES:
        raise MatrixError(f"Unknown frame type {str(kind)[:40]!r}", errcode="M_UNRECOGNIZED")
    fields = {k: v for k, v in data.items() if k != "type"}
    try:
        return parse(FRAMES[kind], fields)
    except SchemaError as exc:
        raise BadJson(str(exc)) from None


def error_frame(exc: MatrixError) -> dict[str, Any]:
    return {"type": "error", "errcode": exc.errcode, "error": exc.message}


def close_code(exc: MatrixError) -> int:
    return CLOSE_CODES.get(exc.status, 4000)


async def answer_frames(sender: FrameSender, answer: Answer, max_chars: int) -> None:
    """Read client frames until the socket closes; each gets its answer or an error frame,
    sent like any push: a client that sends but never reads is cut off, not waited for."""
    async for msg in sender.ws:
        if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
            continue
        try:
            if msg.type == WSMsgType.BINARY:
                raise NotJson("Frames must be text")
            reply = await answer(parse_frame(msg.data, max_chars))
        except MatrixError as exc:
            reply = error_frame(exc)
        if reply is not None:
            await sender.send(reply)


async def close_on_failure(ws: web.WebSocketResponse, pump: Awaitable[None]) -> None:
    """Run a socket's work; if it fails, close the socket with a code instead of going quiet."""
    try:
        await pump
    except MatrixError as exc:  # e.g. the user left the room
        await ws.close(code=close_code(exc), message=exc.errcode.encode())
    except (ConnectionError, RuntimeError):
        pass  # the peer went away while we wrote
    except Exception:
        log.exception("socket failed")
        await ws.close(code=WSCloseCode.INTERNAL_ERROR)


Serve = Callable[[web.Request, web.WebSocketResponse], Awaitable[None]]


def socket_endpoint(serve: Serve) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """A WebSocket handler: accept, then ``serve``; every failure becomes a close code."""

    @functools.wraps(serve)
    async def handler(request: web.Request) -> web.StreamResponse:
        ws = await open_socket(request)
        await close_on_failure(ws, serve(request, ws))
        return ws

    return handler


OPEN_SOCKETS = web.AppKey("open_sockets", weakref.WeakSet)


async def open_socket(request: web.Request) -> web.WebSocketResponse:
    """Accept a WebSocket and remember it, so a shutdown can say goodbye to it."""
    ws = web.WebSocketResponse(heartbeat=HEARTBEAT_SECONDS,
                               max_msg_size=hs(request).config.limits.socket_max_frame_bytes)
    await ws.prepare(request)
    request[UPGRADED_SOCKET] = ws
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
        # Real time, not the injected clock: this bounds a write to a peer's TCP socket.
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
