"""A small Matrix client for the load generator: standard Client-Server API only."""

from __future__ import annotations

import itertools
import time
from typing import Any

import aiohttp

V3 = "/_matrix/client/v3"
_txn = itertools.count()


class MatrixError(Exception):
    pass


class User:
    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        self.session = session
        self.base_url = base_url
        self.user_id = ""
        self.token = ""

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def call(self, method: str, path: str, body: Any = None,
                   params: dict[str, str] | None = None, auth: bool = True) -> Any:
        async with self.session.request(
            method, self.base_url + path, json=body, params=params,
            headers=self.headers if auth else None,
        ) as resp:
            data = await resp.json(content_type=None)
            if resp.status != 200:
                raise MatrixError(f"{method} {path}: {resp.status} {data}")
            return data

    async def register(self, username: str, password: str | None = "bench-password-1") -> None:
        """``password=None`` registers without one (ours allows it; nothing is hashed)."""
        body: dict[str, Any] = {"username": username}
        if password is not None:
            body["password"] = password
        async with self.session.post(self.base_url + V3 + "/register", json=body) as resp:
            first = await resp.json(content_type=None)
        if "access_token" not in first:
            body["auth"] = {"type": "m.login.dummy", "session": first.get("session")}
            first = await self.call("POST", V3 + "/register", body, auth=False)
        self.user_id, self.token = first["user_id"], first["access_token"]

    async def login(self, password: str = "bench-password-1") -> None:
        """A password login: a new device and token (the server hashes the password)."""
        body = {"type": "m.login.password", "password": password,
                "identifier": {"type": "m.id.user", "user": self.user_id}}
        self.token = (await self.call("POST", V3 + "/login", body, auth=False))["access_token"]

    async def create_dm(self, peer: str) -> str:
        body = {"is_direct": True, "invite": [peer], "preset": "trusted_private_chat"}
        return (await self.call("POST", V3 + "/createRoom", body))["room_id"]

    async def resolve_dm(self, peer: str) -> str:
        """Our DM endpoint: the pair's one room, made if it does not exist yet."""
        return (await self.call("POST", f"/_matrix/client/unstable/dm/{peer}"))["room_id"]

    async def create_room(self) -> str:
        return (await self.call("POST", V3 + "/createRoom", {"preset": "private_chat"}))[
            "room_id"]

    async def join(self, room_id: str) -> None:
        await self.call("POST", f"{V3}/rooms/{room_id}/join", {})

    async def send(self, room_id: str, body: str) -> float:
        """Send a text message; the request's latency in seconds."""
        start = time.perf_counter()
        await self.call("PUT", f"{V3}/rooms/{room_id}/send/m.room.message/b{next(_txn)}",
                        {"msgtype": "m.text", "body": body})
        return time.perf_counter() - start

    async def typing(self, room_id: str, typing: bool) -> None:
        await self.call("PUT", f"{V3}/rooms/{room_id}/typing/{self.user_id}",
                        {"typing": typing, "timeout": 30_000})

    async def presence(self, state: str) -> None:
        await self.call("PUT", f"{V3}/presence/{self.user_id}/status", {"presence": state})

    async def sync(self, since: str | None, timeout_ms: int = 30_000,
                   set_presence: str = "offline",
                   sync_filter: str | None = None) -> dict[str, Any]:
        params = {"timeout": str(timeout_ms), "set_presence": set_presence}
        if sync_filter is not None:
            params["filter"] = sync_filter
        if since:
            params["since"] = since
        return await self.call("GET", V3 + "/sync", params=params)
