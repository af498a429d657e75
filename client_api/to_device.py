"""PUT /sendToDevice/{eventType}/{txnId}: messages straight to other users' devices."""

from __future__ import annotations

from aiohttp import web

from client_api.http import read_object, requester
from homeserver.web.http import hs, json_response, path_param

routes = web.RouteTableDef()


@routes.put("/_matrix/client/v3/sendToDevice/{event_type}/{txn_id}")
async def send_to_device(request: web.Request) -> web.Response:
    who = await requester(request)
    event_type = path_param(request, "event_type")
    txn_id = path_param(request, "txn_id")
    body = await read_object(request)
    server = hs(request)
    await server.ratelimiter.check("to_device", who.user_id)
    await server.to_device.send(who.user_id, who.device_id, event_type, txn_id,
                                     body.get("messages"))
    return json_response({})
