"""A room's events for its members: send, state, single events, members, history, redact."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from client_api.http import read_body, read_object, requester
from homeserver.errors import InvalidParam, MissingParam
from homeserver.schema import optional
from homeserver.sync.filters import parse_room_event_filter
from homeserver.sync.tokens import make_token, parse_token
from homeserver.web.http import hs, json_response, path_param, query_int, room_id_param

routes = web.RouteTableDef()
MAX_MESSAGES_LIMIT = 1000


@routes.put("/_matrix/client/v3/rooms/{room_id}/send/{event_type}/{txn_id}")
async def send(request: web.Request) -> web.Response:
    who = await requester(request)
    room_id = room_id_param(request)
    content = await read_object(request)
    server = hs(request)
    await server.ratelimiter.check("message", who.user_id)
    event_id = await server.rooms.send(
        who.user_id, who.device_id, room_id, path_param(request, "event_type"), content,
        txn_id=path_param(request, "txn_id"),
    )
    return json_response({"event_id": event_id})


@routes.put("/_matrix/client/v3/rooms/{room_id}/state/{event_type}")
@routes.put("/_matrix/client/v3/rooms/{room_id}/state/{event_type}/{state_key:.*}")
async def put_state(request: web.Request) -> web.Response:
    who = await requester(request)
    room_id = room_id_param(request)
    content = await read_object(request)
    event_id = await hs(request).rooms.send(
        who.user_id, who.device_id, room_id, path_param(request, "event_type"), content,
        state_key=request.match_info.get("state_key", ""),
    )
    return json_response({"event_id": event_id})


@routes.get("/_matrix/client/v3/rooms/{room_id}/state")
async def state(request: web.Request) -> web.Response:
    who = await requester(request)
    return json_response(await hs(request).reader.state(who.user_id, room_id_param(request)))


@routes.get("/_matrix/client/v3/rooms/{room_id}/state/{event_type}")
@routes.get("/_matrix/client/v3/rooms/{room_id}/state/{event_type}/{state_key:.*}")
async def state_event(request: web.Request) -> web.Response:
    who = await requester(request)
    content = await hs(request).reader.state_content(
        who.user_id, room_id_param(request), path_param(request, "event_type"),
        request.match_info.get("state_key", ""),
    )
    return json_response(content)


@routes.get("/_matrix/client/v3/rooms/{room_id}/event/{event_id}")
async def event(request: web.Request) -> web.Response:
    who = await requester(request)
    found = await hs(request).reader.event(
        who.user_id, room_id_param(request), path_param(request, "event_id")
    )
    return json_response(found)


@routes.get("/_matrix/client/v3/rooms/{room_id}/members")
async def members(request: web.Request) -> web.Response:
    who = await requester(request)
    chunk = await hs(request).reader.members(
        who.user_id, room_id_param(request), request.query.get("membership"),
        request.query.get("not_membership"),
    )
    return json_response({"chunk": chunk})


@routes.get("/_matrix/client/v3/rooms/{room_id}/joined_members")
async def joined_members(request: web.Request) -> web.Response:
    who = await requester(request)
    joined = await hs(request).reader.joined_members(who.user_id, room_id_param(request))
    return json_response({"joined": joined})


@routes.get("/_matrix/client/v3/rooms/{room_id}/messages")
async def messages(request: web.Request) -> web.Response:
    who = await requester(request)
    direction = request.query.get("dir", "b")
    if direction not in ("b", "f"):
        raise InvalidParam("dir must be b or f")
    from_token, to_token = request.query.get("from"), request.query.get("to")
    page = await hs(request).reader.messages(
        who.user_id, room_id_param(request),
        parse_token(from_token, "from") if from_token else None,
        parse_token(to_token, "to") if to_token else None,
        backwards=direction == "b",
        limit=query_int(request, "limit", 10, 0, MAX_MESSAGES_LIMIT),
        event_filter=parse_room_event_filter(request.query.get("filter")),
    )
    body = {"chunk": page.chunk, "start": make_token(page.start)}
    if page.end is not None:
        body["end"] = make_token(page.end)
    return json_response(body)


@routes.get("/_matrix/client/v1/rooms/{room_id}/timestamp_to_event")
async def timestamp_to_event(request: web.Request) -> web.Response:
    who = await requester(request)
    direction = request.query.get("dir")
    if direction not in ("b", "f"):
        raise InvalidParam("dir must be b or f")
    if "ts" not in request.query:
        raise MissingParam("ts is required")
    event_id, ts = await hs(request).reader.event_near_time(
        who.user_id, room_id_param(request), query_int(request, "ts", 0, 0, 2**53 - 1),
        forwards=direction == "f")
    return json_response({"event_id": event_id, "origin_server_ts": ts})


@dataclass
class RedactBody:
    reason: str | None = optional(None, max_len=1024)


@routes.put("/_matrix/client/v3/rooms/{room_id}/redact/{event_id}/{txn_id}")
async def redact(request: web.Request) -> web.Response:
    who = await requester(request)
    body = await read_body(request, RedactBody, allow_empty=True)
    event_id = await hs(request).rooms.redact(
        who.user_id, who.device_id, room_id_param(request), path_param(request, "event_id"),
        body.reason, path_param(request, "txn_id"),
    )
    return json_response({"event_id": event_id})
