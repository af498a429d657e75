"""``POST /v3/search``: server-side search of the rooms a user is in (``room_events``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

from client_api.http import read_body, requester
from homeserver.schema import SchemaError, limit, optional
from homeserver.search import EventContext, SearchCriteria
from homeserver.sync.filters import RoomEventFilter
from homeserver.web.http import hs, json_response

routes = web.RouteTableDef()
KEYS = ("content.body", "content.name", "content.topic")
MAX_TERM_LENGTH = 1000
# Context is read per result: up to 100 results, each with at most this many a side.
MAX_CONTEXT = 20


@dataclass
class ContextBody:
    before_limit: int = optional(5, min=0, max=MAX_CONTEXT)
    after_limit: int = optional(5, min=0, max=MAX_CONTEXT)
    include_profile: bool = False


@dataclass
class RoomEventsBody:
    search_term: str = limit(max_len=MAX_TERM_LENGTH)
    keys: list[str] = field(default_factory=lambda: list(KEYS), metadata={"max_len": len(KEYS)})
    event_filter: RoomEventFilter | None = field(default=None, metadata={"key": "filter"})
    order_by: Literal["rank", "recent"] = "rank"
    event_context: ContextBody | None = None
    include_state: bool = False
    groupings: dict[str, Any] | None = None  # accepted and ignored: results are not grouped

    def __post_init__(self) -> None:
        for key in self.keys:
            if key not in KEYS:
                raise SchemaError("keys", f"must hold only {', '.join(KEYS)}")


@dataclass
class CategoriesBody:
    room_events: RoomEventsBody | None = None


@dataclass
class SearchBody:
    search_categories: CategoriesBody


@routes.post("/_matrix/client/v3/search")
async def search(request: web.Request) -> web.Response:
    who = await requester(request)
    await hs(request).ratelimiter.check("search", who.user_id)
    body = await read_body(request, SearchBody)
    wanted = body.search_categories.room_events
    if wanted is None:
        return json_response({"search_categories": {}})
    context = wanted.event_context
    criteria = SearchCriteria(
        search_term=wanted.search_term,
        keys=wanted.keys,
        event_filter=wanted.event_filter or RoomEventFilter(),
        by_rank=wanted.order_by == "rank",
        context=None if context is None else EventContext(
            context.before_limit, context.after_limit, context.include_profile),
        include_state=wanted.include_state,
    )
    found = await hs(request).search.room_events(who.user_id, criteria,
                                                 request.query.get("next_batch"))
    return json_response({"search_categories": {"room_events": found}})
