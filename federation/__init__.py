"""The Server-Server API: server keys, X-Matrix request auth, transactions, joins.

``setup`` mounts it on the application. The key endpoint is always served;
the rest only with ``federation.enabled``.
"""

from __future__ import annotations

from aiohttp import web

from federation import (
    dm_api,
    keys_api,
    membership_api,
    query_api,
    room_api,
    transactions_api,
)
from federation.dms import FederatedDms
from federation.edu_relay import EdusToServers
from federation.gateway import Gateway
from federation.joins import RemoteJoiner
from federation.services import FEDERATION, Federation, build_federation
from homeserver.services import Homeserver


def setup(app: web.Application, hs: Homeserver) -> None:
    federation = build_federation(hs)
    app[FEDERATION] = federation
    app.router.add_routes(keys_api.routes)
    if hs.config.federation.enabled:
        _enable(app, hs, federation)
        starting = federation.start
    else:
        starting = federation.keyring.remember_own_key

    async def start(app: web.Application) -> None:
        await starting()

    async def close(app: web.Application) -> None:
        await federation.close()

    app.on_startup.append(start)
    app.on_cleanup.insert(0, close)


def _enable(app: web.Application, hs: Homeserver, federation: Federation) -> None:
    """Serve the Server-Server API and let the core reach other servers."""
    ask = hs.config.federation.dm_query
    for routes in (transactions_api.routes, membership_api.routes, dm_api.routes,
                   room_api.routes, query_api.routes):
        app.router.add_routes(routes)
    if ask:
        app.router.add_routes(dm_api.query_routes)
    joiner = RemoteJoiner(hs, federation.client, federation.keyring)
    dms = FederatedDms(hs, federation.client, joiner, ask)
    edus = EdusToServers(hs.peers.members, federation.sender, hs.server_name)
    hs.federation.connect(Gateway(joiner, dms, edus))
