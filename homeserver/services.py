"""The service container: every core service of one server, built from a config.

Handlers reach the services through ``request.app[HOMESERVER]``; tests build
one with a fake clock. The core never imports ``client_api`` or ``federation``.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from homeserver.accounts import AccountService
from homeserver.clock import Clock
from homeserver.config import Config
from homeserver.ratelimit import RateLimiter
from homeserver.storage import Database, connect
from homeserver.storage.accounts import AccountStore
from homeserver.storage.migrations import upgrade


@dataclass
class Homeserver:
    config: Config
    clock: Clock
    db: Database
    accounts: AccountService
    ratelimiter: RateLimiter

    @property
    def server_name(self) -> str:
        return self.config.server_name

    async def close(self) -> None:
        await self.db.close()


HOMESERVER = web.AppKey("homeserver", Homeserver)


async def build_homeserver(config: Config, clock: Clock | None = None) -> Homeserver:
    """Open storage, bring its schema up to date and wire the services."""
    clock = clock or Clock()
    db = await connect(config.database_url)
    try:
        await upgrade(db, clock.time_ms())
    except BaseException:
        await db.close()
        raise
    return Homeserver(
        config=config,
        clock=clock,
        db=db,
        accounts=AccountService(AccountStore(db), config.server_name, clock),
        ratelimiter=RateLimiter(config.rate_limits, clock),
    )
