"""Several workers on one PostgreSQL and one Redis: any worker wakes any waiter."""

from __future__ import annotations

import asyncio
from typing import Any

from homeserver.app import create_app
from homeserver.clock import FakeClock
from homeserver.services import build_homeserver
from tests.conftest import REDIS_HOST, REDIS_PORT, Api, make_config, register, require_service

REDIS_URL = f"redis://{REDIS_HOST}:{REDIS_PORT}/0"


async def worker(tmp_path: Any, name: str, database: str, aiohttp_client: Any) -> Api:
    config = make_config(tmp_path / name, database, redis=REDIS_URL)
    return Api(await aiohttp_client(create_app(await build_homeserver(config, FakeClock()))))


async def test_message_on_one_worker_wakes_sync_on_another(
    tmp_path: Any, postgres_url: str, aiohttp_client: Any
) -> None:
    require_service("Redis", REDIS_HOST, REDIS_PORT)
    one = await worker(tmp_path, "one", postgres_url, aiohttp_client)
    two = await worker(tmp_path, "two", postgres_url, aiohttp_client)
    alice = await register(one.client, "alice")
    bob = await register(two.client, "bob")
    room = (await one.call("POST", f"/_matrix/client/unstable/dm/{bob.user_id}", alice))[
        "room_id"]
    await two.join(bob, room)
    token = (await two.sync(bob))["next_batch"]
    waiting = asyncio.create_task(two.sync(bob, token, timeout="60000"))
    await asyncio.sleep(0.2)
    assert not waiting.done()
    await one.send(alice, room, "across workers")
    woke = await asyncio.wait_for(waiting, 5)
    events = woke["rooms"]["join"][room]["timeline"]["events"]
    assert [e["content"]["body"] for e in events] == ["across workers"]
