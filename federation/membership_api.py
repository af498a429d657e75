"""Joining and leaving across servers: make_join/send_join (v2), make_leave/send_leave.

``make_*`` hands the remote server an unsigned event built on our room's
latest state; it signs it and sends it back through ``send_*``, where it is
checked like any PDU. ``send_join`` answers with the room's state and auth
chain, so the joining server can check and store the room itself.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from federation.http import federation_of, origin_of, signed_body
from federation.pdu_checks import InvalidPdu, check_pdu
from homeserver.errors import BadJson, Forbidden, MatrixError
from homeserver.ids import server_of
from homeserver.rooms.writer import ROOM_VERSION
from homeserver.web.http import hs, json_response, path_param, room_id_param

routes = web.RouteTableDef()


@routes.get("/_matrix/federation/v1/make_join/{room_id}/{user_id}")
async def make_join(request: web.Request) -> web.Response:
    return await _make(request, "join")


@routes.get("/_matrix/federation/v1/make_leave/{room_id}/{user_id}")
async def make_leave(request: web.Request) -> web.Response:
    return await _make(request, "leave")


async def _make(request: web.Request, membership: str) -> web.Response:
    origin = await origin_of(request)
    room_id, user_id = room_id_param(request), path_param(request, "user_id")
    if server_of(user_id) != origin:
        raise Forbidden("A server can only make events for its own users")
    versions = request.query.getall("ver", [ROOM_VERSION])
    if membership == "join" and ROOM_VERSION not in versions:
        raise MatrixError("Room version not supported by the joining server", status=400,
                          errcode="M_INCOMPATIBLE_ROOM_VERSION", room_version=ROOM_VERSION)
    template = await hs(request).received.template(
        room_id, user_id, "m.room.member", {"membership": membership}, state_key=user_id)
    return json_response({"room_version": ROOM_VERSION, "event": template})


@routes.put("/_matrix/federation/v2/send_join/{room_id}/{event_id}")
async def send_join(request: web.Request) -> web.Response:
    return await _send(request, "join")


@routes.put("/_matrix/federation/v2/send_leave/{room_id}/{event_id}")
async def send_leave(request: web.Request) -> web.Response:
    return await _send(request, "leave")


async def _send(request: web.Request, membership: str) -> web.Response:
    pdu = await signed_body(request)
    origin = await origin_of(request, pdu)
    room_id, event_id = room_id_param(request), path_param(request, "event_id")
    server = hs(request)
    checked = await _checked_membership(request, pdu, origin, room_id, event_id, membership)
    state = await server.history.current_state(room_id)  # before the join
    await server.received.store(checked, event_id)
    if membership == "leave":
        return json_response({})
    pdus = [e.pdu for e in state]
    return json_response({"origin": server.server_name, "state": pdus, "auth_chain": pdus,
                          "event": checked, "members_omitted": False})


async def _checked_membership(request: web.Request, pdu: Any, origin: str, room_id: str,
                              event_id: str, membership: str) -> dict[str, Any]:
    if not isinstance(pdu, dict):
        raise BadJson("The body must be the signed event")
    try:
        computed = await check_pdu(pdu, federation_of(request).keyring)
    except InvalidPdu as exc:
        raise Forbidden(str(exc)) from None
    if (computed, pdu["room_id"], pdu["type"]) != (event_id, room_id, "m.room.member"):
        raise BadJson("The event does not match the request")
    content = pdu["content"]
    if pdu.get("state_key") != pdu["sender"] or content.get("membership") != membership \
            or server_of(pdu["sender"]) != origin:
        raise Forbidden(f"Not a {membership} of the sending server's own user")
    return pdu
