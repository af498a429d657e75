"""The DM endpoints: the pair's room for a user, and the DM list of a sidebar."""

from __future__ import annotations

from aiohttp import web

from client_api.http import requester
from homeserver.web.http import hs, json_response, path_param

routes = web.RouteTableDef()


@routes.post("/_matrix/client/unstable/dm/{user_id}")
async def resolve_dm(request: web.Request) -> web.Response:
    who = await requester(request)
    resolved = await hs(request).dms.resolve(who.user_id, path_param(request, "user_id"))
    return json_response({"room_id": resolved.room_id, "created": resolved.created})


@routes.get("/_matrix/client/unstable/dm")
async def dm_list(request: web.Request) -> web.Response:
    who = await requester(request)
    return json_response({"dms": await hs(request).dms.dm_list(who.user_id)})
