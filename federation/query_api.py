"""Inbound queries: our server's version and our users' public profiles."""

from __future__ import annotations

from aiohttp import web

from federation.http import origin_of
from homeserver.errors import InvalidParam, NotFound
from homeserver.web.http import hs, json_response

routes = web.RouteTableDef()
PROFILE_FIELDS = {"displayname", "avatar_url"}


@routes.get("/_matrix/federation/v1/version")
async def version(request: web.Request) -> web.Response:
    return json_response({"server": {"name": "homeserver", "version": "0.1.0"}})


@routes.get("/_matrix/federation/v1/query/profile")
async def profile(request: web.Request) -> web.Response:
    await origin_of(request)
    user_id = request.query.get("user_id", "")
    field = request.query.get("field")
    if field is not None and field not in PROFILE_FIELDS:
        raise InvalidParam("field must be displayname or avatar_url")
    server = hs(request)
    if not user_id.endswith(":" + server.server_name):
        raise NotFound("Not one of our users")
    found = await server.accounts.profile(user_id)
    return json_response({field: found[field]} if field and field in found else
                         ({} if field else found))
