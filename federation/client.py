"""Outbound federation requests: find the destination, sign the request, send it.

A destination is reached through ``federation.endpoints`` first (tests,
private networks), else the spec's discovery: ``/.well-known/matrix/server``
and then port 8448 over HTTPS, with certificate verification on. Discovered
destinations are reached only at public addresses (see ``addresses``) unless
``federation.allow_private_addresses`` is set; what discovery found is kept
for at most ``MAX_DISCOVERED`` names.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
from yarl import URL

from federation.addresses import public_socket
from federation.request_auth import authorization_header
from homeserver import strict_json
from homeserver.config import Config
from homeserver.errors import MatrixError
from homeserver.events.canonical import canonical_json
from homeserver.events.keys import SigningKey
from homeserver.ids import is_server_name
from homeserver.lru import LruDict

log = logging.getLogger(__name__)
TIMEOUT = aiohttp.ClientTimeout(total=30, connect=10)
MAX_DISCOVERED = 10_000
# Another server's answer is read at most this far: send_join's room state is the
# largest answer we ask for, and a DM's is tiny; without a bound a server we merely
# asked (even for keys) could stream gigabytes into memory.
MAX_RESPONSE_BYTES = 64 * 2**20
MAX_WELL_KNOWN_BYTES = 64 * 2**10


class FederationError(Exception):
    """A remote server could not be reached or refused the request."""

    def __init__(self, message: str, status: int | None = None,
                 body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


def path(template: str, *parts: str) -> str:
    """A request path with each part percent-encoded, as the spec requires."""
    return template.format(*(quote(p, safe="") for p in parts))


class FederationClient:
    def __init__(self, config: Config, key: SigningKey) -> None:
        self.server_name = config.server_name
        self.endpoints = dict(config.federation.endpoints)
        self.allow_private = config.federation.allow_private_addresses
        self.key = key
        self._sessions: dict[bool, aiohttp.ClientSession] = {}
        self._well_known: LruDict[str, str] = LruDict(MAX_DISCOVERED)

    def _http(self, trusted: bool) -> aiohttp.ClientSession:
        """A session for configured endpoints (``trusted``) or for discovered ones, whose
        every connection goes to a public address unless private ones are allowed."""
        session = self._sessions.get(trusted)
        if session is None or session.closed:
            guard = {} if trusted or self.allow_private else {"socket_factory": public_socket}
            session = aiohttp.ClientSession(timeout=TIMEOUT,
                                            connector=aiohttp.TCPConnector(**guard))
            self._sessions[trusted] = session
        return session

    async def close(self) -> None:
        for session in self._sessions.values():
            await session.close()

    async def base_url(self, destination: str) -> str:
        if destination in self.endpoints:
            return self.endpoints[destination].rstrip("/")
        found = self._well_known.get(destination)
        if found is None:
            found = self._well_known[destination] = await self._discover(destination)
        return found

    async def _discover(self, destination: str) -> str:
        host = destination
        try:
            async with self._http(trusted=False).get(
                    f"https://{destination}/.well-known/matrix/server") as r:
                if r.status == 200:
                    found = await read_json(r, MAX_WELL_KNOWN_BYTES)
                    delegated = found.get("m.server") if isinstance(found, dict) else None
                    if isinstance(delegated, str) and is_server_name(delegated):
                        host = delegated
        except (aiohttp.ClientError, ValueError, TimeoutError) as exc:
            log.debug("no well-known for %s: %s", destination, exc)
        has_port = ":" in host.rsplit("]", 1)[-1]
        return f"https://{host}" if has_port else f"https://{host}:8448"

    async def request(self, method: str, destination: str, request_path: str,
                      content: Any = None, query: dict[str, Any] | None = None,
                      signed: bool = True) -> Any:
        """Send one request and return its JSON answer; FederationError otherwise."""
        uri = request_path + (f"?{urlencode(query, doseq=True)}" if query else "")
        headers = {}
        if signed:
            headers["Authorization"] = authorization_header(
                self.key, self.server_name, destination, method, uri, content)
        # Canonical JSON, so the receiver can check the signature before parsing the body.
        body = None if content is None else canonical_json(content)
        if body is not None:
            headers["Content-Type"] = "application/json"
        try:
            # encoded=True: send the path byte for byte as signed, not re-quoted.
            url = URL(await self.base_url(destination) + uri, encoded=True)
            session = self._http(trusted=destination in self.endpoints)
            async with session.request(method, url, data=body, headers=headers) as resp:
                data = await read_json(resp, MAX_RESPONSE_BYTES)
                if resp.status != 200:
                    raise FederationError(f"{destination} answered {resp.status}",
                                          resp.status, data)
                return data
        except (aiohttp.ClientError, ValueError, TimeoutError, OSError) as exc:
            raise FederationError(f"cannot reach {destination}: {exc}") from None


async def read_json(resp: aiohttp.ClientResponse, limit: int) -> Any:
    """The answer's JSON, read at most ``limit`` bytes far; ValueError beyond or if not JSON."""
    if (resp.content_length or 0) > limit:
        raise ValueError(f"answer of {resp.content_length} bytes is over {limit}")
    raw = bytearray()
    async for chunk in resp.content.iter_chunked(65536):
        raw += chunk
        if len(raw) > limit:
            raise ValueError(f"answer over {limit} bytes")
    if not raw.strip():
        return None  # as aiohttp's json() answers an empty body
    try:
        return strict_json.loads(bytes(raw))
    except MatrixError as exc:
        raise ValueError(f"answer is not JSON: {exc.message}") from None
