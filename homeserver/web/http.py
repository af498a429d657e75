"""Request and response helpers both APIs use: JSON bodies and answers, path and query
parameters, and the request keys the middleware sets."""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp import hdrs, web

from homeserver import strict_json
from homeserver.errors import InvalidParam, TooLarge
from homeserver.services import HOMESERVER, Homeserver
from homeserver.web.content_encoding import decode_body

_INTEGER = re.compile(r"-?[0-9]{1,16}")
REQUEST_ID = web.RequestKey("request_id", str)
# Set once a WebSocket handshake is out: from then on no HTTP answer may be written.
UPGRADED_SOCKET = web.RequestKey("upgraded_socket", web.WebSocketResponse)


def hs(request: web.Request) -> Homeserver:
    return request.app[HOMESERVER]


def decode_json_object(raw: bytes, *, safe_numbers: bool = False,
                       max_nesting: int = strict_json.MAX_NESTING) -> dict[str, Any]:
    """Strict JSON (UTF-8, no NaN/Infinity, no lone surrogates, bounded nesting), an object."""
    return strict_json.loads_object(raw, safe_numbers=safe_numbers, max_nesting=max_nesting)


async def read_raw(request: web.Request) -> bytes:
    """The body, its Content-Encoding undone, within the request's size limit."""
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise TooLarge("Request body too large") from None
    if not raw:
        return raw
    return decode_body(raw, request.headers.get(hdrs.CONTENT_ENCODING),
                       request.client_max_size)


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode(),
        status=status,
        content_type="application/json",
    )


def query_int(request: web.Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    if not _INTEGER.fullmatch(raw):  # int() would take " 7", "1_0" and non-ASCII digits
        raise InvalidParam(f"{name} must be an integer")
    value = int(raw)
    if not lo <= value <= hi:
        raise InvalidParam(f"{name} must be between {lo} and {hi}")
    return value


def room_id_param(request: web.Request, name: str = "room_id") -> str:
    room_id = request.match_info[name]
    if not room_id.startswith("!") or ":" not in room_id or len(room_id) > 255:
        raise InvalidParam("Invalid room ID")
    return room_id


def path_param(request: web.Request, name: str, max_len: int = 255) -> str:
    value = request.match_info[name]
    if len(value) > max_len:
        raise InvalidParam(f"{name} is too long")
    return value
