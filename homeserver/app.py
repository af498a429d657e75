"""The composition root: builds the aiohttp application from the services.

The only module of the core that imports ``client_api`` and ``federation``:
it mounts their routes on one application.
"""

from __future__ import annotations

from aiohttp import web

import client_api
import federation
from homeserver.services import HOMESERVER, Homeserver
from homeserver.web.middleware import add_cors_headers, middlewares


def create_app(hs: Homeserver) -> web.Application:
    """One application serving the client API; it closes ``hs`` on cleanup."""
    limit = hs.config.limits.max_body_bytes
    # Bodies are read as sent: client_api/content_encoding.py decodes them within the limit.
    app = web.Application(middlewares=middlewares(limit, hs.config.media.max_upload_bytes),
                          client_max_size=limit,
                          handler_args={"auto_decompress": False})
    app[HOMESERVER] = hs
    app.on_response_prepare.append(add_cors_headers)
    client_api.setup(app, hs)
    federation.setup(app, hs)

    async def end_long_polls(app: web.Application) -> None:
        hs.sync.stop_waiting()  # after the sockets' goodbyes, which client_api added first

    async def close_services(app: web.Application) -> None:
        await hs.close()

    app.on_shutdown.append(end_long_polls)
    app.on_cleanup.append(close_services)
    return app
