"""Who am I, my devices, and profiles (display name and avatar)."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from client_api.http import read_body, requester
from homeserver import ids
from homeserver.errors import InvalidParam
from homeserver.models import Device
from homeserver.schema import optional
from homeserver.web.http import hs, json_response

routes = web.RouteTableDef()


@routes.get("/_matrix/client/v3/account/whoami")
async def whoami(request: web.Request) -> web.Response:
    who = await requester(request)
    return json_response({"user_id": who.user_id, "device_id": who.device_id, "is_guest": False})


def _device_json(device: Device) -> dict:
    return {
        "device_id": device.device_id,
        "display_name": device.display_name,
        "last_seen_ts": device.last_seen_ts,
        "last_seen_ip": device.last_seen_ip,
    }


@routes.get("/_matrix/client/v3/devices")
async def devices(request: web.Request) -> web.Response:
    who = await requester(request)
    found = await hs(request).accounts.devices(who.user_id)
    return json_response({"devices": [_device_json(d) for d in found]})


@routes.get("/_matrix/client/v3/devices/{device_id}")
async def device(request: web.Request) -> web.Response:
    who = await requester(request)
    found = await hs(request).accounts.device(who.user_id, request.match_info["device_id"])
    return json_response(_device_json(found))


@dataclass
class DeviceUpdate:
    display_name: str | None = optional(None, max_len=256)


@routes.put("/_matrix/client/v3/devices/{device_id}")
async def rename_device(request: web.Request) -> web.Response:
    who = await requester(request)
    body = await read_body(request, DeviceUpdate)
    await hs(request).accounts.rename_device(
        who.user_id, request.match_info["device_id"], body.display_name
    )
    return json_response({})


def _profile_user(request: web.Request) -> str:
    user_id = request.match_info["user_id"]
    if not ids.is_valid_user_id(user_id):
        raise InvalidParam("Invalid user ID")
    return user_id


@routes.get("/_matrix/client/v3/profile/{user_id}")
async def profile(request: web.Request) -> web.Response:
    return json_response(await hs(request).accounts.profile(_profile_user(request)))


@routes.get("/_matrix/client/v3/profile/{user_id}/{field:displayname|avatar_url}")
async def profile_field(request: web.Request) -> web.Response:
    found = await hs(request).accounts.profile(_profile_user(request))
    field = request.match_info["field"]
    return json_response({field: found[field]} if field in found else {})


@dataclass
class DisplayName:
    displayname: str | None = optional(None, max_len=256)


@dataclass
class AvatarUrl:
    avatar_url: str | None = optional(None, max_len=1024)


@routes.put("/_matrix/client/v3/profile/{user_id}/{field:displayname|avatar_url}")
async def set_profile_field(request: web.Request) -> web.Response:
    who = await requester(request)
    await hs(request).ratelimiter.check("profile", who.user_id)
    field = request.match_info["field"]
    body = await read_body(request, DisplayName if field == "displayname" else AvatarUrl)
    await hs(request).profiles.set_field(who, _profile_user(request), field,
                                         getattr(body, field))
    return json_response({})
