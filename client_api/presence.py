"""PUT/GET /presence/{userId}/status: set your own, read those you share a room with."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from client_api.http import read_body, requester
from homeserver.errors import Forbidden
from homeserver.presence import STATES
from homeserver.schema import limit, optional
from homeserver.web.http import hs, json_response, path_param

routes = web.RouteTableDef()


@dataclass
class PresenceBody:
    presence: str = limit(choices=set(STATES))
    status_msg: str | None = optional(None, max_len=1024)


@routes.put("/_matrix/client/v3/presence/{user_id}/status")
async def set_status(request: web.Request) -> web.Response:
    who = await requester(request)
    body = await read_body(request, PresenceBody)
    if request.match_info["user_id"] != who.user_id:
        raise Forbidden("You can only set your own presence")
    await hs(request).presence.set_presence(who.user_id, body.presence, body.status_msg)
    return json_response({})


@routes.get("/_matrix/client/v3/presence/{user_id}/status")
async def get_status(request: web.Request) -> web.Response:
    who = await requester(request)
    view = await hs(request).presence.view_for(who.user_id, path_param(request, "user_id"))
    return json_response(view)
