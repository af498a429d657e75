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

import ipaddress
import socket
from typing import Any


class ForbiddenAddress(OSError):
    """The destination resolved to an address federation must not reach."""


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


def public_socket(addr_info: Any) -> socket.socket:
    """A socket for ``addr_info`` (family, type, proto, canonname, sockaddr), refusing
    a non-public address before anything is sent to it."""
    family, kind, proto, _, sockaddr = addr_info
    if not is_public(sockaddr[0]):
        raise ForbiddenAddress(f"{sockaddr[0]} is not a public address")
    return socket.socket(family=family, type=kind, proto=proto)
