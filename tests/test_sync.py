"""/sync on both backends: initial, incremental, long-poll wake-up, sections, cost."""

from __future__ import annotations

import asyncio

from homeserver.clock import FakeClock
from homeserver.services import Homeserver
from tests.conftest import Api, register
from tests.waiting import parked, timer_set

V3 = "/_matrix/client/v3"


async def test_initial_sync_shows_rooms_invites_and_state(api: Api) -> None:
    alice = await register(api.client, "alice")
    bob = await register(api.client, "bob")
    room = await api.create_room(alice, name="Team", invite=[bob.user_id])
    await api.send(alice, room, "hello")
    mine = await api.sync(alice)
    joined = mine["rooms"]["join"][room]
    assert joined["timeline"]["events"][-1]["content"]["body"] == "hello"
    state_types = {e["type"] for e in joined["state"]["events"]}
    timeline_types = {e["type"] for e in joined["timeline"]["events"]}
    assert "m.room.create" in state_types | timeline_types
    assert mine["next_batch"].startswith("s")
    theirs = await api.sync(bob)
    invite = theirs["rooms"]["invite"][room]["invite_state"]["events"]
    assert {"type": "m.room.name", "state_key": "", "sender": alice.user_id,
            "content": {"name": "Team"}} in invite
    assert any(e["type"] == "m.room.member" and e["state_key"] == bob.user_id for e in invite)


async def test_incremental_sync_has_only_news(api: Api) -> None:
    alice = await register(api.client, "alice")
    room = await api.create_room(alice)
    quiet = await api.create_room(alice)
    token = (await api.sync(alice))["next_batch"]
    nothing = await api.sync(alice, token)
    assert nothing["rooms"]["join"] == {}
    await api.send(alice, room, "news")
    news = await api.sync(alice, token)
    assert list(news["rooms"]["join"]) == [room]
    assert quiet not in news["rooms"]["join"]
    events = news["rooms"]["join"][room]["timeline"]["events"]
    assert [e["content"]["body"] for e in events] == ["news"]
    # The sending device sees its transaction ID, to match its local echo.
    assert "transaction_id" in events[0]["unsigned"]
    assert news["rooms"]["join"][room]["timeline"]["limited"] is False


async def test_timeline_limit_and_limited_flag(api: Api) -> None:
    alice = await register(api.client, "alice")
    room = await api.create_room(alice)
    token = (await api.sync(alice))["next_batch"]
    for i in range(5):
        await api.send(alice, room, f"m{i}")
    synced = await api.sync(alice, token, filter='{"room": {"timeline": {"limit": 2}}}')
    timeline = synced["rooms"]["join"][room]["timeline"]
    assert [e["content"]["body"] for e in timeline["events"]] == ["m3", "m4"]
    assert timeline["limited"] is True
    older = await api.call(
        "GET", f"{V3}/rooms/{room}/messages?dir=b&limit=3&from={timeline['prev_batch']}", alice
    )
    assert [e["content"]["body"] for e in older["chunk"]] == ["m2", "m1", "m0"]


async def test_long_poll_wakes_when_a_message_arrives(api: Api, homeserver: Homeserver) -> None:
    alice = await register(api.client, "alice")
    bob = await register(api.client, "bob")
    room = await api.create_room(alice, invite=[bob.user_id])
    await api.join(bob, room)
    token = (await api.sync(bob))["next_batch"]
    waiting = asyncio.create_task(api.sync(bob, token, timeout="60000"))
    await parked(homeserver, bob.user_id)
    assert not waiting.done(), "nothing happened yet; the sync must wait"
    await api.send(alice, room, "wake up")
    woke = await asyncio.wait_for(waiting, 5)
    events = woke["rooms"]["join"][room]["timeline"]["events"]
    assert [e["content"]["body"] for e in events] == ["wake up"]


async def test_long_poll_times_out_empty_on_the_clock(api: Api, homeserver: Homeserver,
                                                       clock: FakeClock) -> None:
    alice = await register(api.client, "alice")
    token = (await api.sync(alice))["next_batch"]
    waiting = asyncio.create_task(api.sync(alice, token, timeout="50", set_presence="offline"))
    await parked(homeserver, alice.user_id)
    clock.advance(0.049)
    await timer_set(clock, 0.001)
    assert not waiting.done()
    clock.advance(0.001)  # the deadline is the injected clock's, not the event loop's
    result = await asyncio.wait_for(waiting, 5)
    assert result["rooms"]["join"] == {} and result["next_batch"] == token


async def test_invite_wakes_the_invitee_and_leave_section(api: Api,
                                                         homeserver: Homeserver) -> None:
    alice = await register(api.client, "alice")
    bob = await register(api.client, "bob")
    room = await api.create_room(alice)
    token = (await api.sync(bob))["next_batch"]
    waiting = asyncio.create_task(api.sync(bob, token, timeout="60000"))
    await parked(homeserver, bob.user_id)
    await api.invite(alice, room, bob.user_id)
    woke = await asyncio.wait_for(waiting, 5)
    assert room in woke["rooms"]["invite"]
    await api.join(bob, room)
    token = (await api.sync(bob, woke["next_batch"]))["next_batch"]
    await api.call("POST", f"{V3}/rooms/{room}/kick", alice, {"user_id": bob.user_id})
    left = await api.sync(bob, token)
    assert room in left["rooms"]["leave"]
    last = left["rooms"]["leave"][room]["timeline"]["events"][-1]
    assert last["content"]["membership"] == "leave"


