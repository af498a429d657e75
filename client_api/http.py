"""The client API's own request helpers: bodies checked against schemas, who is asking, and
from where. Helpers federation shares are in homeserver/web/http.py."""

from __future__ import annotations

from typing import Any, TypeVar

from aiohttp import web

from client_api.cookie_auth import session_token
from client_api.proxies import real_client, trusted_networks
from homeserver.accounts import Requester
from homeserver.errors import BadJson, MissingToken
from homeserver.schema import SchemaError, parse
from homeserver.web.http import decode_json_object, hs, read_raw

T = TypeVar("T")


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


def access_token_of(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.query.get("access_token") or None


async def request_token(request: web.Request) -> str:
    """The request's access token, else the web page's session cookie's."""
    token = access_token_of(request) or await session_token(request)
    if token is None:
        raise MissingToken("Missing access token")
    return token


async def requester(request: web.Request) -> Requester:
    """Who sent the request: by access token, else by the web page's session cookie."""
    return await hs(request).accounts.authenticate(await request_token(request))


def client_address(request: web.Request) -> str:
    """The client's IP address, behind any of ``listen.trusted_proxies``."""
    peer = request.remote or "unknown"
    proxies = hs(request).config.listen.trusted_proxies
    if not proxies:
        return peer
    forwarded = request.headers.getall("X-Forwarded-For", [])
    return real_client(peer, forwarded, trusted_networks(tuple(proxies)))
