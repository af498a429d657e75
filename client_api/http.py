"""Request and response helpers shared by every handler: JSON bodies, auth, queries."""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar

from aiohttp import hdrs, web

from client_api.content_encoding import decode_body
from client_api.cookie_auth import session_token
from client_api.proxies import real_client, trusted_networks
from homeserver import strict_json
from homeserver.accounts import Requester
from homeserver.errors import BadJson, InvalidParam, MissingToken, TooLarge
from homeserver.schema import SchemaError, parse
from homeserver.services import HOMESERVER, Homeserver

T = TypeVar("T")
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


async def read_object(request: web.Request, *, allow_empty: bool = False) -> dict[str, Any]:
    """A client's JSON object; its numbers must fit Canonical JSON's integers."""
    raw = await read_raw(request)
    if allow_empty and not raw.strip():
        return {}
    return decode_json_object(raw, safe_numbers=True)


async def read_body(request: web.Request, cls: type[T], *, allow_empty: bool = False) -> T:
    """Read the JSON body and check it against the dataclass schema ``cls``."""
    data = await read_object(request, allow_empty=allow_empty)
    try:
        return parse(cls, data)
    except SchemaError as exc:
        raise BadJson(str(exc)) from None


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode(),
        status=status,
        content_type="application/json",
    )


def access_token_of(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.query.get("access_token") or None


async def requester(request: web.Request) -> Requester:
    """Who sent the request: by access token, else by the web page's session cookie."""
    token = access_token_of(request) or await session_token(request)
    if token is None:
        raise MissingToken("Missing access token")
    return await hs(request).accounts.authenticate(token)


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


def client_address(request: web.Request) -> str:
    """The client's IP address, behind any of ``listen.trusted_proxies``."""
    peer = request.remote or "unknown"
    proxies = hs(request).config.listen.trusted_proxies
    if not proxies:
        return peer
    forwarded = request.headers.getall("X-Forwarded-For", [])
    return real_client(peer, forwarded, trusted_networks(tuple(proxies)))


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
