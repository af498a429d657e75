"""GET /_matrix/key/v2/server: our verify keys, self-signed."""

from __future__ import annotations

from aiohttp import web

from federation.http import federation_of
from homeserver.web.http import json_response

routes = web.RouteTableDef()


@routes.get("/_matrix/key/v2/server")
async def server_keys(request: web.Request) -> web.Response:
    return json_response(await federation_of(request).keyring.published())
