"""A message in a room of 1200+ local members: push rules are evaluated for each, their
display names read and a notification stored for each, within the backends' limits on
one statement (SQLite's expression depth, both backends' parameter count). Both
backends."""

from __future__ import annotations

from homeserver.services import Homeserver
from homeserver.storage.notifications import NotificationStore
from tests.conftest import Api, register
from tests.test_push_rules import V3, counts

MEMBERS = 1200


async def add_joined_members(server: Homeserver, room: str, count: int) -> list[str]:
    """``count`` local users joined to ``room`` as of its creator's join (memberships
    written directly: going through the API one by one would take minutes)."""
    joined = await server.db.fetchrow(
        "SELECT event_id, stream_ordering FROM memberships WHERE room_id = $1"
        " AND membership = 'join' ORDER BY stream_ordering LIMIT 1", room)
    assert joined is not None
    users = [f"@member{i:05d}:test.local" for i in range(count)]
    async with server.db.transaction() as conn:
        for user_id in users:
            await conn.execute(
                "INSERT INTO memberships (room_id, user_id, membership, event_id,"
                " stream_ordering) VALUES ($1, $2, 'join', $3, $4)",
                room, user_id, joined["event_id"], joined["stream_ordering"])
    return users


async def test_a_message_to_a_room_of_1200_members_notifies_each_once(
        homeserver: Homeserver, api: Api) -> None:
    alice, bob = await register(api.client, "alice"), await register(api.client, "bob")
    await api.call("PUT", f"{V3}/profile/{bob.user_id}/displayname", bob,
                   {"displayname": "Bobby"})
    room = await api.create_room(alice, preset="public_chat")
    await api.join(bob, room)
    members = await add_joined_members(homeserver, room, MEMBERS)
    await api.send(alice, room, "hello bobby")  # a body: display names are read
    store = NotificationStore()
    for user_id in [*members, bob.user_id]:
        assert await store.unread_total(homeserver.db, user_id) == 1, user_id
    assert await store.unread_total(homeserver.db, alice.user_id) == 0
    # bob's display name was read among the 1200 others: his mention highlights
    assert await counts(api, bob, room) == (1, 1)


async def test_a_mention_in_a_room_of_5000_members_stores_every_notification(
        homeserver: Homeserver, api: Api) -> None:
    """More receivers than one INSERT of 7 values each can carry on either backend
    (32766/32767 parameters): the notifications go in batches, all in the event's
    transaction."""
    alice = await register(api.client, "alice")
    room = await api.create_room(alice, preset="public_chat")
    members = await add_joined_members(homeserver, room, 5000)
    path = f"{V3}/rooms/{room}/send/m.room.message/everyone"
    await api.call("PUT", path, alice, {"msgtype": "m.text", "body": "all",
                                        "m.mentions": {"room": True}})
    stored = await homeserver.db.fetchval(
        "SELECT COUNT(DISTINCT user_id) FROM event_push_actions WHERE room_id = $1", room)
    assert stored == len(members)
    store = NotificationStore()
    for user_id in members[::997]:
        assert await store.unread_total(homeserver.db, user_id) == 1
