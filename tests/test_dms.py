"""DMs: one room per pair, however it is asked for, and race-safe on both backends."""

from __future__ import annotations

import asyncio
from typing import Any

from homeserver.dms import dm_room_id
from homeserver.services import Homeserver
from tests.conftest import Account, Api, register

V3 = "/_matrix/client/v3"
DM = "/_matrix/client/unstable/dm"


async def start_dm(api: Api, who: Account, other: str, status: int = 200) -> Any:
    return await api.call("POST", f"{DM}/{other}", who, None, status=status)


async def test_dm_endpoint_gives_one_room_from_either_side(api: Api) -> None:
    alice = await register(api.client, "alice")
    bob = await register(api.client, "bob")
    first = await start_dm(api, alice, bob.user_id)
    assert first == {"room_id": dm_room_id(alice.user_id, bob.user_id), "created": True}
    assert await start_dm(api, alice, bob.user_id) == {**first, "created": False}
    assert await start_dm(api, bob, alice.user_id) == {**first, "created": False}
    # createRoom with is_direct and one invitee resolves to the same room.
    room = await api.create_room(bob, is_direct=True, invite=[alice.user_id])
    assert room == first["room_id"]


async def test_room_id_is_derived_from_the_sorted_pair() -> None:
    a, b = "@alice:one.example", "@bob:two.example"
    assert dm_room_id(a, b) == dm_room_id(b, a)
    assert dm_room_id(a, b).endswith(":one.example")
    assert dm_room_id(a, b) != dm_room_id(a, "@carol:one.example")


async def test_self_and_unknown_users_are_clear_errors(api: Api) -> None:
    alice = await register(api.client, "alice")
    data = await start_dm(api, alice, alice.user_id, status=400)
    assert data["errcode"] == "M_INVALID_PARAM"
    data = await start_dm(api, alice, "@ghost:test.local", status=404)
    assert data["errcode"] == "M_NOT_FOUND"
    data = await start_dm(api, alice, "garbage", status=400)
    assert data["errcode"] == "M_INVALID_PARAM"


async def test_m_direct_kept_true_and_merged(api: Api) -> None:
    alice = await register(api.client, "alice")
    bob = await register(api.client, "bob")
    carol = await register(api.client, "carol")
    mine = {"@someone:elsewhere": ["!old:elsewhere"]}
    await api.call("PUT", f"{V3}/user/{alice.user_id}/account_data/m.direct", alice, mine)
    room = (await start_dm(api, alice, bob.user_id))["room_id"]
    room2 = (await start_dm(api, carol, alice.user_id))["room_id"]
    direct = await api.call("GET", f"{V3}/user/{alice.user_id}/account_data/m.direct", alice)
    assert direct == {**mine, bob.user_id: [room], carol.user_id: [room2]}
    bobs = await api.call("GET", f"{V3}/user/{bob.user_id}/account_data/m.direct", bob)
    assert bobs == {alice.user_id: [room]}
    sync = await api.sync(bob)
    events = {e["type"]: e["content"] for e in sync["account_data"]["events"]}
    assert events["m.direct"] == {alice.user_id: [room]}


async def test_leaving_and_resolving_again_brings_both_back(api: Api) -> None:
    alice = await register(api.client, "alice")
    bob = await register(api.client, "bob")
    room = (await start_dm(api, alice, bob.user_id))["room_id"]
    await api.join(bob, room)
    await api.call("POST", f"{V3}/rooms/{room}/leave", bob, {})
    # Bob comes back through the DM endpoint: same room, joined again.
    assert (await start_dm(api, bob, alice.user_id))["room_id"] == room
    joined = await api.call("GET", f"{V3}/rooms/{room}/joined_members", alice)
    assert set(joined["joined"]) == {alice.user_id, bob.user_id}
    # Alice leaves; Bob resolving again re-invites her.
    await api.call("POST", f"{V3}/rooms/{room}/leave", alice, {})
    assert (await start_dm(api, bob, alice.user_id))["room_id"] == room
    sync = await api.sync(alice)
    assert room in sync["rooms"]["invite"]


async def test_dm_list_latest_message_and_unread(api: Api) -> None:
    alice = await register(api.client, "alice")
    bob = await register(api.client, "bob")
    carol = await register(api.client, "carol")
    await api.call("PUT", f"{V3}/profile/{bob.user_id}/displayname", bob, {"displayname": "Bob"})
    with_bob = (await start_dm(api, alice, bob.user_id))["room_id"]
    with_carol = (await start_dm(api, carol, alice.user_id))["room_id"]
    await api.join(bob, with_bob)
    await api.join(alice, with_carol)
    await api.send(bob, with_bob, "one")
    last = await api.send(bob, with_bob, "two")
    await api.send(carol, with_carol, "hey")
    listing = (await api.call("GET", DM, alice))["dms"]
    assert [d["room_id"] for d in listing] == [with_carol, with_bob]
    bob_dm = listing[1]
    assert (bob_dm["user_id"], bob_dm["display_name"]) == (bob.user_id, "Bob")
    assert bob_dm["latest_event"]["content"]["body"] == "two"
    assert bob_dm["unread_count"] == 2
    await api.call("POST", f"{V3}/rooms/{with_bob}/receipt/m.read/{last}", alice, {})
    listing = (await api.call("GET", DM, alice))["dms"]
    assert {d["room_id"]: d["unread_count"] for d in listing} == {with_bob: 0, with_carol: 1}


async def test_twenty_concurrent_starts_make_one_room(api: Api, homeserver: Homeserver) -> None:
    alice = await register(api.client, "alice")
    bob = await register(api.client, "bob")
    calls = [start_dm(api, alice, bob.user_id) for _ in range(10)]
    calls += [start_dm(api, bob, alice.user_id) for _ in range(10)]
    calls += [api.create_room(alice, is_direct=True, invite=[bob.user_id]) for _ in range(2)]
    results = await asyncio.gather(*calls)
    rooms = {r["room_id"] if isinstance(r, dict) else r for r in results}
    assert len(rooms) == 1
    # If one of the createRoom calls won, no DM call created it (createRoom does not say).
    assert sum(1 for r in results if isinstance(r, dict) and r["created"]) <= 1
    room = rooms.pop()
    creates = await homeserver.db.fetchval(
        "SELECT COUNT(*) FROM events WHERE type = 'm.room.create'"
    )
    assert creates == 1
    assert await homeserver.db.fetchval("SELECT COUNT(*) FROM dm_pairs") == 1
    rows = await homeserver.db.fetch(
        "SELECT user_id, membership FROM memberships WHERE room_id = $1", room
    )
    memberships = {r["user_id"]: r["membership"] for r in rows}
    # Whoever won created it and is joined; bob's own calls joined him too.
    assert memberships == {alice.user_id: "join", bob.user_id: "join"}
