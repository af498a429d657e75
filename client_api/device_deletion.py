"""Deleting devices: DELETE /devices/{deviceId} and POST /delete_devices, each behind
user-interactive auth. A deleted device loses its tokens, keys and waiting messages."""

from __future__ import annotations

from aiohttp import web

from client_api.http import read_object, requester
from homeserver.errors import BadJson, TooLarge
from homeserver.web.http import hs, json_response, path_param

routes = web.RouteTableDef()
MAX_DEVICES_PER_DELETE = 1_000


@routes.delete("/_matrix/client/v3/devices/{device_id}")
async def delete_device(request: web.Request) -> web.Response:
    who = await requester(request)
    device_id = path_param(request, "device_id")
    body = await read_object(request, allow_empty=True)
    server = hs(request)
    await server.accounts.confirm_identity(who.user_id, body.get("auth"))
    await server.accounts.delete_devices(who.user_id, [device_id])
    return json_response({})


@routes.post("/_matrix/client/v3/delete_devices")
async def delete_devices(request: web.Request) -> web.Response:
    who = await requester(request)
    body = await read_object(request)
    devices = body.get("devices")
    if not isinstance(devices, list) or not all(
            isinstance(d, str) and 0 < len(d) <= 255 for d in devices):
        raise BadJson("devices must be a list of device IDs")
    if len(devices) > MAX_DEVICES_PER_DELETE:
        raise TooLarge(f"At most {MAX_DEVICES_PER_DELETE} devices at once")
    server = hs(request)
    await server.accounts.confirm_identity(who.user_id, body.get("auth"))
    await server.accounts.delete_devices(who.user_id, list(dict.fromkeys(devices)))
    return json_response({})
