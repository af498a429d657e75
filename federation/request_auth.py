"""X-Matrix request authentication (Server-Server API, "Request Authentication").

The signed object is ``{"method", "uri", "origin", "destination"[, "content"]}``;
the header is ``X-Matrix origin="a",destination="b",key="ed25519:v",sig="…"``,
parsed as RFC 9110 auth-params (token or quoted-string values, names
case-insensitive). A request without ``destination`` is checked as if it
named us.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from homeserver.events.canonical import encode_base64
from homeserver.events.keys import SigningKey, verify_signature
from homeserver.events.signing import signable_bytes

SCHEME = "x-matrix"
_KEY_ID = re.compile(r"^ed25519:[A-Za-z0-9_]+$")
_PARAM = re.compile(
    r'\s*([A-Za-z0-9!#$%&\'*+.^_`|~-]+)\s*=\s*'
    r'(?:"((?:[^"\\]|\\.)*)"|([A-Za-z0-9!#$%&\'*+.^_`|~:/\[\]@-]+))\s*(?:,|$)'
)


class AuthHeaderError(ValueError):
    """The Authorization header is not a well-formed X-Matrix header."""


class RequestAuthError(Exception):
    """The request's signature does not verify, or it is not meant for us."""


@dataclass(frozen=True)
class XMatrix:
    origin: str
    destination: str | None
    key_id: str
    signature: str


def request_json(method: str, uri: str, origin: str, destination: str,
                 content: Any | None) -> dict[str, Any]:
    signed: dict[str, Any] = {"method": method, "uri": uri, "origin": origin,
                              "destination": destination}
    if content is not None:
        signed["content"] = content
    return signed


def authorization_header(key: SigningKey, origin: str, destination: str, method: str,
                         uri: str, content: Any | None) -> str:
    message = signable_bytes(request_json(method, uri, origin, destination, content))
    sig = encode_base64(key.sign(message))
    return (f'X-Matrix origin="{origin}",destination="{destination}",'
            f'key="{key.key_id}",sig="{sig}"')


def parse_authorization(header: str) -> XMatrix:
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != SCHEME:
        raise AuthHeaderError("not an X-Matrix header")
    params = _params(rest.strip())
    try:
        origin, key_id, sig = params["origin"], params["key"], params["sig"]
    except KeyError as exc:
        raise AuthHeaderError(f"missing {exc.args[0]}") from None
    if not _KEY_ID.match(key_id):
        raise AuthHeaderError("key must be ed25519:<version>")
    if not origin or not sig:
        raise AuthHeaderError("empty origin or sig")
    return XMatrix(origin, params.get("destination"), key_id, sig)


def _params(text: str) -> dict[str, str]:
    params: dict[str, str] = {}
    pos = 0
    while pos < len(text):
        match = _PARAM.match(text, pos)
        if match is None or match.end() == pos:
            raise AuthHeaderError("malformed parameters")
        name = match[1].lower()
        if name in params:
            raise AuthHeaderError(f"duplicate {name}")
        quoted = match[2]
        params[name] = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else match[3]
        pos = match.end()
    return params


def verify_request(header: XMatrix, public_key_b64: str, method: str, uri: str,
                   our_name: str, content: Any | None) -> None:
    if header.destination is not None and header.destination != our_name:
        raise RequestAuthError("the request is addressed to another server")
    message = signable_bytes(request_json(method, uri, header.origin, our_name, content))
    if not verify_signature(public_key_b64, message, header.signature):
        raise RequestAuthError("bad signature")
