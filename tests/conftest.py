"""Shared fixtures: a fresh database per test on both backends, and a server to call.

PostgreSQL (127.0.0.1:5432, user postgres, trust auth) gets a new database
for each test, dropped afterwards. When it is unreachable, its tests skip
with the reason, unless CI=true, where they fail.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient

from homeserver.app import create_app
from homeserver.clock import FakeClock
from homeserver.config import Config, load_config
from homeserver.services import Homeserver, build_homeserver

PG_HOST, PG_PORT = "127.0.0.1", 5432
PG_ADMIN = f"postgresql://postgres@{PG_HOST}:{PG_PORT}/postgres"
# HS_TEST_REDIS_PORT lets two checkouts run their suites at once on separate Redis servers.
REDIS_HOST, REDIS_PORT = "127.0.0.1", int(os.environ.get("HS_TEST_REDIS_PORT", "6379"))


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    if reachable(host, port):
        return
    message = f"{name} is not reachable on {host}:{port}"
    if os.environ.get("CI") == "true":
        pytest.fail(message + " (CI=true: tests that need it must run)")
    pytest.skip(message)


@asynccontextmanager
async def fresh_postgres_database() -> AsyncIterator[str]:
    """A new, empty PostgreSQL database for one test, dropped afterwards."""
    require_service("PostgreSQL", PG_HOST, PG_PORT)
    name = f"hs_test_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(PG_ADMIN)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield f"postgresql://postgres@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    async with fresh_postgres_database() as url:
        yield url


@pytest.fixture
async def redis_url() -> AsyncIterator[str]:
    """The machine's Redis, with the server's shared typing and presence keys cleared."""
    require_service("Redis", REDIS_HOST, REDIS_PORT)
    url = f"redis://{REDIS_HOST}:{REDIS_PORT}/0"
    client = aioredis.from_url(url)
    try:
        async for key in client.scan_iter("hs:*"):
            await client.delete(key)
    finally:
        await client.aclose()
    yield url


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """Each test that takes it runs twice: on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'homeserver.db'}"
    return request.getfixturevalue("postgres_url")


def make_config(tmp_path: Any, database_url: str | None = None, **overrides: Any) -> Config:
    """A config for tests: loopback, data in tmp_path, rate limits off unless asked."""
    values: dict[str, Any] = {
        "server_name": "test.local",
        "data_dir": str(tmp_path),
        "database": database_url,
        "rate_limits.enabled": False,
    }
    values.update(overrides)
    return load_config(None, values)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def homeserver(tmp_path: Any, database_url: str, clock: FakeClock) -> Homeserver:
    return await build_homeserver(make_config(tmp_path, database_url), clock)


@pytest.fixture
async def client(homeserver: Homeserver, aiohttp_client: Any) -> TestClient:
    """An HTTP client for a server on the test's database (both backends)."""
    return await aiohttp_client(create_app(homeserver))


class Account:
    def __init__(self, user_id: str, access_token: str, device_id: str) -> None:
        self.user_id = user_id
        self.access_token = access_token
        self.device_id = device_id

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


async def register(client: TestClient, username: str, password: str = "hunter2!") -> Account:
    body = {"username": username, "password": password, "auth": {"type": "m.login.dummy"}}
    resp = await client.post("/_matrix/client/v3/register", json=body)
    assert resp.status == 200, await resp.text()
    data = await resp.json()
    return Account(data["user_id"], data["access_token"], data["device_id"])


class Api:
    """Small helpers over the HTTP API for room tests; every call checks its status."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    async def call(self, method: str, path: str, who: Account | None = None,
                   body: Any = None, status: int = 200) -> Any:
        headers = who.auth if who else {}
        resp = await self.client.request(method, path, json=body, headers=headers)
        data = await resp.json()
        assert resp.status == status, (method, path, resp.status, data)
        return data

    async def create_room(self, who: Account, **body: Any) -> str:
        data = await self.call("POST", "/_matrix/client/v3/createRoom", who, body)
        return data["room_id"]

    async def send(self, who: Account, room_id: str, body: str, txn: str | None = None) -> str:
        txn = txn or secrets.token_hex(6)
        path = f"/_matrix/client/v3/rooms/{room_id}/send/m.room.message/{txn}"
        data = await self.call("PUT", path, who, {"msgtype": "m.text", "body": body})
        return data["event_id"]

    async def join(self, who: Account, room_id: str) -> None:
        await self.call("POST", f"/_matrix/client/v3/rooms/{room_id}/join", who, {})

    async def invite(self, who: Account, room_id: str, user_id: str) -> None:
        await self.call("POST", f"/_matrix/client/v3/rooms/{room_id}/invite", who,
                        {"user_id": user_id})

    async def sync(self, who: Account, since: str | None = None, **query: Any) -> Any:
        params = {**({"since": since} if since else {}), **query}
        resp = await self.client.get("/_matrix/client/v3/sync", params=params, headers=who.auth)
        assert resp.status == 200, await resp.text()
        return await resp.json()


@pytest.fixture
def api(client: TestClient) -> Api:
    return Api(client)


CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).parent.parent / "test-artifacts"


def unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: the browser tests must run)")
    pytest.skip(reason)


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        unavailable("the playwright package is not installed")
    if shutil.which(CHROMIUM) is None:
        unavailable(f"no Chromium at {CHROMIUM}")
    async with async_playwright() as playwright:
        try:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM,
                                                       args=["--no-sandbox"])
        except Exception as exc:  # the browser cannot start on this machine
            unavailable(f"Chromium does not start: {exc}")
        yield browser
        await browser.close()
