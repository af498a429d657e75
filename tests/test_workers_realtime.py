"""Sockets, typing and presence across two workers sharing PostgreSQL and Redis."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from homeserver.accounts import TOKEN_CACHE_TTL_SECONDS
from homeserver.channels import REVOCATIONS_CHANNEL
from homeserver.clock import FakeClock
from homeserver.services import HOMESERVER, Homeserver
from tests.conftest import Account, Api, register
from tests.test_presence import open_tab
from tests.test_workers import dm_across, worker
from tests.test_ws_dm import connect, next_frame
from tests.waiting import let_go, published

V3 = "/_matrix/client/v3"


def server_of(api: Api) -> Homeserver:
    return api.client.app[HOMESERVER]


@pytest.fixture
async def workers(tmp_path: Any, postgres_url: str, redis_url: str,
                  aiohttp_client: Any, clock: FakeClock) -> tuple[Api, Api]:
    """Two workers on one database and one Redis, sharing one fake clock."""
    one = await worker(tmp_path, "one", postgres_url, aiohttp_client, redis_url, clock)
    two = await worker(tmp_path, "two", postgres_url, aiohttp_client, redis_url, clock)
    return one, two


async def status(api: Api, who: Account, viewer: Account) -> str:
    return (await api.call("GET", f"{V3}/presence/{who.user_id}/status", viewer))["presence"]


async def sweep(*workers: Api) -> None:
    for api in workers:
        await server_of(api).presence.sweep()


async def let_time_pass(seconds: int, *workers: Api) -> None:
    """Advance the shared clock in steps, each worker sweeping as its loop would."""
    clock: FakeClock = server_of(workers[0]).clock  # type: ignore[assignment]
    for _ in range(seconds // 5):
        clock.advance(5)
        await sweep(*workers)


async def test_message_through_one_worker_reaches_both_sockets_on_the_other(
    workers: tuple[Api, Api], clock: FakeClock
) -> None:
    one, two = workers
    alice, bob, room, token = await dm_across(one, two)
    dm_socket = await connect(two, bob, alice.user_id)
    stream = await two.client.ws_connect(f"/_matrix/client/unstable/ws?since={token}",
                                         headers=bob.auth)
    await one.send(alice, room, "hello from worker one")
    frame = await next_frame(dm_socket, "message")
    assert frame["event"]["content"]["body"] == "hello from worker one"
    bodies: list[str] = []
    while not bodies:
        sync = await next_frame(stream, "sync")
        timeline = sync["rooms"]["join"].get(room, {"timeline": {"events": []}})["timeline"]
        bodies = [e["content"]["body"] for e in timeline["events"]]
    assert bodies == ["hello from worker one"]
    await dm_socket.close()
    await stream.close()


async def test_typing_and_presence_cross_workers(
    workers: tuple[Api, Api], clock: FakeClock
) -> None:
    one, two = workers
    alice, bob, room, token = await dm_across(one, two)
    bob_socket = await connect(two, bob, alice.user_id)

    await one.call("PUT", f"{V3}/rooms/{room}/typing/{alice.user_id}", alice,
                   {"typing": True, "timeout": 10_000})
    assert await next_frame(bob_socket, "typing") == {
        "type": "typing", "user_id": alice.user_id, "typing": True}
    sync = await two.sync(bob, token, set_presence="offline")
    typing = [e for e in sync["rooms"]["join"][room]["ephemeral"]["events"]
              if e["type"] == "m.typing"]
    assert typing == [{"type": "m.typing", "content": {"user_ids": [alice.user_id]}}]
    clock.advance(10)  # expiry crosses too
    assert (await next_frame(bob_socket, "typing"))["typing"] is False

    alice_tab = await open_tab(one, alice)
    frame = await next_frame(bob_socket, "presence")
    assert (frame["user_id"], frame["presence"]) == (alice.user_id, "online")
    assert await status(two, alice, bob) == "online"
    await alice_tab.close()
    await bob_socket.close()


async def test_two_tabs_on_two_workers_count_as_one_user(
    workers: tuple[Api, Api], clock: FakeClock
) -> None:
    one, two = workers
    alice, bob, _room, _token = await dm_across(one, two)
    tab_one, tab_two = await open_tab(one, alice), await open_tab(two, alice)
    await tab_one.close()
    await let_go(server_of(one), alice.user_id)
    await let_time_pass(60, one, two)
    assert await status(one, alice, bob) == "online"

    await tab_two.close()
    await let_go(server_of(two), alice.user_id)
    await let_time_pass(25, one, two)
    assert await status(one, alice, bob) == "online"  # within the 30 s grace
    await let_time_pass(5, one, two)
    assert await status(one, alice, bob) == "offline"


async def test_users_of_a_worker_that_stops_refreshing_go_offline(
    workers: tuple[Api, Api], clock: FakeClock
) -> None:
    one, two = workers
    alice, bob, _room, _token = await dm_across(one, two)
    presence = server_of(one).presence
    async with contextlib.AsyncExitStack() as stack:
        # Alice is connected to worker one, which then dies: nothing refreshes her.
        await stack.enter_async_context(presence.connection(alice.user_id))
        assert await status(two, alice, bob) == "online"
        presence.close()  # its sweeper's timer is cancelled at once
        clock.advance(30)
        await sweep(two)
        assert await status(two, alice, bob) == "offline"


async def test_a_logout_on_one_worker_ends_the_token_on_the_other(
    workers: tuple[Api, Api]
) -> None:
    one, two = workers
    bob = await register(one.client, "bob")
    whoami = "/_matrix/client/v3/account/whoami"
    assert (await two.call("GET", whoami, bob))["user_id"] == bob.user_id  # now cached on two
    async with published(server_of(two).notifier, REVOCATIONS_CHANNEL):
        await one.call("POST", "/_matrix/client/v3/logout", bob, {})
    # Worker two's own listener was woken by the same message, before this request.
    resp = await two.client.get(whoami, headers=bob.auth)
    assert (resp.status, (await resp.json())["errcode"]) == (401, "M_UNKNOWN_TOKEN")


async def test_a_logout_whose_announcement_is_lost_still_ends_within_the_cache_ttl(
    workers: tuple[Api, Api], clock: FakeClock, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Redis drops the revocation: worker two must not serve the token for ever."""
    one, two = workers
    bob = await register(one.client, "bob")
    whoami = "/_matrix/client/v3/account/whoami"
    assert (await two.call("GET", whoami, bob))["user_id"] == bob.user_id  # now cached on two

    async def lost(*args: Any) -> None:
        raise RedisConnectionError("Redis went away")

    monkeypatch.setattr(server_of(one).notifier._redis, "publish", lost)  # type: ignore[attr-defined]
    with caplog.at_level(logging.ERROR, logger="homeserver.accounts"):
        await one.call("POST", "/_matrix/client/v3/logout", bob, {})
    assert any(r.levelno == logging.ERROR and "did not reach the other workers" in r.getMessage()
               for r in caplog.records)
    assert (await one.client.get(whoami, headers=bob.auth)).status == 401
    clock.advance(TOKEN_CACHE_TTL_SECONDS - 1)
    assert (await two.client.get(whoami, headers=bob.auth)).status == 200  # the cache's grace
    clock.advance(1)
    resp = await two.client.get(whoami, headers=bob.auth)
    assert (resp.status, (await resp.json())["errcode"]) == (401, "M_UNKNOWN_TOKEN")
    assert TOKEN_CACHE_TTL_SECONDS <= 60
