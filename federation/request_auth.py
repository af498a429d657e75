"""X-Matrix request authentication (Server-Server API, "Request Authentication").

Owns the signed request object ``{"method", "uri", "origin", "destination"[, "content"]}``,
writing and parsing the ``Authorization: X-Matrix origin=…,destination=…,key=…,sig=…``
header (RFC 9110 auth-params), and checking a parsed header against a request. Pure
functions: fetching the origin's key is the caller's business.

A header whose origin is not a server name, or that is not addressed to us, is refused
by ``check_names`` before anything is fetched for it. A body already in canonical JSON
(as Synapse and we send it) is verified from its bytes, without parsing it: the signed
object is spliced around them (its keys sort as content, destination, method, origin,
uri).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from homeserver.events.canonical import canonical_json, encode_base64
from homeserver.events.keys import SigningKey, verify_signature
from homeserver.events.signing import signable_bytes
from homeserver.ids import is_server_name

SCHEME = "x-matrix"
_KEY_ID = re.compile(r"ed25519:[A-Za-z0-9_]+")
_OWS = r"[ \t]*"
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
# Bare values may also hold ':' (the spec asks recipients to allow it, old Synapse sends
# origin=host:port unquoted) and '[]' (an IPv6-literal server name sent the same way).
_BARE_VALUE = r"[!#$%&'*+.^_`|~0-9A-Za-z:\[\]-]+"
_QUOTED = r'"(?P<quoted>(?:[^"\\\x00-\x08\x0a-\x1f\x7f]|\\[^\x00-\x08\x0a-\x1f\x7f])*)"'
_PARAM = re.compile(
    rf"(?P<name>{_TOKEN}){_OWS}={_OWS}(?:{_QUOTED}|(?P<bare>{_BARE_VALUE})){_OWS}(?:,|\Z)"
)
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)


class AuthHeaderError(ValueError):
    """The Authorization header is not a well-formed X-Matrix header."""


class RequestAuthError(Exception):
    """The request's signature does not verify, or it is not meant for us."""


@dataclass(frozen=True)
class XMatrix:
    """A parsed X-Matrix header; ``destination`` is None when the sender left it out."""

    origin: str
    destination: str | None
    key_id: str
    signature: str


def request_json(method: str, uri: str, origin: str, destination: str,
                 content: Any | None) -> dict[str, Any]:
    """The object a request signature covers; ``content`` only when there is a body."""
    signed: dict[str, Any] = {"method": method, "uri": uri, "origin": origin,
                              "destination": destination}
    if content is not None:
        signed["content"] = content
    return signed


def authorization_header(key: SigningKey, origin: str, destination: str, method: str,
                         uri: str, content: Any | None) -> str:
    """The ``Authorization`` value signing this request as ``origin`` with ``key``."""
    message = signable_bytes(request_json(method, uri, origin, destination, content))
    sig = encode_base64(key.sign(message))
    return (f"X-Matrix origin={_quote(origin)},destination={_quote(destination)},"
            f"key={_quote(key.key_id)},sig={_quote(sig)}")


def _quote(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def parse_authorization(header: str) -> XMatrix:
    """Parse an X-Matrix ``Authorization`` value; AuthHeaderError if it is malformed."""
    scheme, _, rest = header.strip(" \t").partition(" ")
    if scheme.lower() != SCHEME:
        raise AuthHeaderError("not an X-Matrix header")
    params = _params(rest)
    missing = [name for name in ("origin", "key", "sig") if not params.get(name)]
    if missing:
        raise AuthHeaderError(f"missing or empty {', '.join(missing)}")
    if not _KEY_ID.fullmatch(params["key"]):
        raise AuthHeaderError("key must be ed25519:<version>")
    return XMatrix(params["origin"], params.get("destination"), params["key"], params["sig"])


def _params(text: str) -> dict[str, str]:
    params: dict[str, str] = {}
    pos = _skip_separators(text, 0)
    while pos < len(text):
        match = _PARAM.match(text, pos)
        if match is None:
            raise AuthHeaderError(f"malformed parameter at {text[pos:pos + 20]!r}")
        name = match["name"].lower()
        if name in params:
            raise AuthHeaderError(f"duplicate parameter {name}")
        quoted = match["quoted"]
        params[name] = _ESCAPE.sub(r"\1", quoted) if quoted is not None else match["bare"]
        pos = _skip_separators(text, match.end())
    return params


def _skip_separators(text: str, pos: int) -> int:
    # RFC 9110 lists make recipients accept empty elements (",,", a trailing comma).
    while pos < len(text) and text[pos] in " \t,":
        pos += 1
    return pos


def check_names(header: XMatrix, our_name: str) -> None:
    """RequestAuthError unless the origin is a server name (by the spec's grammar) and
    the header is addressed to us (or, before spec v1.3, to no one)."""
    if not is_server_name(header.origin):
        raise RequestAuthError(f"origin {header.origin[:300]!r} is not a server name")
    if header.destination is not None and header.destination != our_name:
        raise RequestAuthError(f"request is addressed to {header.destination!r}, not us")


def verify_request(header: XMatrix, public_key_b64: str, method: str, uri: str,
                   our_name: str, content: Any | None) -> None:
    """Raise RequestAuthError unless ``header`` signs this request to us.

    A header without ``destination`` predates spec v1.3; it is checked as if it named us.
    """
    check_names(header, our_name)
    message = signable_bytes(request_json(method, uri, header.origin, our_name, content))
    _check_signature(header, public_key_b64, message)


def verify_canonical_request(header: XMatrix, public_key_b64: str, method: str, uri: str,
                             our_name: str, raw_content: bytes) -> None:
    """Like ``verify_request`` for a body taken to be canonical JSON, from its raw bytes.

    RequestAuthError if the signature does not cover these exact bytes: a forgery, or a
    body that is not canonical and must be parsed to be checked.
    """
    check_names(header, our_name)
    message = b"".join((
        b'{"content":', raw_content, b',"destination":', canonical_json(our_name),
        b',"method":', canonical_json(method), b',"origin":', canonical_json(header.origin),
        b',"uri":', canonical_json(uri), b"}"))
    _check_signature(header, public_key_b64, message)


def _check_signature(header: XMatrix, public_key_b64: str, message: bytes) -> None:
    if not verify_signature(public_key_b64, message, header.signature):
        raise RequestAuthError(f"bad signature from {header.origin} with {header.key_id}")
