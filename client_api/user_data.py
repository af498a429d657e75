"""Account data, filters, read receipts and read markers."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from client_api.http import read_body, read_object, requester
from homeserver.accounts import Requester
from homeserver.errors import Forbidden, InvalidParam
from homeserver.schema import optional
from homeserver.sync.filters import parse_filter
from homeserver.user_data import RECEIPT_TYPES
from homeserver.web.http import hs, json_response, path_param, room_id_param

routes = web.RouteTableDef()
SERVER_MANAGED_TYPES = {"m.fully_read", "m.push_rules"}


async def _owner(request: web.Request) -> Requester:
    who = await requester(request)
    if request.match_info["user_id"] != who.user_id:
        raise Forbidden("You can only access your own data")
    return who


def _data_type(request: web.Request) -> str:
    data_type = path_param(request, "type")
    if data_type in SERVER_MANAGED_TYPES and request.method == "PUT":
        raise InvalidParam(f"{data_type} is managed by the server", errcode="M_BAD_JSON")
    return data_type


@routes.put("/_matrix/client/v3/user/{user_id}/account_data/{type}")
async def put_account_data(request: web.Request) -> web.Response:
    who = await _owner(request)
    content = await read_object(request)
    await hs(request).user_data.put_account_data(who.user_id, _data_type(request), content)
    return json_response({})


@routes.get("/_matrix/client/v3/user/{user_id}/account_data/{type}")
async def get_account_data(request: web.Request) -> web.Response:
    who = await _owner(request)
    return json_response(await hs(request).user_data.account_data(who.user_id, _data_type(request)))


@routes.put("/_matrix/client/v3/user/{user_id}/rooms/{room_id}/account_data/{type}")
async def put_room_account_data(request: web.Request) -> web.Response:
    who = await _owner(request)
    room_id = room_id_param(request)
    content = await read_object(request)
    await hs(request).user_data.put_account_data(who.user_id, _data_type(request), content,
                                                 room_id)
    return json_response({})


@routes.get("/_matrix/client/v3/user/{user_id}/rooms/{room_id}/account_data/{type}")
async def get_room_account_data(request: web.Request) -> web.Response:
    who = await _owner(request)
    room_id = room_id_param(request)
    await hs(request).reader.require_joined(room_id, who.user_id)
    found = await hs(request).user_data.account_data(who.user_id, _data_type(request), room_id)
    return json_response(found)


@routes.post("/_matrix/client/v3/user/{user_id}/filter")
async def add_filter(request: web.Request) -> web.Response:
    who = await _owner(request)
    raw = await read_object(request)
    parse_filter(raw)  # reject what /sync could not use
    return json_response({"filter_id": await hs(request).user_data.add_filter(who.user_id, raw)})


@routes.get("/_matrix/client/v3/user/{user_id}/filter/{filter_id}")
async def get_filter(request: web.Request) -> web.Response:
    who = await _owner(request)
    found = await hs(request).user_data.filter(who.user_id, path_param(request, "filter_id"))
    return json_response(found)


@routes.post("/_matrix/client/v3/rooms/{room_id}/receipt/{receipt_type}/{event_id}")
async def receipt(request: web.Request) -> web.Response:
    who = await requester(request)
    receipt_type = request.match_info["receipt_type"]
    await read_object(request, allow_empty=True)
    if receipt_type not in RECEIPT_TYPES | {"m.fully_read"}:
        raise InvalidParam(f"Unknown receipt type {receipt_type}")
    room_id, event_id = room_id_param(request), path_param(request, "event_id")
    if receipt_type == "m.fully_read":
        await hs(request).user_data.read_markers(who.user_id, room_id, event_id, None, None)
    else:
        await hs(request).user_data.receipt(who.user_id, room_id, receipt_type, event_id)
    return json_response({})


@dataclass
class ReadMarkersBody:
    fully_read: str | None = optional(None, key="m.fully_read", max_len=255)
    read: str | None = optional(None, key="m.read", max_len=255)
    read_private: str | None = optional(None, key="m.read.private", max_len=255)


@routes.post("/_matrix/client/v3/rooms/{room_id}/read_markers")
async def read_markers(request: web.Request) -> web.Response:
    who = await requester(request)
    body = await read_body(request, ReadMarkersBody)
    await hs(request).user_data.read_markers(
        who.user_id, room_id_param(request), body.fully_read, body.read, body.read_private
    )
    return json_response({})
