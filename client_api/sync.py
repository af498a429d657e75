"""GET /sync: parse the query, hand the long-poll to the sync service."""

from __future__ import annotations

from aiohttp import web

from client_api.http import requester
from homeserver import strict_json
from homeserver.errors import BadJson, InvalidParam, NotJson
from homeserver.sync.answers import SyncRequest
from homeserver.sync.filters import NO_FILTER, SyncFilter, parse_filter
from homeserver.sync.tokens import parse_serial, parse_token
from homeserver.web.http import hs, json_response, query_int

routes = web.RouteTableDef()
PRESENCE_STATES = {"online", "offline", "unavailable"}


async def _filter(request: web.Request, user_id: str) -> SyncFilter:
    raw = request.query.get("filter")
    if not raw:
        return NO_FILTER
    if raw.lstrip().startswith("{"):
        try:
            data = strict_json.loads(raw)
        except (NotJson, BadJson):
            raise InvalidParam("filter is not valid JSON") from None
        return parse_filter(data)
    return parse_filter(await hs(request).user_data.filter(user_id, raw))


@routes.get("/_matrix/client/v3/sync")
async def sync(request: web.Request) -> web.Response:
    who = await requester(request)
    since = request.query.get("since")
    set_presence = request.query.get("set_presence", "online")
    if set_presence not in PRESENCE_STATES:
        raise InvalidParam("set_presence must be online, offline or unavailable")
    full_state = request.query.get("full_state", "false")
    if full_state not in ("true", "false"):
        raise InvalidParam("full_state must be true or false")
    sync_request = SyncRequest(
        user_id=who.user_id,
        device_id=who.device_id,
        since=parse_token(since) if since else None,
        typing_since=parse_serial(since, 0) if since else None,
        presence_since=parse_serial(since, 1) if since else None,
        to_device_since=parse_serial(since, 2) if since else None,
        set_presence=set_presence,
        sync_filter=await _filter(request, who.user_id),
        full_state=full_state == "true",
        timeout_ms=query_int(request, "timeout", 0, 0, 2**31),
    )
    result = await hs(request).sync.sync(sync_request)
    return json_response(result.to_json())
