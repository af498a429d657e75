"""Which addresses outbound federation may connect to: public unicast ones only.

A server name comes from whoever sends us a request, so without this check any
unauthenticated request could make us connect to our own loopback, the private network,
link-local (cloud metadata) or multicast addresses. The check runs on every address a
socket is actually opened to (aiohttp's ``socket_factory``), after DNS resolution and
for literal IPs alike, so a name that resolves to a public address once and a private
one the next (DNS rebinding) is still refused. Names in ``federation.endpoints`` and a
server with ``federation.allow_private_addresses`` are not checked.
"""

from __future__ import annotations

from typing import Any

from homeserver.addresses import ForbiddenAddress, GuardedSockets, is_public

__all__ = ["ForbiddenAddress", "is_public", "public_socket"]
_PUBLIC_ONLY = GuardedSockets()


def public_socket(addr_info: Any) -> Any:
    """A socket for ``addr_info`` (family, type, proto, canonname, sockaddr), refusing
    a non-public address before anything is sent to it."""
    return _PUBLIC_ONLY(addr_info)
