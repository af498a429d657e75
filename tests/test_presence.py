"""Presence over HTTP and /sync: only for people who share a room, idle by the injected clock."""

from __future__ import annotations

import asyncio
from typing import Any

from homeserver.clock import FakeClock
from homeserver.services import Homeserver
from tests.conftest import Account, Api, register
from tests.waiting import let_go, parked

V3 = "/_matrix/client/v3"


def presence_of(sync: dict, user_id: str) -> dict | None:
    for event in sync["presence"]["events"]:
        if event["sender"] == user_id:
            return event["content"]
    return None


async def trio(api: Api) -> tuple[Account, Account, Account]:
    alice = await register(api.client, "alice")
    bob = await register(api.client, "bob")
    eve = await register(api.client, "eve")
    room = await api.create_room(alice, invite=[bob.user_id])
    await api.join(bob, room)
    await api.create_room(eve)
    return alice, bob, eve


async def test_status_visible_only_to_people_sharing_a_room(api: Api) -> None:
    alice, bob, eve = await trio(api)
    url = f"{V3}/presence/{alice.user_id}/status"
    await api.call("PUT", url, alice, {"presence": "online", "status_msg": "at lunch"})
    seen = await api.call("GET", url, bob)
    assert (seen["presence"], seen["status_msg"], seen["currently_active"]) == (
        "online", "at lunch", True)
    assert (await api.call("GET", url, eve, status=403))["errcode"] == "M_FORBIDDEN"
    await api.call("PUT", url, bob, {"presence": "online"}, status=403)
    await api.call("GET", f"{V3}/presence/@ghost:test.local/status", bob, status=404)
    bad = await api.call("PUT", url, alice, {"presence": "busy"}, status=400)
    assert bad["errcode"] == "M_BAD_JSON"
    assert presence_of(await api.sync(bob), alice.user_id)["presence"] == "online"
    assert presence_of(await api.sync(eve), alice.user_id) is None


async def status(api: Api, who: Account, viewer: Account) -> str:
    return (await api.call("GET", f"{V3}/presence/{who.user_id}/status", viewer))["presence"]


async def open_tab(api: Api, who: Account) -> Any:
    """A client's general socket: a live connection, like a browser tab."""
    ws = await api.client.ws_connect("/_matrix/client/unstable/ws", headers=who.auth)
    assert (await ws.receive_json())["type"] == "sync"
    return ws


async def test_idle_while_connected_turns_unavailable(api: Api, homeserver: Homeserver,
                                                      clock: FakeClock) -> None:
    alice, bob, _ = await trio(api)
    tab = await open_tab(api, alice)
    assert await status(api, alice, bob) == "online"
    clock.advance(5 * 60 + 1)
    await homeserver.presence.sweep()
    idle = await api.call("GET", f"{V3}/presence/{alice.user_id}/status", bob)
    assert idle["presence"] == "unavailable" and idle["last_active_ago"] >= 300_000
    await api.sync(alice, set_presence="offline")  # a background sync does not mark active
    assert await status(api, alice, bob) == "unavailable"
    await api.sync(alice)
    assert await status(api, alice, bob) == "online"
    await tab.close()


async def test_offline_after_the_last_tab_closes_and_the_grace(
    api: Api, homeserver: Homeserver, clock: FakeClock
) -> None:
    alice, bob, _ = await trio(api)
    first, second = await open_tab(api, alice), await open_tab(api, alice)
    await first.close()
    clock.advance(60)
    await homeserver.presence.sweep()
    assert await status(api, alice, bob) == "online"  # one tab is still open
    token = (await api.sync(bob, set_presence="offline"))["next_batch"]
    await second.close()
    await let_go(homeserver, alice.user_id)
    clock.advance(29)
    await homeserver.presence.sweep()
    assert await status(api, alice, bob) == "online"  # within the 30 s grace
    clock.advance(1)
    await homeserver.presence.sweep()
    assert await status(api, alice, bob) == "offline"
    news = await api.sync(bob, token, set_presence="offline")
    assert presence_of(news, alice.user_id)["presence"] == "offline"


async def test_a_client_that_stops_syncing_goes_offline(
    api: Api, homeserver: Homeserver, clock: FakeClock
) -> None:
    alice, bob, _ = await trio(api)
    await api.sync(alice)
    clock.advance(30)
    await homeserver.presence.sweep()
    assert await status(api, alice, bob) == "offline"


async def test_presence_change_wakes_a_waiting_sync(api: Api, homeserver: Homeserver) -> None:
    alice, bob, eve = await trio(api)
    token = (await api.sync(bob))["next_batch"]
    eve_token = (await api.sync(eve))["next_batch"]
    waiting = asyncio.create_task(api.sync(bob, token, timeout="60000"))
    await parked(homeserver, bob.user_id)
    assert not waiting.done()
    await api.call("PUT", f"{V3}/presence/{alice.user_id}/status", alice,
                   {"presence": "unavailable"})
    woke = await asyncio.wait_for(waiting, 5)
    assert presence_of(woke, alice.user_id)["presence"] == "unavailable"
    assert presence_of(await api.sync(eve, eve_token), alice.user_id) is None
