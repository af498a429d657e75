"""Typing over HTTP and /sync: members only, relayed at once, expired by the injected clock."""

from __future__ import annotations

import asyncio

from homeserver.clock import FakeClock
from homeserver.services import Homeserver
from tests.conftest import Account, Api, register
from tests.waiting import parked

V3 = "/_matrix/client/v3"


def typing_in(sync: dict, room: str) -> list[str] | None:
    joined = sync["rooms"]["join"].get(room)
    if joined is None:
        return None
    for event in joined["ephemeral"]["events"]:
        if event["type"] == "m.typing":
            return event["content"]["user_ids"]
    return None


async def type_(api: Api, who: Account, room: str, typing: bool, timeout: int = 30_000,
                status: int = 200, user: str | None = None) -> dict:
    return await api.call("PUT", f"{V3}/rooms/{room}/typing/{user or who.user_id}", who,
                          {"typing": typing, "timeout": timeout}, status=status)


async def pair_room(api: Api) -> tuple[Account, Account, str]:
    alice = await register(api.client, "alice")
    bob = await register(api.client, "bob")
    room = await api.create_room(alice, invite=[bob.user_id])
    await api.join(bob, room)
    return alice, bob, room


async def next_typing(api: Api, who: Account, token: str, room: str) -> list[str]:
    """Long-poll until the room's typing changes (presence news in between is skipped)."""
    while True:
        result = await api.sync(who, token, timeout="60000", set_presence="offline")
        typers = typing_in(result, room)
        if typers is not None:
            return typers
        token = result["next_batch"]


async def test_typing_shows_then_expires_on_time(api: Api, clock: FakeClock) -> None:
    alice, bob, room = await pair_room(api)
    await type_(api, alice, room, True, timeout=30_000)
    first = await api.sync(bob)
    assert typing_in(first, room) == [alice.user_id]
    clock.advance(29.5)
    quiet = await api.sync(bob, first["next_batch"])
    assert typing_in(quiet, room) is None  # nothing changed, nothing sent
    waiting = asyncio.create_task(next_typing(api, bob, quiet["next_batch"], room))
    clock.advance(0.5)  # the server's timer fires and announces the stop
    assert await asyncio.wait_for(waiting, 5) == []


async def test_stop_and_capped_timeout(api: Api, clock: FakeClock) -> None:
    alice, bob, room = await pair_room(api)
    token = (await api.sync(bob))["next_batch"]
    await type_(api, alice, room, True)
    await type_(api, alice, room, False)
    stopped = await api.sync(bob, token)
    assert typing_in(stopped, room) == []
    await type_(api, alice, room, True, timeout=10**9)
    started = await api.sync(bob, stopped["next_batch"])
    assert typing_in(started, room) == [alice.user_id]
    clock.advance(119)
    quiet = await api.sync(bob, started["next_batch"], set_presence="offline")
    assert typing_in(quiet, room) is None
    waiting = asyncio.create_task(next_typing(api, bob, quiet["next_batch"], room))
    clock.advance(1)  # capped at 120 s
    assert await asyncio.wait_for(waiting, 5) == []


async def test_long_poll_wakes_on_typing(api: Api, homeserver: Homeserver) -> None:
    alice, bob, room = await pair_room(api)
    token = (await api.sync(bob))["next_batch"]
    waiting = asyncio.create_task(api.sync(bob, token, timeout="60000"))
    await parked(homeserver, bob.user_id)
    assert not waiting.done()
    await type_(api, alice, room, True)
    woke = await asyncio.wait_for(waiting, 5)
    assert typing_in(woke, room) == [alice.user_id]


async def test_only_members_type_and_see_typing(api: Api) -> None:
    alice, bob, room = await pair_room(api)
    eve = await register(api.client, "eve")
    data = await type_(api, eve, room, True, status=403)
    assert data["errcode"] == "M_FORBIDDEN"
    await type_(api, alice, room, True, user=bob.user_id, status=403)
    await type_(api, alice, room, True)
    assert typing_in(await api.sync(eve), room) is None
    bad = await api.call("PUT", f"{V3}/rooms/{room}/typing/{alice.user_id}", alice,
                         {"typing": "yes"}, status=400)
    assert bad["errcode"] == "M_BAD_JSON"


async def test_restarting_typing_holds_one_timer_and_ends_at_the_last_timeout(
    api: Api, homeserver: Homeserver, clock: FakeClock
) -> None:
    alice, bob, room = await pair_room(api)
    for n in range(50):  # a client (or a socket) restarting typing with ever new timeouts
        await type_(api, alice, room, True, timeout=60_000 - n * 1000)
    assert len(homeserver.typing._timers) == 1
    first = await api.sync(bob)
    assert typing_in(first, room) == [alice.user_id]
    clock.advance(10.5)  # the last start asked for 11 s
    quiet = await api.sync(bob, first["next_batch"], set_presence="offline")
    assert typing_in(quiet, room) is None
    waiting = asyncio.create_task(next_typing(api, bob, quiet["next_batch"], room))
    clock.advance(0.5)
    assert await asyncio.wait_for(waiting, 5) == []
    await type_(api, alice, room, True, timeout=5_000)  # and a longer renewal after a short one
    await type_(api, alice, room, True, timeout=20_000)
    clock.advance(5)
    still = await api.sync(bob, set_presence="offline")
    assert typing_in(still, room) == [alice.user_id]
