"""Pushers: a user's devices' push gateways, set and listed (``POST /pushers/set``).

A gateway URL comes from a user, so it is checked here (http or https, the
Push Gateway API's path, no literal address outside the allowed ones) and
again on every connection (``delivery.py``), where names are resolved.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from homeserver.addresses import GuardedSockets
from homeserver.clock import Clock
from homeserver.errors import Forbidden, InvalidParam
from homeserver.storage.database import Database
from homeserver.storage.pushers import PusherStore

NOTIFY_PATH = "/_matrix/push/v1/notify"
MAX_PUSHERS_PER_USER = 20
MAX_DATA_BYTES = 4096


@dataclass(frozen=True)
class PusherSpec:
    """One pusher as a client sets it (its bounds are checked by the client API's schema)."""

    app_id: str
    pushkey: str
    kind: str | None
    app_display_name: str
    device_display_name: str
    profile_tag: str | None
    lang: str
    data: dict[str, Any]
    append: bool


class PusherService:
    def __init__(self, store: PusherStore, db: Database, clock: Clock,
                 sockets: GuardedSockets) -> None:
        self.store = store
        self.db = db
        self.clock = clock
        self.sockets = sockets

    async def pushers(self, user_id: str) -> list[dict[str, Any]]:
        rows = await self.store.of_users(self.db, [user_id])
        return [{"app_id": r["app_id"], "pushkey": r["pushkey"], "kind": r["kind"],
                 "app_display_name": r["app_display_name"],
                 "device_display_name": r["device_display_name"],
                 **({"profile_tag": r["profile_tag"]} if r["profile_tag"] else {}),
                 "lang": r["lang"], "data": json.loads(r["data"])} for r in rows]

    async def set(self, user_id: str, spec: PusherSpec, device_id: str | None = None) -> None:
        """Create, update or (kind None) delete the user's pusher for (app_id, pushkey);
        a pusher belongs to the device that set it, and goes when that device does."""
        if spec.kind is None:
            async with self.db.transaction() as conn:
                await self.store.delete(conn, spec.app_id, spec.pushkey, user_id)
            return
        if spec.kind != "http":
            raise InvalidParam(f"Pusher kind {spec.kind[:32]!r} is not supported")
        self._check_data(spec.data)
        async with self.db.transaction() as conn:
            if not spec.append:  # the spec: this key now belongs to this user alone
                await self.store.delete_for_others(conn, spec.app_id, spec.pushkey, user_id)
            if await self.store.count_of(conn, user_id) >= MAX_PUSHERS_PER_USER and not any(
                    r["app_id"] == spec.app_id and r["pushkey"] == spec.pushkey
                    for r in await self.store.of_users(conn, [user_id])):
                raise Forbidden(f"At most {MAX_PUSHERS_PER_USER} pushers per user")
            await self.store.put(conn, user_id, spec.app_id, spec.pushkey, spec.kind,
                                 spec.app_display_name, spec.device_display_name,
                                 spec.profile_tag, spec.lang, json.dumps(spec.data),
                                 self.clock.time_ms(), device_id)

    def _check_data(self, data: dict[str, Any]) -> None:
        if len(json.dumps(data)) > MAX_DATA_BYTES:
            raise InvalidParam(f"data may be at most {MAX_DATA_BYTES} bytes")
        url = data.get("url")
        if not isinstance(url, str):
            raise InvalidParam("An http pusher needs data.url", errcode="M_MISSING_PARAM")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidParam("data.url must be an http or https URL")
        if parts.path != NOTIFY_PATH:
            raise InvalidParam(f"data.url must end in {NOTIFY_PATH}")
        if "format" in data and data["format"] != "event_id_only":
            raise InvalidParam("data.format may only be event_id_only")
        try:
            ipaddress.ip_address(parts.hostname)
        except ValueError:
            return  # a name: judged when it is resolved, on each connection
        if not self.sockets.allows(parts.hostname):
            raise InvalidParam("data.url may not point at a private or loopback address")
