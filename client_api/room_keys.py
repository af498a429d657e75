"""Server-side key backup: /room_keys/version[/{version}] and /room_keys/keys[/{roomId}
[/{sessionId}]] with the ``version`` query."""

from __future__ import annotations

from aiohttp import web

from client_api.http import read_object, requester
from homeserver.errors import MissingParam
from homeserver.web.http import hs, json_response, path_param, room_id_param

routes = web.RouteTableDef()
VERSIONS = "/_matrix/client/v3/room_keys/version"
KEYS = "/_matrix/client/v3/room_keys/keys"


@routes.post(VERSIONS)
async def create_version(request: web.Request) -> web.Response:
    who = await requester(request)
    body = await read_object(request)
    return json_response({"version": await hs(request).key_backup.create_version(who.user_id,
                                                                                 body)})


@routes.get(VERSIONS)
async def current_version(request: web.Request) -> web.Response:
    who = await requester(request)
    return json_response(await hs(request).key_backup.version_info(who.user_id, None))


@routes.get(VERSIONS + "/{version}")
async def version_info(request: web.Request) -> web.Response:
    who = await requester(request)
    return json_response(await hs(request).key_backup.version_info(
        who.user_id, path_param(request, "version")))


@routes.put(VERSIONS + "/{version}")
async def update_version(request: web.Request) -> web.Response:
    who = await requester(request)
    body = await read_object(request)
    await hs(request).key_backup.update_version(who.user_id, path_param(request, "version"),
                                                body)
    return json_response({})


@routes.delete(VERSIONS + "/{version}")
async def delete_version(request: web.Request) -> web.Response:
    who = await requester(request)
    await hs(request).key_backup.delete_version(who.user_id, path_param(request, "version"))
    return json_response({})


def _version(request: web.Request) -> str:
    version = request.query.get("version")
    if version is None:
        raise MissingParam("The version query parameter is required")
    return version[:64]


@routes.put(KEYS)
async def put_keys(request: web.Request) -> web.Response:
    who = await requester(request)
    body = await read_object(request)
    return json_response(await hs(request).key_backup.put_keys(
        who.user_id, _version(request), body.get("rooms")))


@routes.put(KEYS + "/{room_id}")
async def put_room_keys(request: web.Request) -> web.Response:
    who = await requester(request)
    room_id = room_id_param(request)
    body = await read_object(request)
    return json_response(await hs(request).key_backup.put_keys(
        who.user_id, _version(request), {room_id: body}))


@routes.put(KEYS + "/{room_id}/{session_id}")
async def put_session_key(request: web.Request) -> web.Response:
    who = await requester(request)
    room_id, session_id = room_id_param(request), path_param(request, "session_id")
    body = await read_object(request)
    return json_response(await hs(request).key_backup.put_keys(
        who.user_id, _version(request), {room_id: {"sessions": {session_id: body}}}))


async def _stream_keys(request: web.Request, one_room: bool) -> web.StreamResponse:
    """A backup can be large: it goes out as the service reads it, never whole."""
    who = await requester(request)
    room_id = room_id_param(request) if one_room else None
    backup = hs(request).key_backup
    number = await backup.existing_version(who.user_id, _version(request))
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    await response.prepare(request)
    async for piece in backup.keys_json(who.user_id, number, room_id):
        await response.write(piece)
    await response.write_eof()
    return response


@routes.get(KEYS)
async def get_keys(request: web.Request) -> web.StreamResponse:
    return await _stream_keys(request, one_room=False)


@routes.get(KEYS + "/{room_id}")
async def get_room_keys(request: web.Request) -> web.StreamResponse:
    return await _stream_keys(request, one_room=True)


@routes.get(KEYS + "/{room_id}/{session_id}")
async def get_session_key(request: web.Request) -> web.Response:
    who = await requester(request)
    return json_response(await hs(request).key_backup.session_key(
        who.user_id, _version(request), room_id_param(request),
        path_param(request, "session_id")))


@routes.delete(KEYS)
async def delete_keys(request: web.Request) -> web.Response:
    who = await requester(request)
    return json_response(await hs(request).key_backup.delete_keys(who.user_id,
                                                                  _version(request)))


@routes.delete(KEYS + "/{room_id}")
async def delete_room_keys(request: web.Request) -> web.Response:
    who = await requester(request)
    return json_response(await hs(request).key_backup.delete_keys(
        who.user_id, _version(request), room_id_param(request)))


@routes.delete(KEYS + "/{room_id}/{session_id}")
async def delete_session_key(request: web.Request) -> web.Response:
    who = await requester(request)
    return json_response(await hs(request).key_backup.delete_keys(
        who.user_id, _version(request), room_id_param(request),
        path_param(request, "session_id")))
