"""What makes a DM look right in a client: /sync room summaries (heroes and counts) and
invites carrying the inviter's member event with the room's stripped state."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api, register

V3 = "/_matrix/client/v3"
DM = "/_matrix/client/unstable/dm"


async def test_initial_sync_summary_of_a_dm_for_both_sides(api: Api) -> None:
    alice = await register(api.client, "alice")
    bob = await register(api.client, "bob")
    room = (await api.call("POST", f"{DM}/{bob.user_id}", alice))["room_id"]
    mine = (await api.sync(alice))["rooms"]["join"][room]["summary"]
    assert mine == {"m.heroes": [bob.user_id], "m.joined_member_count": 1,
                    "m.invited_member_count": 1}
    invited = (await api.sync(bob))["rooms"]["invite"][room]
    assert set(invited) == {"invite_state"}  # an invitee gets stripped state only
    await api.join(bob, room)
    theirs = (await api.sync(bob))["rooms"]["join"][room]["summary"]
    assert theirs == {"m.heroes": [alice.user_id], "m.joined_member_count": 2,
                      "m.invited_member_count": 0}


async def test_incremental_sync_carries_the_summary_when_members_change(api: Api) -> None:
    alice = await register(api.client, "alice")
    bob = await register(api.client, "bob")
    room = (await api.call("POST", f"{DM}/{bob.user_id}", alice))["room_id"]
    token = (await api.sync(alice))["next_batch"]
    await api.send(alice, room, "just a message")
    quiet = await api.sync(alice, since=token)
    assert "summary" not in quiet["rooms"]["join"][room]  # nothing about members changed
    await api.join(bob, room)
    changed = await api.sync(alice, since=quiet["next_batch"])
    assert changed["rooms"]["join"][room]["summary"] == {
        "m.heroes": [bob.user_id], "m.joined_member_count": 2, "m.invited_member_count": 0}


async def test_heroes_are_the_first_five_others_then_those_who_left(api: Api) -> None:
    alice = await register(api.client, "alice")
    others = [await register(api.client, f"user{i}") for i in range(7)]
    room = await api.create_room(alice, preset="public_chat")
    for other in others:
        await api.join(other, room)
    summary = (await api.sync(alice))["rooms"]["join"][room]["summary"]
    assert summary["m.heroes"] == [o.user_id for o in others[:5]]
    assert summary["m.joined_member_count"] == 8
    assert (await api.sync(others[6]))["rooms"]["join"][room]["summary"]["m.heroes"] == \
        [alice.user_id] + [o.user_id for o in others[:4]]
    # A DM whose peer left is still named after them.
    bob = await register(api.client, "bob")
    dm = (await api.call("POST", f"{DM}/{bob.user_id}", alice))["room_id"]
    await api.join(bob, dm)
    await api.call("POST", f"{V3}/rooms/{dm}/leave", bob, {})
    left = (await api.sync(alice))["rooms"]["join"][dm]["summary"]
    assert left == {"m.heroes": [bob.user_id], "m.joined_member_count": 1,
                    "m.invited_member_count": 0}


def by_type(events: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(e["type"], e["state_key"]): e for e in events}


async def test_invite_carries_inviter_member_and_room_state(api: Api) -> None:
    alice = await register(api.client, "alice")
    bob = await register(api.client, "bob")
    room = await api.create_room(alice, name="Plans", initial_state=[
        {"type": "m.room.encryption", "content": {"algorithm": "m.megolm.v1.aes-sha2"}},
        {"type": "m.room.avatar", "content": {"url": "mxc://test.local/abc"}}])
    await api.invite(alice, room, bob.user_id)
    stripped = by_type((await api.sync(bob))["rooms"]["invite"][room]["invite_state"]["events"])
    inviter = stripped[("m.room.member", alice.user_id)]
    assert inviter["content"]["membership"] == "join"
    assert inviter["content"]["displayname"] == "alice"
    assert stripped[("m.room.member", bob.user_id)]["content"]["membership"] == "invite"
    assert stripped[("m.room.member", bob.user_id)]["sender"] == alice.user_id
    for event_type in ("m.room.create", "m.room.name", "m.room.avatar", "m.room.encryption",
                       "m.room.join_rules"):
        assert (event_type, "") in stripped, event_type
    # Stripped: no signatures, hashes or other members' events.
    assert all(set(e) == {"type", "state_key", "content", "sender"}
               for e in stripped.values())
    assert set(k for k in stripped if k[0] == "m.room.member") == {
        ("m.room.member", alice.user_id), ("m.room.member", bob.user_id)}


async def test_summary_is_not_given_to_an_outsider(api: Api) -> None:
    alice = await register(api.client, "alice")
    bob = await register(api.client, "bob")
    mallory = await register(api.client, "mallory")
    room = (await api.call("POST", f"{DM}/{bob.user_id}", alice))["room_id"]
    sync = await api.sync(mallory)
    assert room not in str(sync)


async def test_an_invitee_learns_no_member_list_or_counts(api: Api) -> None:
    alice = await register(api.client, "alice")
    carol = await register(api.client, "carol")
    dave = await register(api.client, "dave")
    mallory = await register(api.client, "mallory")
    room = await api.create_room(alice, name="Board", preset="private_chat")
    for member in (carol, dave):
        await api.invite(alice, room, member.user_id)
        await api.join(member, room)
    # Inviting Mallory must not tell her who is in the room before she joins.
    await api.invite(alice, room, mallory.user_id)
    invited = (await api.sync(mallory))["rooms"]["invite"][room]
    assert set(invited) == {"invite_state"}
    members = {e["state_key"] for e in invited["invite_state"]["events"]
               if e["type"] == "m.room.member"}
    assert members <= {alice.user_id, mallory.user_id}
    assert carol.user_id not in str(invited) and dave.user_id not in str(invited)
