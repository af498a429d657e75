"""Judging addresses an outbound connection may reach: public unicast ones, or a
configured allow-list.

Federation (server names come from whoever calls us) and push gateways (URLs come
from users) must not become a way into our loopback, private network, link-local
(cloud metadata) or multicast addresses. ``is_public`` says whether an address is
global unicast; ``GuardedSockets`` checks each socket actually opened (aiohttp's
``socket_factory``), after DNS resolution, so DNS rebinding cannot get around it.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from typing import Any


class ForbiddenAddress(OSError):
    """The destination resolved to an address we must not reach."""


def is_public(address: str) -> bool:
    """Whether ``address`` is a global unicast IP (not loopback, private, link-local,
    multicast, unspecified, reserved or documentation)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _IPV4_COMPATIBLE:
            return False  # deprecated, and routes to IPv4 on some stacks
        # Forms that carry an IPv4 address a gateway will reach: judge that address.
        embedded = ip.ipv4_mapped or ip.sixtofour or _nat64(ip)
        if embedded is not None:
            ip = embedded
    return ip.is_global and not ip.is_multicast and not (ip.version == 4 and ip in _IETF_PROTOCOL)


# IETF protocol assignments (RFC 6890); Python 3.11 counts some of them global.
_IETF_PROTOCOL = ipaddress.ip_network("192.0.0.0/24")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


def _nat64(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if any(ip in network for network in _NAT64):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


class GuardedSockets:
    """A ``socket_factory`` that opens sockets only to public addresses or to the
    networks in ``allowed`` (CIDRs from the config)."""

    def __init__(self, allowed: Iterable[str] = ()) -> None:
        self.allowed = [ipaddress.ip_network(cidr, strict=False) for cidr in allowed]

    def allows(self, address: str) -> bool:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        return is_public(address) or any(ip in network for network in self.allowed)

    def __call__(self, addr_info: Any) -> socket.socket:
        family, kind, proto, _, sockaddr = addr_info
        if not self.allows(sockaddr[0]):
            raise ForbiddenAddress(f"{sockaddr[0]} is not a public address")
        return socket.socket(family=family, type=kind, proto=proto)
