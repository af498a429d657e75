"""DMs keep what the client asked for: initial_state (encryption), name, topic, power
levels on creation; asked-for encryption turned on in an existing DM, never off; the
server's e2ee default for new DMs, published in .well-known. Both backends."""

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


async def test_first_creation_applies_initial_state_name_topic_and_power(api: Api) -> None:
    alice = await register(api.client, "alice")
    bob = await register(api.client, "bob")
    room = (await create_dm(
        api, alice, bob.user_id, name="Us", topic="plans",
        initial_state=[ENCRYPTION_STATE,
                       {"type": "m.room.history_visibility", "content":
                        {"history_visibility": "invited"}}],
        power_level_content_override={"events_default": 10}))["room_id"]
    assert await state_of(api, alice, room, "m.room.encryption") == MEGOLM
    assert await state_of(api, alice, room, "m.room.name") == {"name": "Us"}
    assert await state_of(api, alice, room, "m.room.topic") == {"topic": "plans"}
    visibility = await state_of(api, alice, room, "m.room.history_visibility")
    assert visibility == {"history_visibility": "invited"}
    levels = await state_of(api, alice, room, "m.room.power_levels")
    assert levels["events_default"] == 10
    # trusted_private_chat: the peer is an admin too
    assert levels["users"] == {alice.user_id: 100, bob.user_id: 100}
    # and it is still the pair's one room
    again = await api.call("POST", f"{DM}/{alice.user_id}", bob)
    assert again == {"room_id": room, "created": False}


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
    # Alice made the DM with Bob at power 0 (override), no encryption.
    room = (await create_dm(api, alice, bob.user_id, power_level_content_override={
        "users": {alice.user_id: 100}}))["room_id"]
    await api.join(bob, room)
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
