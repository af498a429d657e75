"""Room aliases and the public room directory: /directory/room, /directory/list/room,
/rooms/{roomId}/aliases and /publicRooms."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web

from client_api.http import read_body, requester
from homeserver.errors import InvalidParam
from homeserver.room_directory import PublicRoomsPage
from homeserver.schema import limit, optional
from homeserver.web.http import hs, json_response, path_param, query_int, room_id_param

routes = web.RouteTableDef()

MAX_PAGE = 500
DEFAULT_PAGE = 100


@dataclass
class AliasBody:
    room_id: str = limit(max_len=255)


@dataclass
class VisibilityBody:
    visibility: str = limit(choices={"public", "private"})


@dataclass
class PublicRoomsFilter:
    generic_search_term: str | None = optional(None, max_len=255)


@dataclass
class PublicRoomsBody:
    limit: int | None = optional(None, min=1, max=MAX_PAGE)
    since: str | None = optional(None, max_len=32)
    server: str | None = optional(None, max_len=255)
    filter: PublicRoomsFilter = field(default_factory=PublicRoomsFilter)
    include_all_networks: bool = False
    third_party_instance_id: str | None = optional(None, max_len=255)


def _alias(request: web.Request) -> str:
    return path_param(request, "room_alias")


@routes.put("/_matrix/client/v3/directory/room/{room_alias}")
async def add_alias(request: web.Request) -> web.Response:
    who = await requester(request)
    body = await read_body(request, AliasBody)
    await hs(request).room_directory.add_alias(who.user_id, _alias(request), body.room_id)
    return json_response({})


@routes.get("/_matrix/client/v3/directory/room/{room_alias}")
async def get_alias(request: web.Request) -> web.Response:
    server = hs(request)
    room_id = await server.room_directory.resolve(_alias(request))
    return json_response({"room_id": room_id, "servers": [server.server_name]})


@routes.delete("/_matrix/client/v3/directory/room/{room_alias}")
async def delete_alias(request: web.Request) -> web.Response:
    who = await requester(request)
    await hs(request).room_directory.delete_alias(who.user_id, _alias(request))
    return json_response({})


@routes.get("/_matrix/client/v3/rooms/{room_id}/aliases")
async def room_aliases(request: web.Request) -> web.Response:
    who = await requester(request)
    found = await hs(request).room_directory.aliases(who.user_id, room_id_param(request))
    return json_response({"aliases": found})


@routes.get("/_matrix/client/v3/directory/list/room/{room_id}")
async def get_visibility(request: web.Request) -> web.Response:
    visibility = await hs(request).room_directory.visibility(room_id_param(request))
    return json_response({"visibility": visibility})


@routes.put("/_matrix/client/v3/directory/list/room/{room_id}")
async def set_visibility(request: web.Request) -> web.Response:
    who = await requester(request)
    body = await read_body(request, VisibilityBody)
    await hs(request).room_directory.set_visibility(who.user_id, room_id_param(request),
                                               body.visibility)
    return json_response({})


@routes.get("/_matrix/client/v3/publicRooms")
async def public_rooms_get(request: web.Request) -> web.Response:
    await requester(request)
    query = request.query
    _check_server(request, query.get("server"))
    page = await hs(request).room_directory.public_rooms(
        query_int(request, "limit", DEFAULT_PAGE, 1, MAX_PAGE),
        _bounded(query.get("since"), 32), None)
    return json_response(_page_json(page))


@routes.post("/_matrix/client/v3/publicRooms")
async def public_rooms_post(request: web.Request) -> web.Response:
    await requester(request)
    body = await read_body(request, PublicRoomsBody, allow_empty=True)
    _check_server(request, request.query.get("server") or body.server)
    page = await hs(request).room_directory.public_rooms(
        body.limit or DEFAULT_PAGE, body.since, body.filter.generic_search_term)
    return json_response(_page_json(page))


def _check_server(request: web.Request, server: str | None) -> None:
    if server is not None and server != hs(request).server_name:
        raise InvalidParam("Only this server's directory is served")


def _bounded(value: str | None, max_len: int) -> str | None:
    if value is not None and len(value) > max_len:
        raise InvalidParam("since is too long")
    return value


def _page_json(page: PublicRoomsPage) -> dict:
    answer: dict = {"chunk": page.chunk, "total_room_count_estimate": page.total}
    if page.next_batch:
        answer["next_batch"] = page.next_batch
    if page.prev_batch:
        answer["prev_batch"] = page.prev_batch
    return answer
