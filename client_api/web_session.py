"""The web page's login: ``/_matrix/client/unstable/web/session``.

``POST`` logs in (or, with ``"register": true``, registers) with a username
and password and sets the session cookie (see ``cookie_auth``); ``GET``
says who is logged in and repeats the CSRF token; ``DELETE`` logs that
device out and clears the cookie.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from aiohttp import web
from aiohttp_session import get_session, new_session

from client_api.cookie_auth import check_login_request, session_token
from client_api.http import client_address, read_body
from homeserver.errors import Forbidden, MissingToken
from homeserver.schema import limit
from homeserver.web.http import hs, json_response

routes = web.RouteTableDef()
PATH = "/_matrix/client/unstable/web/session"


@dataclass
class WebLoginBody:
    username: str = limit(max_len=255)
    password: str = limit(max_len=1024)
    register: bool = False


@routes.post(PATH)
async def log_in(request: web.Request) -> web.Response:
    server = hs(request)
    check_login_request(request)
    body = await read_body(request, WebLoginBody)
    if body.register:
        if not server.config.registration_open:
            raise Forbidden("Registration is disabled")
        await server.ratelimiter.check("register", client_address(request))
        user_id = await server.accounts.register(body.username, body.password)
    else:
        await server.ratelimiter.check("login", client_address(request))
        user_id = await server.accounts.login_with_password(body.username, body.password)
    login = await server.accounts.start_session(user_id, None, "Web page")
    session = await new_session(request)  # a fresh session: no fixation
    session["token"] = login.access_token
    session["csrf"] = secrets.token_urlsafe(24)
    return json_response(_describe(login.user_id, login.device_id, session["csrf"]))


@routes.get(PATH)
async def who_am_i(request: web.Request) -> web.Response:
    session = await get_session(request)
    token = session.get("token")
    if token is None:
        raise MissingToken("Not logged in")
    who = await hs(request).accounts.authenticate(token)
    return json_response(_describe(who.user_id, who.device_id, session["csrf"]))


@routes.delete(PATH)
async def log_out(request: web.Request) -> web.Response:
    token = await session_token(request)
    if token is None:
        raise MissingToken("Not logged in")
    server = hs(request)
    await server.accounts.logout(await server.accounts.authenticate(token))
    (await get_session(request)).invalidate()
    return json_response({})


def _describe(user_id: str, device_id: str, csrf: str) -> dict[str, str]:
    return {"user_id": user_id, "device_id": device_id, "csrf_token": csrf}
