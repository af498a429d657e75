"""Pushers (GET /pushers, POST /pushers/set) and the notification list (GET /notifications)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from client_api.http import read_body, requester
from homeserver.errors import InvalidParam
from homeserver.push.pushers import PusherSpec
from homeserver.schema import limit, optional
from homeserver.web.http import hs, json_response, query_int

routes = web.RouteTableDef()
MAX_NOTIFICATIONS = 100


@dataclass
class PusherBody:
    pushkey: str = limit(max_len=512, min_len=1)
    app_id: str = limit(max_len=64, min_len=1)
    kind: str | None = limit(max_len=32)
    app_display_name: str = optional("", max_len=255)
    device_display_name: str = optional("", max_len=255)
    profile_tag: str | None = optional(None, max_len=255)
    lang: str = optional("en", max_len=16)
    data: dict[str, Any] = field(default_factory=dict)  # bounded by the pusher service
    append: bool = False


@routes.get("/_matrix/client/v3/pushers")
async def get_pushers(request: web.Request) -> web.Response:
    who = await requester(request)
    return json_response({"pushers": await hs(request).pushers.pushers(who.user_id)})


@routes.post("/_matrix/client/v3/pushers/set")
async def set_pusher(request: web.Request) -> web.Response:
    who = await requester(request)
    body = await read_body(request, PusherBody)
    await hs(request).pushers.set(who.user_id, PusherSpec(
        body.app_id, body.pushkey, body.kind, body.app_display_name, body.device_display_name,
        body.profile_tag, body.lang, body.data, body.append), who.device_id)
    return json_response({})


@routes.get("/_matrix/client/v3/notifications")
async def notifications(request: web.Request) -> web.Response:
    who = await requester(request)
    before = query_int(request, "from", 0, 0, 2**53) if "from" in request.query else None
    count = query_int(request, "limit", 20, 1, MAX_NOTIFICATIONS)
    only = request.query.get("only")
    if only not in (None, "highlight"):
        raise InvalidParam("only may be highlight")
    answer = await hs(request).notifications.listing(who.user_id, before, count,
                                                     only == "highlight")
    return json_response(answer)
