"""Creating rooms and changing membership: createRoom, join, invite, leave, kick, ban."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from client_api.http import read_body, requester
from homeserver.dms import DmWish
from homeserver.errors import MatrixError
from homeserver.rooms.presets import PRESETS, RESERVED_INITIAL_STATE
from homeserver.rooms.service import RoomSpec
from homeserver.rooms.writer import ROOM_VERSION
from homeserver.schema import limit, optional
from homeserver.web.http import hs, json_response, path_param, room_id_param

routes = web.RouteTableDef()


@dataclass
class StateEventSpec:
    type: str = limit(max_len=255)
    content: dict[str, Any] = field(default_factory=dict)
    state_key: str = optional("", max_len=255)


@dataclass
class CreateRoomBody:
    visibility: str = optional("private", choices={"public", "private"})
    name: str | None = optional(None, max_len=255)
    topic: str | None = optional(None, max_len=4096)
    invite: list[str] = field(default_factory=list)
    room_version: str | None = None
    initial_state: list[StateEventSpec] = field(default_factory=list)
    preset: str | None = optional(None, choices=set(PRESETS))
    is_direct: bool = False
    power_level_content_override: dict[str, Any] | None = None
    room_alias_name: str | None = optional(None, max_len=255)
    creation_content: dict[str, Any] | None = None


@routes.post("/_matrix/client/v3/createRoom")
async def create_room(request: web.Request) -> web.Response:
    who = await requester(request)
    body = await read_body(request, CreateRoomBody)
    if body.room_version not in (None, ROOM_VERSION):
        raise MatrixError(f"Room version {body.room_version} is not supported", status=400,
                          errcode="M_UNSUPPORTED_ROOM_VERSION")
    server = hs(request)
    invite = list(dict.fromkeys(body.invite))
    for state in body.initial_state:
        if state.type in RESERVED_INITIAL_STATE:
            raise MatrixError(f"initial_state may not set {state.type}", status=400,
                              errcode="M_BAD_JSON")
    initial_state = [{"type": s.type, "content": s.content, "state_key": s.state_key}
                     for s in body.initial_state]
    if body.is_direct and len(invite) == 1:
        wish = DmWish(initial_state=initial_state, name=body.name, topic=body.topic,
                      power_level_content_override=body.power_level_content_override)
        resolved = await server.dms.resolve(who.user_id, invite[0], wish)
        return json_response({"room_id": resolved.room_id})
    alias = None
    if body.room_alias_name is not None:
        alias = server.room_directory.alias_for_name(body.room_alias_name)
    spec = RoomSpec(
        preset=body.preset or ("public_chat" if body.visibility == "public" else "private_chat"),
        name=body.name, topic=body.topic, invite=invite, initial_state=initial_state,
        power_level_content_override=body.power_level_content_override,
        is_direct=body.is_direct,
        creation_content=body.creation_content or {},
    )
    room_id = await server.room_directory.create_room(who.user_id, spec, alias,
                                                 body.visibility == "public")
    return json_response({"room_id": room_id})


@dataclass
class ReasonBody:
    reason: str | None = optional(None, max_len=1024)


@dataclass
class TargetBody:
    user_id: str = limit(max_len=255)
    reason: str | None = optional(None, max_len=1024)


@routes.post("/_matrix/client/v3/join/{room_id_or_alias}")
async def join_by_id_or_alias(request: web.Request) -> web.Response:
    who = await requester(request)
    await read_body(request, ReasonBody, allow_empty=True)
    target = request.match_info["room_id_or_alias"]
    server = hs(request)
    if target.startswith("#"):
        room_id = await server.room_directory.resolve(path_param(request, "room_id_or_alias"))
    else:
        room_id = room_id_param(request, "room_id_or_alias")
    await server.rooms.join(who.user_id, room_id)
    return json_response({"room_id": room_id})


@routes.post("/_matrix/client/v3/rooms/{room_id}/join")
async def join(request: web.Request) -> web.Response:
    who = await requester(request)
    await read_body(request, ReasonBody, allow_empty=True)
    room_id = room_id_param(request)
    await hs(request).rooms.join(who.user_id, room_id)
    return json_response({"room_id": room_id})


@routes.post("/_matrix/client/v3/rooms/{room_id}/leave")
async def leave(request: web.Request) -> web.Response:
    who = await requester(request)
    body = await read_body(request, ReasonBody, allow_empty=True)
    await hs(request).rooms.leave(who.user_id, room_id_param(request), body.reason)
    return json_response({})


@routes.post("/_matrix/client/v3/rooms/{room_id}/forget")
async def forget(request: web.Request) -> web.Response:
    who = await requester(request)
    await hs(request).rooms.forget(who.user_id, room_id_param(request))
    return json_response({})


@routes.post("/_matrix/client/v3/rooms/{room_id}/invite")
async def invite(request: web.Request) -> web.Response:
    who = await requester(request)
    body = await read_body(request, TargetBody)
    await hs(request).rooms.invite(who.user_id, room_id_param(request), body.user_id, body.reason)
    return json_response({})


async def _change_other(request: web.Request, membership: str) -> web.Response:
    who = await requester(request)
    body = await read_body(request, TargetBody)
    await hs(request).rooms.change_other(
        who.user_id, room_id_param(request), body.user_id, membership, body.reason
    )
    return json_response({})


@routes.post("/_matrix/client/v3/rooms/{room_id}/kick")
async def kick(request: web.Request) -> web.Response:
    return await _change_other(request, "leave")


@routes.post("/_matrix/client/v3/rooms/{room_id}/ban")
async def ban(request: web.Request) -> web.Response:
    return await _change_other(request, "ban")


@routes.post("/_matrix/client/v3/rooms/{room_id}/unban")
async def unban(request: web.Request) -> web.Response:
    return await _change_other(request, "leave")


@routes.get("/_matrix/client/v3/joined_rooms")
async def joined_rooms(request: web.Request) -> web.Response:
    who = await requester(request)
    return json_response({"joined_rooms": await hs(request).rooms.joined_rooms(who.user_id)})
