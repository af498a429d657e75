"""Login with a password, logout of one device or all of them."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from client_api.http import client_address, read_body, requester
from homeserver.accounts import Session
from homeserver.errors import BadJson, MatrixError
from homeserver.schema import optional
from homeserver.web.http import hs, json_response

routes = web.RouteTableDef()


@dataclass
class Identifier:
    type: str
    user: str | None = optional(None, max_len=255)


@dataclass
class LoginBody:
    type: str
    identifier: Identifier | None = None
    user: str | None = optional(None, max_len=255)
    password: str | None = optional(None, max_len=512)
    device_id: str | None = optional(None, max_len=255)
    initial_device_display_name: str | None = optional(None, max_len=256)


def session_response(request: web.Request, session: Session) -> web.Response:
    server = hs(request)
    return json_response({
        "user_id": session.user_id,
        "access_token": session.access_token,
        "device_id": session.device_id,
        "home_server": server.server_name,
        "well_known": {"m.homeserver": {"base_url": server.config.base_url}},
    })


@routes.get("/_matrix/client/v3/login")
async def login_flows(request: web.Request) -> web.Response:
    return json_response({"flows": [{"type": "m.login.password"}]})


@routes.post("/_matrix/client/v3/login")
async def login(request: web.Request) -> web.Response:
    body = await read_body(request, LoginBody)
    server = hs(request)
    if body.type != "m.login.password":
        raise MatrixError(f"Unknown login type {body.type}", status=400, errcode="M_UNKNOWN")
    user = _user_of(body)
    if body.password is None:
        raise BadJson("password is required")
    await server.ratelimiter.check("login", client_address(request))
    user_id = await server.accounts.login_with_password(user, body.password)
    session = await server.accounts.start_session(
        user_id, body.device_id, body.initial_device_display_name
    )
    return session_response(request, session)


def _user_of(body: LoginBody) -> str:
    if body.identifier is not None:
        if body.identifier.type != "m.id.user":
            raise MatrixError("Unknown login identifier type", status=400, errcode="M_UNKNOWN")
        if body.identifier.user is None:
            raise BadJson("identifier.user is required")
        return body.identifier.user
    if body.user is None:
        raise BadJson("identifier is required")
    return body.user


@routes.post("/_matrix/client/v3/logout")
async def logout(request: web.Request) -> web.Response:
    who = await requester(request)
    await hs(request).accounts.logout(who)
    return json_response({})


@routes.post("/_matrix/client/v3/logout/all")
async def logout_all(request: web.Request) -> web.Response:
    who = await requester(request)
    await hs(request).accounts.logout_all(who)
    return json_response({})
