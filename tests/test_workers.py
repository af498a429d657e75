"""Several workers on one PostgreSQL and one Redis: any worker wakes any waiter."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
from typing import Any

import pytest

from homeserver.app import create_app
from homeserver.clock import FakeClock
from homeserver.services import HOMESERVER, build_homeserver
from tests.conftest import Account, Api, make_config, reachable, register
from tests.waiting import eventually, parked, parked_or_done


async def worker(tmp_path: Any, name: str, database: str, aiohttp_client: Any,
                 redis_url: str, clock: FakeClock | None = None) -> Api:
    config = make_config(tmp_path / name, database, redis=redis_url)
    server = await build_homeserver(config, clock or FakeClock())
    return Api(await aiohttp_client(create_app(server)))


async def dm_across(one: Api, two: Api) -> tuple[Account, Account, str, str]:
    """Alice on worker one, Bob on worker two, in their DM; Bob's sync token."""
    alice = await register(one.client, "alice")
    bob = await register(two.client, "bob")
    room = (await one.call("POST", f"/_matrix/client/unstable/dm/{bob.user_id}", alice))[
        "room_id"]
    await two.join(bob, room)
    return alice, bob, room, (await two.sync(bob))["next_batch"]


async def test_message_on_one_worker_wakes_sync_on_another(
    tmp_path: Any, postgres_url: str, redis_url: str, aiohttp_client: Any
) -> None:
    one = await worker(tmp_path, "one", postgres_url, aiohttp_client, redis_url)
    two = await worker(tmp_path, "two", postgres_url, aiohttp_client, redis_url)
    alice, bob, room, token = await dm_across(one, two)
    waiting = asyncio.create_task(two.sync(bob, token, timeout="60000"))
    await parked(two.client.app[HOMESERVER], bob.user_id)
    assert not waiting.done()
    await one.send(alice, room, "across workers")
    woke = await asyncio.wait_for(waiting, 5)
    events = woke["rooms"]["join"][room]["timeline"]["events"]
    assert [e["content"]["body"] for e in events] == ["across workers"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def start_redis(port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        await eventually(lambda: asyncio.to_thread(reachable, "127.0.0.1", port),
                         "the private redis-server to accept connections")
    except AssertionError:
        proc.kill()
        raise
    return proc


async def test_delivery_resumes_after_redis_restarts(
    tmp_path: Any, postgres_url: str, aiohttp_client: Any
) -> None:
    if shutil.which("redis-server") is None:
        message = "redis-server is not installed; this test starts a private one"
        pytest.fail(message) if os.environ.get("CI") == "true" else pytest.skip(message)
    port = free_port()
    redis = await start_redis(port)
    try:
        url = f"redis://127.0.0.1:{port}/0"
        one = await worker(tmp_path, "one", postgres_url, aiohttp_client, url)
        two = await worker(tmp_path, "two", postgres_url, aiohttp_client, url)
        alice, bob, room, token = await dm_across(one, two)

        redis.kill()
        redis.wait()
        await one.send(alice, room, "while redis was down")  # still stored, still 200
        redis = await start_redis(port)

        # The waiter on worker two either is woken by the resync or finds the
        # message at once; either way it gets both messages, once, in order.
        waiting = asyncio.create_task(two.sync(bob, token, timeout="60000"))
        await one.send(alice, room, "after the restart")
        bodies: list[str] = []
        for _ in range(2):
            woke = await asyncio.wait_for(waiting, 10)
            joined = woke["rooms"]["join"].get(room, {"timeline": {"events": []}})
            bodies += [e["content"]["body"] for e in joined["timeline"]["events"]]
            if len(bodies) >= 2:
                break
            waiting = asyncio.create_task(two.sync(bob, woke["next_batch"], timeout="60000"))
        assert bodies == ["while redis was down", "after the restart"]

        # And live delivery through Redis works again.
        token = woke["next_batch"]
        for _ in range(100):  # resync wake-ups may answer a few polls before one waits
            waiting = asyncio.create_task(two.sync(bob, token, timeout="60000"))
            if await parked_or_done(two.client.app[HOMESERVER], bob.user_id, waiting):
                break
            token = (await waiting)["next_batch"]
        await one.send(alice, room, "live again")
        woke = await asyncio.wait_for(waiting, 5)
        assert [e["content"]["body"] for e in
                woke["rooms"]["join"][room]["timeline"]["events"]] == ["live again"]
    finally:
        redis.kill()
        redis.wait()
