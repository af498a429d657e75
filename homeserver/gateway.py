"""The one door from the core out to other servers: the FederationGateway.

The core's services are built holding a FederationDoor and call its gateway for what
only federation can do: join and leave rooms held elsewhere, resolve DMs with users of
other servers, and tell other servers about typing, receipts and presence. The door
opens on NoFederation, which does nothing and refuses remote rooms; the composition
root (homeserver/app.py, through ``federation.setup``) connects federation's gateway
once, before the app serves, when ``federation.enabled``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from homeserver.errors import Forbidden

if TYPE_CHECKING:
    from homeserver.dms import DmResolution


class FederationGateway(Protocol):
    async def join(self, room_id: str, user_id: str, via: str) -> str:
        """Join a room another server holds, through ``via``; the join event's ID."""
        ...

    async def leave(self, room_id: str, user_id: str, via: str) -> None: ...

    async def resolve_dm(self, me: str, other: str) -> DmResolution:
        """The DM room of our ``me`` and another server's ``other``, made on first use."""
        ...

    async def typing_changed(self, room_id: str, user_id: str, typing: bool,
                             timeout_ms: int) -> None: ...

    async def receipt_sent(self, room_id: str, user_id: str, event_id: str,
                           ts: int) -> None: ...

    async def presence_changed(self, user_id: str, content: dict[str, Any]) -> None: ...


class NoFederation:
    """The gateway of a server that does not federate."""

    async def join(self, room_id: str, user_id: str, via: str) -> str:
        raise Forbidden("Federation with other servers is not enabled")

    async def leave(self, room_id: str, user_id: str, via: str) -> None:
        raise Forbidden("Federation with other servers is not enabled")

    async def resolve_dm(self, me: str, other: str) -> DmResolution:
        raise Forbidden("Federation with other servers is not enabled")

    async def typing_changed(self, room_id: str, user_id: str, typing: bool,
                             timeout_ms: int) -> None:
        pass

    async def receipt_sent(self, room_id: str, user_id: str, event_id: str,
                           ts: int) -> None:
        pass

    async def presence_changed(self, user_id: str, content: dict[str, Any]) -> None:
        pass


class FederationDoor:
    """What every core service that may reach another server holds from construction.

    The gateway cannot be built before the core (it calls back into the core's
    services), so the composition root connects it here, in one place, instead of
    setting attributes on each service.
    """

    def __init__(self) -> None:
        self.gateway: FederationGateway = NoFederation()

    def connect(self, gateway: FederationGateway) -> None:
        self.gateway = gateway

    @property
    def connected(self) -> bool:
        return not isinstance(self.gateway, NoFederation)
