"""What a client asks first: supported versions, well-known, capabilities, and the
answers to the settings Element asks for at start: TURN servers, third-party protocols."""

from __future__ import annotations

from aiohttp import web

from client_api.http import requester
from homeserver.rooms.writer import ROOM_VERSION
from homeserver.voip import turn_server
from homeserver.web.http import hs, json_response

routes = web.RouteTableDef()

# Clients gate features on these (Element refuses a server without v1.1); every endpoint
# a client needs for messaging at these versions answers, with a correct empty answer
# where a feature is absent (no 3PIDs, no third-party protocols). No unstable feature
# is claimed: none is served.
SPEC_VERSIONS = ["r0.5.0", "r0.6.0", "r0.6.1", "v1.1", "v1.2", "v1.3", "v1.4", "v1.5", "v1.6"]


@routes.get("/_matrix/client/versions")
async def versions(request: web.Request) -> web.Response:
    return json_response({"versions": SPEC_VERSIONS, "unstable_features": {}})


@routes.get("/.well-known/matrix/client")
async def well_known(request: web.Request) -> web.Response:
    config = hs(request).config
    return json_response({
        "m.homeserver": {"base_url": config.base_url},
        "io.element.e2ee": {"default": config.e2ee.default},
    })


@routes.get("/_matrix/client/v3/capabilities")
async def capabilities(request: web.Request) -> web.Response:
    await requester(request)
    return json_response({
        "capabilities": {
            "m.change_password": {"enabled": True},
            "m.room_versions": {"default": ROOM_VERSION, "available": {ROOM_VERSION: "stable"}},
            "m.set_displayname": {"enabled": True},
            "m.set_avatar_url": {"enabled": True},
            "m.3pid_changes": {"enabled": False},
        }
    })


@routes.get("/_matrix/client/v3/voip/turnServer")
async def voip_turn_server(request: web.Request) -> web.Response:
    who = await requester(request)
    server = hs(request)
    return json_response(turn_server(server.config.voip, who.user_id, server.clock.time_ms()))


@routes.get("/_matrix/client/v3/thirdparty/protocols")
async def thirdparty_protocols(request: web.Request) -> web.Response:
    await requester(request)
    return json_response({})  # no bridges here
