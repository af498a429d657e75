"""End-to-end encryption keys: /keys/upload, /keys/query, /keys/claim, /keys/changes,
and cross-signing (/keys/device_signing/upload, /keys/signatures/upload)."""

from __future__ import annotations

from aiohttp import web

from client_api.http import read_object, requester
from homeserver.errors import BadJson, MissingParam
from homeserver.sync.tokens import parse_token
from homeserver.web.http import hs, json_response

routes = web.RouteTableDef()


@routes.post("/_matrix/client/v3/keys/upload")
async def upload(request: web.Request) -> web.Response:
    who = await requester(request)
    body = await read_object(request)
    counts = await hs(request).keys.upload(who.user_id, who.device_id, body)
    return json_response({"one_time_key_counts": counts})


@routes.post("/_matrix/client/v3/keys/query")
async def query(request: web.Request) -> web.Response:
    who = await requester(request)
    body = await read_object(request)
    _check_timeout(body)
    return json_response(await hs(request).keys.query(who.user_id, body.get("device_keys")))


@routes.post("/_matrix/client/v3/keys/claim")
async def claim(request: web.Request) -> web.Response:
    await requester(request)
    body = await read_object(request)
    _check_timeout(body)
    return json_response(await hs(request).keys.claim(body.get("one_time_keys")))


@routes.get("/_matrix/client/v3/keys/changes")
async def changes(request: web.Request) -> web.Response:
    who = await requester(request)
    after, upto = request.query.get("from"), request.query.get("to")
    if after is None or upto is None:
        raise MissingParam("from and to are required")
    news = await hs(request).keys.changes(who.user_id, parse_token(after, "from"),
                                          parse_token(upto, "to"))
    return json_response({"changed": news.changed, "left": news.left})


@routes.post("/_matrix/client/v3/keys/device_signing/upload")
async def upload_cross_signing_keys(request: web.Request) -> web.Response:
    who = await requester(request)
    body = await read_object(request)
    server = hs(request)
    await server.cross_signing.upload_keys(who.user_id, body, server.accounts.confirm_identity)
    return json_response({})


@routes.post("/_matrix/client/v3/keys/signatures/upload")
async def upload_signatures(request: web.Request) -> web.Response:
    who = await requester(request)
    body = await read_object(request)
    return json_response(await hs(request).cross_signing.upload_signatures(who.user_id, body))


def _check_timeout(body: dict) -> None:
    timeout = body.get("timeout")
    if timeout is not None and (not isinstance(timeout, int) or isinstance(timeout, bool)):
        raise BadJson("timeout must be an integer")
