"""The badge count sent with every push (``counts.unread``): notifications after the
read position over the user's rooms, found per room on the primary key and capped, so
a user with a long history costs a push no scan of it. Both backends."""

from __future__ import annotations

from homeserver.services import Homeserver
from homeserver.storage.notifications import MAX_UNREAD_TOTAL, NotificationStore
from tests.conftest import Account, Api, register
from tests.test_pushers import DM, V3

STORE = NotificationStore()


async def badge(server: Homeserver, who: Account) -> int:
    return await STORE.unread_total(server.db, who.user_id)


async def read_upto(api: Api, who: Account, room: str, event_id: str) -> None:
    await api.call("POST", f"{V3}/rooms/{room}/receipt/m.read/{event_id}", who, {})


async def add_rows(server: Homeserver, user_id: str, room: str, orderings: range) -> None:
    """Notification rows written directly (thousands through the API take minutes)."""
    async with server.db.transaction() as conn:
        await STORE.add(conn, [(user_id, room, f"$e{n}", n, False, '["notify"]', 0)
                               for n in orderings])


async def test_the_badge_counts_unread_notifications_over_the_users_rooms(
        homeserver: Homeserver, api: Api) -> None:
    alice, bob = await register(api.client, "alice"), await register(api.client, "bob")
    dm = (await api.call("POST", f"{DM}/{bob.user_id}", alice))["room_id"]
    await api.join(bob, dm)
    group = await api.create_room(alice, invite=[bob.user_id])
    assert await badge(homeserver, bob) == 1  # the invite
    await api.join(bob, group)
    assert await badge(homeserver, bob) == 0  # what came before the join is not counted
    await api.send(alice, dm, "one")
    last_dm = await api.send(alice, dm, "two")
    await api.send(alice, group, "three")
    assert await badge(homeserver, bob) == 3
    await read_upto(api, bob, dm, last_dm)
    assert await badge(homeserver, bob) == 1
    await api.send(alice, dm, "four")
    assert await badge(homeserver, bob) == 2
    await api.call("POST", f"{V3}/rooms/{group}/leave", bob, {})
    assert await badge(homeserver, bob) == 1  # a room left no longer counts
    assert await badge(homeserver, alice) == 0


async def test_the_badge_is_capped(homeserver: Homeserver, api: Api) -> None:
    """Attack: a flood of notifications must not make every push count them all."""
    alice, bob = await register(api.client, "alice"), await register(api.client, "bob")
    room = (await api.call("POST", f"{DM}/{bob.user_id}", alice))["room_id"]
    await api.join(bob, room)
    base = await homeserver.db.fetchval("SELECT MAX(stream_ordering) FROM events")
    await add_rows(homeserver, bob.user_id, room,
                   range(base + 1, base + 1 + MAX_UNREAD_TOTAL + 500))
    assert await badge(homeserver, bob) == MAX_UNREAD_TOTAL


async def test_read_history_does_not_count(homeserver: Homeserver, api: Api) -> None:
    alice, bob = await register(api.client, "alice"), await register(api.client, "bob")
    room = (await api.call("POST", f"{DM}/{bob.user_id}", alice))["room_id"]
    await api.join(bob, room)
    base = await homeserver.db.fetchval("SELECT MAX(stream_ordering) FROM events")
    await add_rows(homeserver, bob.user_id, room, range(base + 1, base + 3001))
    async with homeserver.db.transaction() as conn:  # the stream moves past them
        await conn.execute("UPDATE memberships SET stream_ordering = $1 WHERE user_id = $2",
                           base + 3000, bob.user_id)
    assert await badge(homeserver, bob) == 0
    await add_rows(homeserver, bob.user_id, room, range(base + 3001, base + 3003))
    assert await badge(homeserver, bob) == 2
