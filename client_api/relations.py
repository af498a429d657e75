"""Relations and threads: ``GET /v1/rooms/{roomId}/relations/{eventId}[/{relType}[/{eventType}]]``
and ``GET /v1/rooms/{roomId}/threads``."""

from __future__ import annotations

from aiohttp import web

from client_api.http import requester
from homeserver.errors import InvalidParam
from homeserver.rooms.relations import RelationsPage, RelationsRequest
from homeserver.sync.tokens import make_token, parse_token
from homeserver.web.http import hs, json_response, path_param, query_int, room_id_param

routes = web.RouteTableDef()
V1 = "/_matrix/client/v1/rooms/{room_id}"
DEFAULT_LIMIT = 50
MAX_LIMIT = 1000


def _token(request: web.Request, name: str) -> int | None:
    raw = request.query.get(name)
    return parse_token(raw, name) if raw else None


def _choice(request: web.Request, name: str, choices: tuple[str, ...]) -> str:
    value = request.query.get(name, choices[0])
    if value not in choices:
        raise InvalidParam(f"{name} must be one of {', '.join(choices)}")
    return value


def _page(page: RelationsPage) -> dict[str, object]:
    body: dict[str, object] = {"chunk": page.chunk}
    if page.next_pos is not None:
        body["next_batch"] = make_token(page.next_pos)
    return body


@routes.get(V1 + "/relations/{event_id}")
@routes.get(V1 + "/relations/{event_id}/{rel_type}")
@routes.get(V1 + "/relations/{event_id}/{rel_type}/{event_type}")
async def relations(request: web.Request) -> web.Response:
    who = await requester(request)
    room_id = room_id_param(request)
    wanted = RelationsRequest(
        parent_id=path_param(request, "event_id"),
        rel_type=path_param(request, "rel_type") if "rel_type" in request.match_info else None,
        event_type=(path_param(request, "event_type")
                    if "event_type" in request.match_info else None),
        from_pos=_token(request, "from"),
        to_pos=_token(request, "to"),
        backwards=_choice(request, "dir", ("b", "f")) == "b",
        limit=query_int(request, "limit", DEFAULT_LIMIT, 0, MAX_LIMIT),
        recurse=_choice(request, "recurse", ("false", "true")) == "true",
    )
    page = await hs(request).relations.children(who.user_id, room_id, wanted)
    body = _page(page)
    if page.depth is not None:
        body["recursion_depth"] = page.depth
    return json_response(body)


@routes.get(V1 + "/threads")
async def threads(request: web.Request) -> web.Response:
    who = await requester(request)
    page = await hs(request).relations.threads(
        who.user_id, room_id_param(request),
        participated_only=_choice(request, "include", ("all", "participated")) == "participated",
        from_pos=_token(request, "from"),
        limit=query_int(request, "limit", DEFAULT_LIMIT, 0, MAX_LIMIT),
    )
    return json_response(_page(page))
