"""PUT /rooms/{roomId}/typing/{userId}: start or stop typing, for yourself only."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from client_api.http import read_body, requester
from homeserver.errors import Forbidden
from homeserver.schema import limit, optional
from homeserver.web.http import hs, json_response, room_id_param

routes = web.RouteTableDef()


@dataclass
class TypingBody:
    typing: bool = limit()
    timeout: int = optional(30_000, min=0, max=2**31)


@routes.put("/_matrix/client/v3/rooms/{room_id}/typing/{user_id}")
async def set_typing(request: web.Request) -> web.Response:
    who = await requester(request)
    room_id = room_id_param(request)
    body = await read_body(request, TypingBody)
    if request.match_info["user_id"] != who.user_id:
        raise Forbidden("You can only set your own typing state")
    await hs(request).typing.set_typing(who.user_id, room_id, body.typing, body.timeout)
    return json_response({})
