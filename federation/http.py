"""Inbound federation requests: who sent it, proven by its X-Matrix signature."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from client_api.http import decode_json_object
from federation.keyring import UnknownKey
from federation.request_auth import (
    AuthHeaderError,
    RequestAuthError,
    parse_authorization,
    verify_request,
)
from federation.services import FEDERATION, Federation
from homeserver.errors import Unauthorized
from homeserver.services import HOMESERVER

log = logging.getLogger(__name__)


def federation_of(request: web.Request) -> Federation:
    return request.app[FEDERATION]


async def signed_body(request: web.Request) -> dict[str, Any] | None:
    raw = await request.read()
    return decode_json_object(raw) if raw.strip() else None


async def origin_of(request: web.Request, content: Any = None) -> str:
    """The origin server of a request signed for us; 401 M_UNAUTHORIZED otherwise."""
    headers = request.headers.getall("Authorization", [])
    if not headers:
        raise Unauthorized("Missing X-Matrix authorization")
    our_name = request.app[HOMESERVER].server_name
    keyring = federation_of(request).keyring
    for header in headers:
        try:
            auth = parse_authorization(header)
            verify_key = await keyring.verify_key(auth.origin, auth.key_id)
            verify_request(auth, verify_key, request.method, request.raw_path, our_name,
                           content)
        except (AuthHeaderError, UnknownKey, RequestAuthError) as exc:
            log.info("refused federation request to %s: %s", request.raw_path, exc)
            continue
        await federation_of(request).sender.heard_from(auth.origin)
        return auth.origin
    raise Unauthorized("Request signature could not be verified")
