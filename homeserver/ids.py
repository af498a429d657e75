"""Matrix identifiers: the user ID and server name grammars, helpers to build and split IDs."""

from __future__ import annotations

import re
import secrets

from homeserver.errors import InvalidUsername

# The spec's historical-compatible grammar for new localparts.
_LOCALPART = re.compile(r"^[a-z0-9._=\-/+]+$")
MAX_USER_ID_LENGTH = 255
# The spec's server name grammar (Appendices, "Server Name"): an IPv4 address, a bracketed
# IPv6 address or a DNS name, then an optional port.
_SERVER_NAME = re.compile(r"""
    (?: (?P<ipv4> [0-9]{1,3} (?: \.[0-9]{1,3} ){3} )
      | \[ (?P<ipv6> [0-9A-Fa-f:.]{2,45} ) \]
      | (?P<dns> [A-Za-z0-9.-]{1,255} ) )
    (?: : (?P<port> [0-9]{1,5} ) )?
""", re.VERBOSE)


def user_id(localpart: str, server_name: str) -> str:
    return f"@{localpart}:{server_name}"


def localpart_of(user_id_or_name: str, server_name: str) -> str:
    """Accept ``alice`` or ``@alice:server``; the server part must be ours."""
    if user_id_or_name.startswith("@"):
        local, sep, server = user_id_or_name[1:].partition(":")
        if not sep or server != server_name:
            raise InvalidUsername(f"{user_id_or_name} is not a user of this server")
        return local
    return user_id_or_name


def check_localpart(localpart: str, server_name: str) -> None:
    if not localpart or not _LOCALPART.match(localpart):
        raise InvalidUsername("User ID may only contain a-z, 0-9, and . _ = - / +")
    if len(user_id(localpart, server_name)) > MAX_USER_ID_LENGTH:
        raise InvalidUsername(f"User ID may be at most {MAX_USER_ID_LENGTH} characters")


def is_valid_user_id(value: str) -> bool:
    local, sep, server = value[1:].partition(":")
    return (
        value.startswith("@") and bool(sep) and bool(local) and bool(server)
        and len(value) <= MAX_USER_ID_LENGTH
    )


def is_server_name(value: str) -> bool:
    """Whether ``value`` is a server name by the spec's grammar, with a port in range."""
    match = _SERVER_NAME.fullmatch(value)
    if match is None:
        return False
    port = match["port"]
    return port is None or 0 < int(port) <= 65535


def server_of(user_id_value: str) -> str:
    return user_id_value.partition(":")[2]


def random_string(length: int = 10, alphabet: str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ") -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))
