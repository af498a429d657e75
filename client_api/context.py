"""``GET /v3/rooms/{roomId}/context/{eventId}``: an event with the events around it."""

from __future__ import annotations

from aiohttp import web

from client_api.http import requester
from homeserver.sync.filters import parse_room_event_filter
from homeserver.sync.tokens import make_token
from homeserver.web.http import hs, json_response, path_param, query_int, room_id_param

routes = web.RouteTableDef()
DEFAULT_LIMIT = 10
MAX_LIMIT = 1000


@routes.get("/_matrix/client/v3/rooms/{room_id}/context/{event_id}")
async def context(request: web.Request) -> web.Response:
    who = await requester(request)
    found = await hs(request).reader.context(
        who.user_id, room_id_param(request), path_param(request, "event_id"),
        limit=query_int(request, "limit", DEFAULT_LIMIT, 0, MAX_LIMIT),
        event_filter=parse_room_event_filter(request.query.get("filter")),
    )
    return json_response({
        "event": found.event,
        "events_before": found.before,
        "events_after": found.after,
        "start": make_token(found.start),
        "end": make_token(found.end),
        "state": found.state,
    })
