"""The ephemeral stores: both give the same answers, and Redis calls stay cancellable."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from homeserver.ephemeral import EphemeralStore, MemoryEphemeralStore, PresenceState
from homeserver.ephemeral.redis_store import RedisEphemeralStore


@pytest.fixture
async def redis_store(redis_url: str) -> AsyncIterator[RedisEphemeralStore]:
    store = RedisEphemeralStore(redis_url)
    yield store
    await store.close()


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest) -> EphemeralStore:
    if request.param == "memory":
        return MemoryEphemeralStore()
    return request.getfixturevalue("redis_store")


async def test_typing_changes_get_one_serial_each(store: EphemeralStore) -> None:
    assert await store.start_typing("!r", "@a", expiry_ms=2000, now_ms=1000) == 1
    assert await store.start_typing("!r", "@a", expiry_ms=3000, now_ms=1500) is None  # renewal
    assert await store.typers("!r", now_ms=2500) == {"@a": 3000}
    assert await store.stop_typing("!r", "@a", 2600, only_expiry=2000) is None  # stale timer
    assert await store.stop_typing("!r", "@a", 3000, only_expiry=3000) == 2
    assert await store.stop_typing("!r", "@a", 3000) is None  # ended once only
    assert await store.typing_changed_at(["!r", "!other"]) == {"!r": 2}
    assert await store.serials() == (2, 0)


async def test_lapsed_users_go_offline_once(store: EphemeralStore) -> None:
    await store.set_presence("@a", PresenceState("online", 1000, "hi"), bump=True)
    await store.set_presence("@b", PresenceState("online", 1000), bump=True)
    await store.keep_alive(["@a", "@b"], 5000)
    await store.keep_alive(["@a"], 4000)  # an earlier deadline never wins
    await store.keep_alive(["@b"], 9000)
    assert await store.take_lapsed(4999) == []
    assert await store.take_lapsed(5000) == [("@a", 3)]
    assert await store.take_lapsed(6000) == []
    assert (await store.presence_of(["@a", "@c"])) == {
        "@a": PresenceState("offline", 1000, "hi")}
    assert await store.presence_changed_since(2) == ["@a"]


async def test_a_forgotten_user_leaves_nothing_behind(store: EphemeralStore) -> None:
    await store.set_presence("@a", PresenceState("online", 1000, "hi"), bump=True)
    await store.set_presence("@b", PresenceState("online", 1000), bump=True)
    await store.keep_alive(["@a", "@b"], 5000)
    await store.forget_presence("@a")
    assert list(await store.presence_of(["@a", "@b"])) == ["@b"]
    assert await store.presence_changed_since(0) == ["@b"]
    assert await store.take_lapsed(6000) == [("@b", 3)]


async def test_a_cancelled_caller_is_not_kept_running(redis_url: str) -> None:
    """redis-py 8.0 and 8.1 swallow a task's cancellation mid-command (hence redis<8)."""
    store = RedisEphemeralStore(redis_url)
    refreshed = asyncio.Event()

    async def refresh_forever() -> None:
        while True:
            await store.keep_alive(["@a"], 1)
            refreshed.set()

    task = asyncio.create_task(refresh_forever())
    await refreshed.wait()  # it has gone round once and is now inside the next command
    task.cancel()
    done, _ = await asyncio.wait([task], timeout=5)
    await store.close()
    assert done and task.cancelled()


async def test_many_changes_and_renewals_are_each_answered_once(store: EphemeralStore) -> None:
    # Enough repeats to make the memory store drop its stale entries more than once.
    users = ["@a", "@b", "@c"]
    for round_ in range(100):
        for user in users:
            await store.set_presence(user, PresenceState("online", round_, None), bump=True)
            await store.keep_alive([user], 10_000 + round_)
    serial = (await store.serials())[1]
    assert sorted(await store.presence_changed_since(serial - 2)) == ["@b", "@c"]
    assert sorted(await store.presence_changed_since(0)) == users
    assert await store.take_lapsed(10_098) == []
    assert sorted(u for u, _ in await store.take_lapsed(10_099)) == users
    assert await store.take_lapsed(20_000) == []
