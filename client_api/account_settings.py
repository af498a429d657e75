"""An account's own settings: password change, deactivation, third-party IDs (none)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web

from client_api.http import read_body, requester
from homeserver.schema import limit, optional
from homeserver.web.http import hs, json_response

routes = web.RouteTableDef()


@dataclass
class PasswordBody:
    new_password: str = limit(max_len=512)
    logout_devices: bool = True
    auth: dict[str, Any] | None = None


@dataclass
class DeactivateBody:
    auth: dict[str, Any] | None = None
    id_server: str | None = optional(None, max_len=255)  # no identity server: ignored
    erase: bool = False


@routes.post("/_matrix/client/v3/account/password")
async def change_password(request: web.Request) -> web.Response:
    who = await requester(request)
    body = await read_body(request, PasswordBody)
    server = hs(request)
    await server.accounts.confirm_identity(who.user_id, body.auth)
    await server.accounts.change_password(who, body.new_password, body.logout_devices)
    return json_response({})


@routes.post("/_matrix/client/v3/account/deactivate")
async def deactivate(request: web.Request) -> web.Response:
    who = await requester(request)
    body = await read_body(request, DeactivateBody, allow_empty=True)
    server = hs(request)
    await server.accounts.confirm_identity(who.user_id, body.auth)
    await server.deactivation.deactivate(who.user_id)
    return json_response({"id_server_unbind_result": "no-support"})


@routes.get("/_matrix/client/v3/account/3pid")
async def threepids(request: web.Request) -> web.Response:
    await requester(request)
    return json_response({"threepids": []})
