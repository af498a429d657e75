"""Server keys: ours as published, and other servers' fetched, verified and cached.

``GET /_matrix/key/v2/server`` answers with our current verify key, the keys
we used before (``old_verify_keys``) and a validity limit, self-signed.
A remote server's key is fetched from it directly, accepted only if the
answer is signed by that very key, and cached until its ``valid_until_ts``
(at most 7 days ahead), for at most ``MAX_CACHED_SERVERS`` servers.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from federation.client import FederationClient, FederationError
from homeserver.clock import Clock
from homeserver.events.canonical import check_canonical
from homeserver.events.keys import SigningKey
from homeserver.events.signing import SignatureError, check_json_signature, sign_json
from homeserver.lru import LruDict
from homeserver.models import VerifyKey
from homeserver.peers import PeerStore

log = logging.getLogger(__name__)
VALIDITY_MS = 7 * 24 * 3600 * 1000
# An unknown key ID makes us ask its server; forged IDs must not make us ask again
# and again (we would be a request amplifier), so a server is asked at most this often.
MIN_REFETCH_MS = 10_000
# When we last asked each server is kept for this many servers at most (an evicted one
# may be asked again early; memory stays bounded whatever names requests make up).
MAX_REMEMBERED_SERVERS = 10_000
# The keys of at most this many servers are kept (those valid longest); a server dropped
# is asked again when next needed. Names cost no more than that, however many are made up.
MAX_CACHED_SERVERS = 10_000
MAX_KEYS_PER_SERVER = 20
KEY_PATH = "/_matrix/key/v2/server"


class UnknownKey(Exception):
    """No valid key with that ID could be found for that server."""


class KeyRing:
    def __init__(self, store: PeerStore, client: FederationClient, key: SigningKey,
                 server_name: str, clock: Clock) -> None:
        self.store = store
        self.client = client
        self.key = key
        self.server_name = server_name
        self.clock = clock
        self._asked_at: LruDict[str, int] = LruDict(MAX_REMEMBERED_SERVERS)
        self._asking: dict[str, asyncio.Task[None]] = {}

    async def remember_own_key(self) -> None:
        await self.store.record_own_key(self.key.key_id, self.key.public_key_base64,
                                        self.clock.time_ms())

    async def published(self) -> dict[str, Any]:
        """Our key document, signed by the key it lists."""
        old = {row["key_id"]: {"key": row["verify_key"], "expired_ts": row["expired_ts"]}
               for row in await self.store.old_own_keys()}
        doc = {
            "server_name": self.server_name,
            "verify_keys": {self.key.key_id: {"key": self.key.public_key_base64}},
            "old_verify_keys": old,
            "valid_until_ts": self.clock.time_ms() + VALIDITY_MS,
        }
        return sign_json(doc, self.server_name, self.key)

    async def verify_key(self, server_name: str, key_id: str,
                         at_ms: int | None = None) -> str:
        """The Base64 verify key ``server_name`` signs with as ``key_id``, valid at ``at_ms``."""
        if server_name == self.server_name and key_id == self.key.key_id:
            return self.key.public_key_base64
        at_ms = self.clock.time_ms() if at_ms is None else at_ms
        cached = await self.store.server_key(server_name, key_id)
        if cached is None or not _valid(cached, at_ms):
            await self._fetch(server_name)
            cached = await self.store.server_key(server_name, key_id)
        if cached is None or not _valid(cached, at_ms):
            raise UnknownKey(f"no valid key {key_id} for {server_name}")
        return cached.verify_key

    async def _fetch(self, server_name: str) -> None:
        """Ask the server for its keys; callers at the same moment share one request."""
        asking = self._asking.get(server_name)
        if asking is None:
            now = self.clock.time_ms()
            if now - self._asked_at.get(server_name, now - MIN_REFETCH_MS) < MIN_REFETCH_MS:
                return
            self._asked_at[server_name] = now
            asking = asyncio.create_task(self._ask(server_name))
            self._asking[server_name] = asking
            asking.add_done_callback(lambda _: self._asking.pop(server_name, None))
        await asyncio.shield(asking)

    async def _ask(self, server_name: str) -> None:
        try:
            doc = await self.client.request("GET", server_name, KEY_PATH, signed=False)
            keys = _checked_keys(doc, server_name, self.clock.time_ms())
        except (FederationError, SignatureError, ValueError, KeyError, TypeError,
                AttributeError) as exc:
            log.warning("cannot get keys of %s: %s", server_name, exc)
            return
        await self.store.store_server_keys(server_name, keys)
        await self.store.prune_server_keys(MAX_CACHED_SERVERS)


def _valid(key: VerifyKey, at_ms: int) -> bool:
    limit = key.expired_ts if key.expired_ts is not None else key.valid_until_ts
    return at_ms <= limit


def _checked_keys(doc: Any, server_name: str, now_ms: int) -> list[VerifyKey]:
    """The keys of a key document, if it is ``server_name``'s and signed by its own keys.
    As the spec asks, a key counts as valid for at most 7 days from now."""
    check_canonical(doc)
    if doc.get("server_name") != server_name:
        raise ValueError("key document names another server")
    valid_until = min(int(doc["valid_until_ts"]), now_ms + VALIDITY_MS)
    current = {k: v["key"] for k, v in doc["verify_keys"].items()}
    if not current:
        raise ValueError("no verify keys")
    if len(current) + len(doc.get("old_verify_keys") or {}) > MAX_KEYS_PER_SERVER:
        raise ValueError(f"more than {MAX_KEYS_PER_SERVER} keys")
    for key_id, verify_key in current.items():
        check_json_signature(doc, server_name, key_id, verify_key)
    keys = [VerifyKey(k, v, valid_until) for k, v in current.items()]
    for key_id, old in (doc.get("old_verify_keys") or {}).items():
        expired = min(int(old["expired_ts"]), now_ms)
        keys.append(VerifyKey(key_id, old["key"], expired, expired))
    return keys
