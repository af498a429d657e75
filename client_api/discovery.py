"""What a client asks first: supported versions, well-known and capabilities."""

from __future__ import annotations

from aiohttp import web

from client_api.http import requester
from homeserver.web.http import hs, json_response

routes = web.RouteTableDef()

SPEC_VERSIONS = ["r0.5.0", "r0.6.0", "r0.6.1", "v1.1", "v1.2", "v1.3", "v1.4", "v1.5", "v1.6"]


@routes.get("/_matrix/client/versions")
async def versions(request: web.Request) -> web.Response:
    return json_response({"versions": SPEC_VERSIONS, "unstable_features": {}})


@routes.get("/.well-known/matrix/client")
async def well_known(request: web.Request) -> web.Response:
    return json_response({"m.homeserver": {"base_url": hs(request).config.base_url}})


@routes.get("/_matrix/client/v3/capabilities")
async def capabilities(request: web.Request) -> web.Response:
    await requester(request)
    return json_response({
        "capabilities": {
            "m.change_password": {"enabled": False},
            "m.room_versions": {"default": "10", "available": {"10": "stable"}},
            "m.set_displayname": {"enabled": True},
            "m.set_avatar_url": {"enabled": True},
            "m.3pid_changes": {"enabled": False},
        }
    })
