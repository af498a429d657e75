"""Inbound: the unstable DM query, and invites of our users from other servers.

``GET /_matrix/federation/unstable/dm/{low}/{high}``: the higher user's
server asks for the pair's room; ``low`` must be ours and ``high`` theirs.
It only finds a room ``low`` is already in (404 otherwise, and the asking
server invites instead): it never makes a room or joins anyone. Rate
limited per origin (``rate_limits.federation_dm_query``).
``PUT /_matrix/federation/v2/invite/{roomId}/{eventId}``: the standard
invite; checked against the room's state if we can (see
``homeserver.rooms.invites``), countersigned when accepted.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from federation.http import federation_of, origin_of, signed_body
from federation.pdu_checks import InvalidPdu, check_pdu
from homeserver.dms import dm_pair
from homeserver.errors import BadJson, Forbidden, NotFound
from homeserver.events.signing import sign_json
from homeserver.ids import server_of
from homeserver.web.http import hs, json_response, path_param, room_id_param

routes = web.RouteTableDef()
query_routes = web.RouteTableDef()  # served unless federation.dm_query is off


@query_routes.get("/_matrix/federation/unstable/dm/{low}/{high}")
async def dm_room(request: web.Request) -> web.Response:
    origin = await origin_of(request)
    low, high = path_param(request, "low"), path_param(request, "high")
    server = hs(request)
    if dm_pair(low, high) != (low, high) or low == high:
        raise BadJson("low must sort before high")
    if server_of(low) != server.server_name or server_of(high) != origin:
        raise Forbidden("The pair's room lives with the lower user; ask for your own user")
    await server.ratelimiter.check("federation_dm_query", origin)
    await server.rooms.check_local_user(low)
    room_id = await server.dms.room_for_peer(low, high)
    if room_id is None:
        raise NotFound("No DM room with this user yet: invite them")
    return json_response({"room_id": room_id})


@routes.put("/_matrix/federation/v2/invite/{room_id}/{event_id}")
async def invite(request: web.Request) -> web.Response:
    body = await signed_body(request)
    origin = await origin_of(request, body)
    room_id, event_id = room_id_param(request), path_param(request, "event_id")
    server = hs(request)
    pdu = _invite_event(body, origin, server.server_name)
    try:
        computed = await check_pdu(pdu, federation_of(request).keyring)
    except InvalidPdu as exc:
        raise Forbidden(str(exc)) from None
    if (computed, pdu["room_id"]) != (event_id, room_id):
        raise BadJson("The event does not match the request")
    await server.rooms.check_local_user(pdu["state_key"])
    await server.rooms.invites.receive(pdu, event_id, origin, body.get("invite_room_state"))
    signed = sign_json(pdu, server.server_name, server.signing_key)
    return json_response({"event": signed})


def _invite_event(body: Any, origin: str, our_name: str) -> dict[str, Any]:
    pdu = body.get("event") if isinstance(body, dict) else None
    if not isinstance(pdu, dict) or not isinstance(pdu.get("state_key"), str):
        raise BadJson("event is required")
    content = pdu.get("content")
    if pdu.get("type") != "m.room.member" or not isinstance(content, dict) \
            or content.get("membership") != "invite":
        raise BadJson("Not an invite")
    if server_of(pdu["state_key"]) != our_name or server_of(str(pdu.get("sender"))) != origin:
        raise Forbidden("An invite must come from the inviter's server, for our user")
    return pdu
