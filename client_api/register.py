"""Registration with user-interactive auth (m.login.dummy) and name availability."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web

from client_api.http import client_address, read_body
from client_api.login import session_response
from homeserver.errors import Forbidden, InvalidParam, MatrixError
from homeserver.schema import optional
from homeserver.web.http import hs, json_response

routes = web.RouteTableDef()


@dataclass
class RegisterBody:
    username: str | None = None  # its length is the username grammar's to judge
    password: str | None = optional(None, max_len=512)
    device_id: str | None = optional(None, max_len=255)
    initial_device_display_name: str | None = optional(None, max_len=256)
    inhibit_login: bool = False
    auth: dict[str, Any] | None = None


@routes.post("/_matrix/client/v3/register")
async def register(request: web.Request) -> web.Response:
    server = hs(request)
    if request.query.get("kind", "user") != "user":
        raise MatrixError("Guest access is disabled", status=403,
                          errcode="M_GUEST_ACCESS_FORBIDDEN")
    body = await read_body(request, RegisterBody)
    if not server.config.registration_open:
        raise Forbidden("Registration is disabled")
    await server.ratelimiter.check("register", client_address(request))
    if body.username is not None:
        await server.accounts.check_username_available(body.username)
    await server.accounts.check_registration_auth(body.auth)
    user_id = await server.accounts.register(body.username, body.password)
    if body.inhibit_login:
        return json_response({"user_id": user_id, "home_server": server.server_name})
    session = await server.accounts.start_session(
        user_id, body.device_id, body.initial_device_display_name
    )
    return session_response(request, session)


@routes.get("/_matrix/client/v3/register/available")
async def available(request: web.Request) -> web.Response:
    username = request.query.get("username")
    if not username:
        raise InvalidParam("username is required")
    server = hs(request)
    await server.ratelimiter.check("register", client_address(request))
    await server.accounts.check_username_available(username)
    return json_response({"available": True})
