"""POST /user_directory/search: local users by display name or user ID."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from client_api.http import read_body, requester
from homeserver import schema
from homeserver.user_directory import MAX_LIMIT, MAX_SEARCH_TERM
from homeserver.web.http import hs, json_response

routes = web.RouteTableDef()


@dataclass
class Search:
    search_term: str = schema.limit(max_len=MAX_SEARCH_TERM)
    limit: int = schema.optional(10, min=0, max=MAX_LIMIT)


@routes.post("/_matrix/client/v3/user_directory/search")
async def search(request: web.Request) -> web.Response:
    who = await requester(request)
    body = await read_body(request, Search)
    hits, limited = await hs(request).user_directory.search(who.user_id, body.search_term,
                                                       body.limit)
    return json_response({
        "results": [{"user_id": h.user_id, "display_name": h.display_name,
                     "avatar_url": h.avatar_url} for h in hits],
        "limited": limited,
    })
