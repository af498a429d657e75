"""Who the client is when it reaches us through reverse proxies we trust.

``X-Forwarded-For`` is a list each proxy appends its peer to, so only its
right end is written by proxies; the left end is whatever the client sent.
The client is therefore the right-most address that is not one of our
proxies, read only when the connection itself comes from one of them.
Without ``listen.trusted_proxies`` the header is ignored: anyone could
otherwise pick a fresh address for every request and never be limited.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@functools.lru_cache(maxsize=8)
def trusted_networks(cidrs: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)


def _address(text: str) -> Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _trusted(address: Address | None, networks: tuple[Network, ...]) -> bool:
    return address is not None and any(address in n for n in networks)


def real_client(peer: str, forwarded_for: Iterable[str], networks: tuple[Network, ...]) -> str:
    """The client's address: ``peer`` unless a trusted proxy names someone behind it."""
    if not _trusted(_address(peer), networks):
        return peer
    hops = [h for header in forwarded_for for h in header.split(",")]
    nearest = peer
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            # A trusted proxy always writes an address; junk was written by the
            # client, so the proxy that passed it on is all we know.
            return nearest
        if not _trusted(address, networks):
            return str(address)
        nearest = str(address)
    return nearest