async def test_receipts_and_account_data_in_sync(api: Api) -> None:
    alice = await register(api.client, "alice")
    bob = await register(api.client, "bob")
    room = await api.create_room(alice, invite=[bob.user_id])
    await api.join(bob, room)
    event_id = await api.send(alice, room, "hi")
    token = (await api.sync(alice))["next_batch"]
    await api.call("POST", f"{V3}/rooms/{room}/receipt/m.read/{event_id}", bob, {})
    await api.call("POST", f"{V3}/rooms/{room}/receipt/m.read.private/{event_id}", bob, {})
    await api.call("PUT", f"{V3}/user/{alice.user_id}/account_data/x.y", alice, {"z": 1})
    synced = await api.sync(alice, token)
    ephemeral = synced["rooms"]["join"][room]["ephemeral"]["events"]
    assert ephemeral == [{"type": "m.receipt", "content": {
        event_id: {"m.read": {bob.user_id: {"ts": ephemeral[0]["content"][event_id]["m.read"][
            bob.user_id]["ts"]}}}}}]
    assert {"type": "x.y", "content": {"z": 1}} in synced["account_data"]["events"]
    bobs = await api.sync(bob)
    assert bobs["rooms"]["join"][room]["unread_notifications"]["notification_count"] == 0
    assert (await api.sync(alice))["rooms"]["join"][room]["unread_notifications"][
        "notification_count"] == 0


async def test_sync_with_nothing_new_reads_nothing(
    api: Api, homeserver: Homeserver
) -> None:
    alice = await register(api.client, "alice")
    await api.create_room(alice)
    token = (await api.sync(alice))["next_batch"]
    before = homeserver.db.rows_read
    nothing = await api.sync(alice, token)
    # The stream position is this worker's own (homeserver/positions.py): not read.
    assert homeserver.db.rows_read - before == 0
    assert nothing["next_batch"] == token
    assert nothing["rooms"] == {"join": {}, "invite": {}, "leave": {}}


async def test_long_poll_with_news_waiting_reads_no_more_than_one_that_cannot_wait(
    api: Api, homeserver: Homeserver
) -> None:
    alice = await register(api.client, "alice")
    room = await api.create_room(alice)
    token = (await api.sync(alice))["next_batch"]
    await api.send(alice, room, "news")
    read = []
    for timeout in ("0", "60000"):
        before = homeserver.db.rows_read
        synced = await api.sync(alice, token, timeout=timeout)
        read.append(homeserver.db.rows_read - before)
        assert list(synced["rooms"]["join"]) == [room]
    assert read[1] == read[0]  # no subscription (and its read of the rooms) to wait with


async def test_unread_count_is_kept_exact_as_messages_and_receipts_move(api: Api) -> None:
    alice = await register(api.client, "alice")
    bob = await register(api.client, "bob")
    room = await api.create_room(alice, invite=[bob.user_id])
    await api.join(bob, room)

    async def unread() -> int:
        synced = await api.sync(bob)
        return synced["rooms"]["join"][room]["unread_notifications"]["notification_count"]

    async def read(event_id: str) -> None:
        await api.call("POST", f"{V3}/rooms/{room}/receipt/m.read/{event_id}", bob, {})

    sent = [await api.send(alice, room, f"m{i}") for i in range(3)]
    assert await unread() == 3  # counted in full
    sent.append(await api.send(alice, room, "m3"))
    await api.send(bob, room, "own messages never count")
    assert await unread() == 4  # only the new message counted, added on
    await read(sent[1])
    assert await unread() == 2  # the receipt moved inside what was counted: again
    sent.append(await api.send(alice, room, "m4"))
    assert await unread() == 3
    await read(sent[-1])
    assert await unread() == 0  # the receipt moved past everything counted
    await api.send(alice, room, "m5")
    assert await unread() == 1


async def test_incremental_sync_cost_does_not_grow_with_other_rooms(
    api: Api, homeserver: Homeserver
) -> None:
    alice = await register(api.client, "alice")
    others = await register(api.client, "others")
    mine = [await api.create_room(alice) for _ in range(3)]

    async def rows_for_one_incremental_sync() -> int:
        token = (await api.sync(alice))["next_batch"]
        await api.send(alice, mine[0], "ping")
        before = homeserver.db.rows_read
        await api.sync(alice, token)
        return homeserver.db.rows_read - before

    for _ in range(5):
        await api.send(others, await api.create_room(others), "noise")
    small = await rows_for_one_incremental_sync()
    for _ in range(45):
        await api.send(others, await api.create_room(others), "noise")
    large = await rows_for_one_incremental_sync()
    assert small == large, (small, large)
