"""Inbound reads of a room's history, for servers with a user in the room.

``event/{eventId}``, ``state_ids/{roomId}``, ``backfill/{roomId}`` and
``get_missing_events/{roomId}`` let a server that missed events heal the
gap. Order is our stream order, which for a room is a topological order.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from federation.http import origin_of, signed_body
from homeserver.errors import BadJson, Forbidden, NotFound
from homeserver.ids import server_of
from homeserver.models import StoredEvent
from homeserver.services import Homeserver
from homeserver.web.http import hs, json_response, path_param, query_int, room_id_param

routes = web.RouteTableDef()
MAX_EVENTS = 100


async def _require_server_in_room(server: Homeserver, room_id: str, origin: str) -> None:
    users = await server.history.joined_users(room_id)
    if not any(server_of(u) == origin for u in users):
        raise Forbidden("Your server has no user in this room")


def _pdus(server: Homeserver, events: list[StoredEvent]) -> dict[str, Any]:
    return {"origin": server.server_name, "origin_server_ts": server.clock.time_ms(),
            "pdus": [e.pdu for e in events]}


@routes.get("/_matrix/federation/v1/event/{event_id}")
async def event(request: web.Request) -> web.Response:
    origin = await origin_of(request)
    server = hs(request)
    found = await server.history.event(path_param(request, "event_id"))
    if found is None:
        raise NotFound("Unknown event")
    await _require_server_in_room(server, found.room_id, origin)
    return json_response(_pdus(server, [found]))


@routes.get("/_matrix/federation/v1/state_ids/{room_id}")
async def state_ids(request: web.Request) -> web.Response:
    origin = await origin_of(request)
    server, room_id = hs(request), room_id_param(request)
    await _require_server_in_room(server, room_id, origin)
    ids = sorted((await server.history.state_ids(room_id)).values())
    return json_response({"pdu_ids": ids, "auth_chain_ids": ids})


@routes.get("/_matrix/federation/v1/backfill/{room_id}")
async def backfill(request: web.Request) -> web.Response:
    origin = await origin_of(request)
    server, room_id = hs(request), room_id_param(request)
    await _require_server_in_room(server, room_id, origin)
    limit = query_int(request, "limit", 10, 1, MAX_EVENTS)
    known = await server.history.events_by_id(request.query.getall("v", [])[:MAX_EVENTS])
    in_room = [e.stream_ordering for e in known.values() if e.room_id == room_id]
    if not in_room:
        raise BadJson("v must name at least one known event of this room")
    upto = max(in_room)
    events = await server.history.room_events(room_id, after=0, upto=upto, limit=limit,
                                              newest_first=True)
    return json_response(_pdus(server, events))


@routes.post("/_matrix/federation/v1/get_missing_events/{room_id}")
async def get_missing_events(request: web.Request) -> web.Response:
    body = await signed_body(request) or {}
    origin = await origin_of(request, body)
    server, room_id = hs(request), room_id_param(request)
    await _require_server_in_room(server, room_id, origin)
    events = server.history
    earliest = await events.events_by_id(_ids(body, "earliest_events"))
    latest = await events.events_by_id(_ids(body, "latest_events"))
    after = max((e.stream_ordering for e in earliest.values()), default=0)
    upto = max((e.stream_ordering for e in latest.values()), default=0)
    asked = body.get("limit")
    limit = max(1, min(asked if isinstance(asked, int) else 10, MAX_EVENTS))
    found = await events.room_events(room_id, after=after, upto=upto - 1, limit=limit,
                                     newest_first=False) if upto else []
    return json_response({"events": [e.pdu for e in found]})


def _ids(body: dict[str, Any], name: str) -> list[str]:
    value = body.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadJson(f"{name} must be a list of event IDs")
    return value[:MAX_EVENTS]
