"""Inbound federation requests: who sent it, proven by its X-Matrix signature.

Unsigned bodies are cheap. A request without a well-formed X-Matrix header naming a
server addressed to us is refused before its body is read; one whose key cannot be
found, before its body is read. The body is then read as bytes (at most the federation
body limit) and, when it is canonical JSON, verified from those bytes before it is
parsed. Only a body in another form has to be parsed to be checked, and only if it can
hold at most ``federation.max_values_before_auth`` JSON values (counted from its bytes);
either way it is parsed once.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from federation.keyring import UnknownKey
from federation.request_auth import (
    AuthHeaderError,
    RequestAuthError,
    XMatrix,
    check_names,
    parse_authorization,
    verify_canonical_request,
    verify_request,
)
from federation.services import FEDERATION, Federation
from homeserver.errors import MatrixError, Unauthorized
from homeserver.services import HOMESERVER
from homeserver.web.http import decode_json_object, read_raw

log = logging.getLogger(__name__)
ORIGIN = web.RequestKey("federation_origin", str)
# Bytes that start a JSON value or separate two: their count bounds the values a parse
# can build, and so its memory, without parsing.
_VALUE_MARKS = (b",", b":", b"[", b"{")
# Deep enough that a PDU nested past Canonical JSON's 64 still parses, so the
# transaction is answered PDU by PDU (that one refused) rather than refused whole.
MAX_NESTING = 256
# One header per signing key is what servers send (two while a key rotates); each may
# cost a key fetch before any signature is known good, so more are not read.
MAX_AUTH_HEADERS = 3


def federation_of(request: web.Request) -> Federation:
    return request.app[FEDERATION]


async def signed_body(request: web.Request) -> dict[str, Any] | None:
    """The JSON body of a request signed for us (None if empty); 401 M_UNAUTHORIZED otherwise.
    The origin it proves is then what ``origin_of`` answers."""
    _, body = await _authenticate(request, with_body=True)
    return body


async def origin_of(request: web.Request, content: Any = None) -> str:
    """The origin server of a request signed for us; 401 M_UNAUTHORIZED otherwise.

    For a request with a body call ``signed_body`` first: its raw bytes were verified
    there, so ``content`` is not needed (kept so both call orders read the same).
    """
    known = request.get(ORIGIN)
    if known is not None:
        return known
    origin, _ = await _authenticate(request, with_body=False)
    return origin


async def _authenticate(request: web.Request, with_body: bool) -> tuple[str, Any]:
    server = request.app[HOMESERVER]
    headers = _addressed_headers(request, server.server_name)
    body = _Body(request, server.config.federation.max_values_before_auth, with_body)
    failure = "no key"
    for auth in headers:
        try:
            verify_key = await federation_of(request).keyring.verify_key(auth.origin,
                                                                          auth.key_id)
            content = await body.verified(auth, verify_key, server.server_name)
        except (UnknownKey, RequestAuthError) as exc:
            # The path without its query: a query may hold a secret.
            log.info("refused federation request to %s: %s", request.path, exc)
            failure = str(exc)
            continue
        request[ORIGIN] = auth.origin
        await federation_of(request).sender.heard_from(auth.origin)
        return auth.origin, content
    raise Unauthorized(f"Request signature could not be verified: {failure}")


def _addressed_headers(request: web.Request, our_name: str) -> list[XMatrix]:
    """The well-formed X-Matrix headers addressed to us; 401 (body unread) if none."""
    found = []
    for header in request.headers.getall("Authorization", [])[:MAX_AUTH_HEADERS]:
        try:
            auth = parse_authorization(header)
            check_names(auth, our_name)
        except (AuthHeaderError, RequestAuthError) as exc:
            # The path without its query: a query may hold a secret.
            log.info("refused federation request to %s: %s", request.path, exc)
            continue
        found.append(auth)
    if not found:
        raise Unauthorized("Missing or malformed X-Matrix authorization")
    return found


class _Body:
    """A request's body: read once when a signature is to be checked, parsed at most once."""

    def __init__(self, request: web.Request, max_values: int, with_body: bool) -> None:
        self.request = request
        self.max_values = max_values
        self.raw: bytes | None = None if with_body else b""  # a GET's body is not signed
        self.parsed: dict[str, Any] | None = None

    async def verified(self, auth: XMatrix, verify_key: str, our_name: str) -> Any:
        """The parsed body once ``auth`` verifies over it; RequestAuthError otherwise."""
        if self.raw is None:
            self.raw = (await read_raw(self.request)).strip()
        method, uri = self.request.method, self.request.raw_path
        if not self.raw:
            verify_request(auth, verify_key, method, uri, our_name, None)
            return None
        if self.parsed is None:
            try:
                verify_canonical_request(auth, verify_key, method, uri, our_name, self.raw)
                return self._parse()  # authenticated: now it may cost what it costs
            except RequestAuthError:
                pass  # not canonical, or forged: only parsing tells which
        verify_request(auth, verify_key, method, uri, our_name, self._parse_unverified())
        return self.parsed

    def _parse(self) -> dict[str, Any]:
        if self.parsed is None:
            self.parsed = decode_json_object(self.raw or b"", max_nesting=MAX_NESTING)
        return self.parsed

    def _parse_unverified(self) -> dict[str, Any]:
        raw = self.raw or b""
        if self.parsed is None and 1 + sum(map(raw.count, _VALUE_MARKS)) > self.max_values:
            raise RequestAuthError(f"the signature does not cover the body's bytes, and a "
                                   f"body of over {self.max_values} JSON values is only "
                                   f"verified in canonical JSON")
        try:
            return self._parse()
        except MatrixError:
            raise RequestAuthError("body is not JSON, and so not signed") from None
