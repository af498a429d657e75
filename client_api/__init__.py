"""The Client-Server API: aiohttp handlers under /_matrix/client, mounted in one place."""

from __future__ import annotations

from aiohttp import web

from client_api import (
    account,
    account_settings,
    context,
    cookie_auth,
    device_deletion,
    discovery,
    dms,
    keys,
    login,
    media,
    presence,
    push_rules,
    pushers,
    register,
    relations,
    room_directory,
    room_events,
    room_keys,
    rooms,
    search,
    sync,
    to_device,
    typing,
    user_data,
    user_directory,
    web_page,
    web_session,
    ws_dm,
    ws_frames,
    ws_stream,
)
from homeserver.services import Homeserver

V3 = "/_matrix/client/v3/"
R0 = "/_matrix/client/r0/"
# aiohttp tries the patterns under one prefix (".../rooms") in the order added:
# sending, the busiest, is added before joining, leaving and the rest.
ROUTE_TABLES = [
    room_events.routes, discovery.routes, register.routes, login.routes, account.routes,
    rooms.routes, user_data.routes, sync.routes, dms.routes, typing.routes,
    presence.routes, push_rules.routes, pushers.routes, ws_dm.routes, ws_stream.routes,
    web_session.routes, web_page.routes,
    account_settings.routes, room_directory.routes, media.routes,
    user_directory.routes,
    relations.routes, context.routes, search.routes,
    keys.routes, to_device.routes, room_keys.routes, device_deletion.routes,
]


def setup(app: web.Application, server: Homeserver) -> None:
    """Sessions for the web page, then every route."""
    cookie_auth.setup_sessions(app, server)
    setup_routes(app)
    ws_frames.close_sockets_on_shutdown(app)


def setup_routes(app: web.Application) -> None:
    """Add every handler; each v3 path also answers under r0 for older clients."""
    for table in ROUTE_TABLES:
        for route in table:
            assert isinstance(route, web.RouteDef)
            app.router.add_route(route.method, route.path, route.handler, **route.kwargs)
            if route.path.startswith(V3):
                app.router.add_route(
                    route.method, R0 + route.path.removeprefix(V3), route.handler
                )
