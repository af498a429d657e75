"""A profile change reaches every room its owner is in, as a new join event."""

from __future__ import annotations

from tests.conftest import Account, Api, register

V3 = "/_matrix/client/v3"


async def _set_name(api: Api, who: Account, name: str) -> None:
    await api.call("PUT", f"{V3}/profile/{who.user_id}/displayname", who, {"displayname": name})


async def _member(api: Api, viewer: Account, room: str, user_id: str) -> dict:
    return await api.call("GET", f"{V3}/rooms/{room}/state/m.room.member/{user_id}", viewer)


async def test_a_new_display_name_reaches_each_joined_room(api: Api) -> None:
    alice = await register(api.client, "alice")
    bob = await register(api.client, "bob")
    rooms = [await api.create_room(alice, invite=[bob.user_id]) for _ in range(2)]
    for room in rooms:
        await api.join(bob, room)
    since = (await api.sync(bob))["next_batch"]

    await _set_name(api, alice, "Alice Liddell")

    for room in rooms:
        assert (await _member(api, bob, room, alice.user_id))["displayname"] == "Alice Liddell"
    joined = (await api.sync(bob, since))["rooms"]["join"]
    for room in rooms:
        names = [e["content"].get("displayname") for e in joined[room]["timeline"]["events"]
                 if e["type"] == "m.room.member" and e["state_key"] == alice.user_id]
        assert names == ["Alice Liddell"]


async def test_the_same_name_again_writes_nothing(api: Api) -> None:
    alice = await register(api.client, "alice")
    room = await api.create_room(alice)
    await _set_name(api, alice, "Alice")
    since = (await api.sync(alice))["next_batch"]
    await _set_name(api, alice, "Alice")
    assert room not in (await api.sync(alice, since))["rooms"]["join"]


async def test_rooms_left_and_invites_get_no_event(api: Api) -> None:
    alice = await register(api.client, "alice")
    bob = await register(api.client, "bob")
    left = await api.create_room(bob, invite=[alice.user_id])
    await api.join(alice, left)
    await api.call("POST", f"{V3}/rooms/{left}/leave", alice, {})
    invited = await api.create_room(bob, invite=[alice.user_id])

    await _set_name(api, alice, "Alice Liddell")

    assert (await _member(api, bob, left, alice.user_id)) == {"membership": "leave"}
    assert (await _member(api, bob, invited, alice.user_id)) == {
        "membership": "invite", "displayname": "alice"}  # as when invited


async def test_someone_elses_profile_is_refused(api: Api) -> None:
    alice = await register(api.client, "alice")
    bob = await register(api.client, "bob")
    data = await api.call("PUT", f"{V3}/profile/{alice.user_id}/displayname", bob,
                          {"displayname": "Mallory"}, status=403)
    assert data["errcode"] == "M_FORBIDDEN"
