"""DMs keep what the client may ask for: encryption, name, topic and avatar on creation;
asked-for encryption turned on in an existing DM, never off; the server's e2ee default
for new DMs, published in .well-known. Whoever starts the pair's one room may not open
it to others (join rules, history) or silence the other (power levels). Both backends."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from homeserver.app import create_app
from homeserver.clock import FakeClock
from homeserver.services import build_homeserver
from tests.conftest import Account, Api, make_config, register

V3 = "/_matrix/client/v3"
DM = "/_matrix/client/unstable/dm"
MEGOLM = {"algorithm": "m.megolm.v1.aes-sha2"}
ENCRYPTION_STATE = {"type": "m.room.encryption", "state_key": "", "content": MEGOLM}


async def state_of(api: Api, who: Account, room: str, event_type: str,
                   status: int = 200) -> Any:
    return await api.call("GET", f"{V3}/rooms/{room}/state/{event_type}", who, status=status)


async def create_dm(api: Api, who: Account, other: str, status: int = 200, **body: Any) -> Any:
    return await api.call("POST", f"{V3}/createRoom", who,
                          {"is_direct": True, "invite": [other], "preset":
                           "trusted_private_chat", **body}, status=status)


async def test_first_creation_applies_initial_state_name_topic_and_avatar(api: Api) -> None:
    alice = await register(api.client, "alice")
    bob = await register(api.client, "bob")
    avatar = {"url": "mxc://test.local/abcdefgh"}
    room = (await create_dm(
        api, alice, bob.user_id, name="Us", topic="plans",
        initial_state=[ENCRYPTION_STATE, {"type": "m.room.avatar", "content": avatar},
                       # Element asks for this in every room: dropped, not refused.
                       {"type": "m.room.guest_access", "state_key": "",
                        "content": {"guest_access": "can_join"}}]))["room_id"]
    assert await state_of(api, alice, room, "m.room.encryption") == MEGOLM
    assert await state_of(api, alice, room, "m.room.name") == {"name": "Us"}
    assert await state_of(api, alice, room, "m.room.topic") == {"topic": "plans"}
    assert await state_of(api, alice, room, "m.room.avatar") == avatar
    # trusted_private_chat: the peer is an admin too
    levels = await state_of(api, alice, room, "m.room.power_levels")
    assert levels["users"] == {alice.user_id: 100, bob.user_id: 100}
    # and it is still the pair's one room
    again = await api.call("POST", f"{DM}/{alice.user_id}", bob)
    assert again == {"room_id": room, "created": False}


async def test_the_starter_cannot_silence_the_other_with_power_levels(api: Api) -> None:
    alice = await register(api.client, "alice")
    bob = await register(api.client, "bob")
    # The attack: Alice makes the pair's permanent room with only herself at power,
    # and every event needing 100: Bob could never speak, nor fix it.
    room = (await create_dm(api, alice, bob.user_id, power_level_content_override={
        "users": {alice.user_id: 100}, "users_default": 0, "events_default": 100,
        "state_default": 100}))["room_id"]
    levels = await state_of(api, alice, room, "m.room.power_levels")
    assert levels["users"] == {alice.user_id: 100, bob.user_id: 100}
    assert levels["events_default"] == 0
    await api.join(bob, room)
    await api.send(bob, room, "I can speak")
    # Nor on a later createRoom, with the room existing already.
    await create_dm(api, alice, bob.user_id, power_level_content_override={
        "users": {alice.user_id: 100, bob.user_id: 0}})
    levels = await state_of(api, alice, room, "m.room.power_levels")
    assert levels["users"][bob.user_id] == 100


async def test_the_starter_cannot_open_the_dm_to_others(api: Api) -> None:
    alice = await register(api.client, "alice")
    bob = await register(api.client, "bob")
    mallory = await register(api.client, "mallory")
    # The attack: Mallory makes her DM with Alice public, so that anyone (the room ID is
    # computed from the pair) could join and read it; or its history world-readable.
    for state in ({"type": "m.room.join_rules", "content": {"join_rule": "public"}},
                  {"type": "m.room.history_visibility",
                   "content": {"history_visibility": "world_readable"}},
                  {"type": "m.room.join_rules", "content": {"join_rule": "invite"}},
                  {"type": "m.room.tombstone", "content": {"replacement_room": "!x:y"}},
                  {"type": "m.room.server_acl", "content": {"deny": ["*"]}},
                  {"type": "m.room.third_party_invite", "state_key": "k", "content": {}},
                  {"type": "m.room.name", "state_key": "other", "content": {"name": "x"}},
                  {"type": "org.example.custom", "content": {}}):
        data = await create_dm(api, mallory, alice.user_id, status=400,
                               initial_state=[ENCRYPTION_STATE, state])
        assert data["errcode"] == "M_INVALID_PARAM", state
        data = await create_dm(api, mallory, alice.user_id, status=400,
                               initial_state=[state])
        assert data["errcode"] == "M_INVALID_PARAM"
    # Nothing was made by the refused requests; the DM made afterwards is invite-only.
    assert (await api.call("GET", DM, mallory))["dms"] == []
    room = (await create_dm(api, mallory, alice.user_id))["room_id"]
    assert await state_of(api, mallory, room, "m.room.join_rules") == {"join_rule": "invite"}
    data = await api.call("POST", f"{V3}/join/{room}", bob, {}, status=403)
    assert data["errcode"] == "M_FORBIDDEN"
    # Refused for an existing DM too, not silently dropped.
    data = await create_dm(api, mallory, alice.user_id, status=400, initial_state=[
        {"type": "m.room.join_rules", "content": {"join_rule": "public"}}])
    assert data["errcode"] == "M_INVALID_PARAM"
    assert await state_of(api, mallory, room, "m.room.join_rules") == {"join_rule": "invite"}


async def test_existing_dm_gets_the_encryption_asked_for(api: Api) -> None:
    alice = await register(api.client, "alice")
    bob = await register(api.client, "bob")
    room = (await api.call("POST", f"{DM}/{bob.user_id}", alice))["room_id"]
    await state_of(api, alice, room, "m.room.encryption", status=404)
    await api.join(bob, room)
    # Bob's client (Element) asks for an encrypted DM: the old room is made encrypted.
    again = await create_dm(api, bob, alice.user_id, initial_state=[ENCRYPTION_STATE])
    assert again["room_id"] == room
    assert await state_of(api, alice, room, "m.room.encryption") == MEGOLM
    event = await api.call("GET", f"{V3}/rooms/{room}/state", bob)
    senders = [e["sender"] for e in event if e["type"] == "m.room.encryption"]
    assert senders == [bob.user_id]  # as the caller


async def test_encryption_is_never_turned_off_or_weakened(api: Api) -> None:
    alice = await register(api.client, "alice")
    bob = await register(api.client, "bob")
    room = (await create_dm(api, alice, bob.user_id,
                            initial_state=[ENCRYPTION_STATE]))["room_id"]
    # Asking again without encryption, or for another algorithm, changes nothing.
    await create_dm(api, alice, bob.user_id)
    await create_dm(api, alice, bob.user_id, initial_state=[
        {"type": "m.room.encryption", "content": {"algorithm": "none"}}])
    assert await state_of(api, alice, room, "m.room.encryption") == MEGOLM
    state = await api.call("GET", f"{V3}/rooms/{room}/state", alice)
    assert len([e for e in state if e["type"] == "m.room.encryption"]) == 1


async def test_asked_for_encryption_without_the_power_is_an_error(api: Api) -> None:
    alice = await register(api.client, "alice")
    bob = await register(api.client, "bob")
    room = (await api.call("POST", f"{DM}/{bob.user_id}", alice))["room_id"]
    await api.join(bob, room)
    # Bob gave up his own power (no one else may take it).
    levels = await state_of(api, bob, room, "m.room.power_levels")
    levels["users"][bob.user_id] = 0
    await api.call("PUT", f"{V3}/rooms/{room}/state/m.room.power_levels", bob, levels)
    data = await create_dm(api, bob, alice.user_id, status=403,
                           initial_state=[ENCRYPTION_STATE])
    assert data["errcode"] == "M_FORBIDDEN"  # never a silently less private room
    await state_of(api, alice, room, "m.room.encryption", status=404)


async def test_dm_initial_state_may_not_set_reserved_events(api: Api) -> None:
    alice = await register(api.client, "alice")
    bob = await register(api.client, "bob")
    for event_type in ("m.room.create", "m.room.member", "m.room.power_levels"):
        data = await create_dm(api, alice, bob.user_id, status=400, initial_state=[
            {"type": event_type, "state_key": "", "content": {}}])
        assert data["errcode"] == "M_BAD_JSON"
    for bad in ([{"type": 5}], [{"content": {}}], "x", [{"type": "a", "content": []}]):
        data = await create_dm(api, alice, bob.user_id, status=400, initial_state=bad)
        assert data["errcode"] == "M_BAD_JSON"
    # Nothing was made by the refused requests.
    assert (await api.call("GET", DM, alice))["dms"] == []


async def e2ee_client(tmp_path: Any, database_url: str, aiohttp_client: Any,
                      default: bool) -> TestClient:
    config = make_config(tmp_path, database_url, **{"e2ee.default": default})
    return await aiohttp_client(create_app(await build_homeserver(config, FakeClock())))


async def test_e2ee_default_published_and_applied_to_new_dms(
        tmp_path: Any, database_url: str, aiohttp_client: Any) -> None:
    client = await e2ee_client(tmp_path, database_url, aiohttp_client, True)
    api = Api(client)
    known = await api.call("GET", "/.well-known/matrix/client")
    assert known["io.element.e2ee"] == {"default": True}
    alice = await register(client, "alice")
    bob = await register(client, "bob")
    carol = await register(client, "carol")
    room = (await api.call("POST", f"{DM}/{bob.user_id}", alice))["room_id"]
    assert await state_of(api, alice, room, "m.room.encryption") == MEGOLM
    other = (await create_dm(api, alice, carol.user_id))["room_id"]
    assert await state_of(api, alice, other, "m.room.encryption") == MEGOLM


async def test_e2ee_default_off_leaves_dms_plain(tmp_path: Any, database_url: str,
                                                 aiohttp_client: Any) -> None:
    client = await e2ee_client(tmp_path, database_url, aiohttp_client, False)
    api = Api(client)
    known = await api.call("GET", "/.well-known/matrix/client")
    assert known["io.element.e2ee"] == {"default": False}
    assert "base_url" in known["m.homeserver"]
    alice = await register(client, "alice")
    bob = await register(client, "bob")
    room = (await api.call("POST", f"{DM}/{bob.user_id}", alice))["room_id"]
    await state_of(api, alice, room, "m.room.encryption", status=404)


async def test_stranger_cannot_encrypt_someone_elses_dm(api: Api) -> None:
    alice = await register(api.client, "alice")
    bob = await register(api.client, "bob")
    mallory = await register(api.client, "mallory")
    room = (await api.call("POST", f"{DM}/{bob.user_id}", alice))["room_id"]
    data = await api.call("PUT", f"{V3}/rooms/{room}/state/m.room.encryption", mallory,
                          MEGOLM, status=403)
    assert data["errcode"] == "M_FORBIDDEN"
    # Mallory's own DM with Alice is another room.
    own = (await create_dm(api, mallory, alice.user_id,
                           initial_state=[ENCRYPTION_STATE]))["room_id"]
    assert own != room
    await state_of(api, alice, room, "m.room.encryption", status=404)
