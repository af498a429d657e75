"""To-device messages: delivered to the addressed device once, deleted when a later
token acknowledges them, idempotent per transaction ID, and waking a long-poll."""

from __future__ import annotations

import asyncio
from typing import Any

from homeserver.services import Homeserver
from tests.conftest import Account, Api, register
from tests.e2e_helpers import Key, device_keys
from tests.test_ws_stream import next_frame
from tests.waiting import parked

SEND = "/_matrix/client/v3/sendToDevice"


async def send(api: Api, who: Account, txn: str, messages: dict[str, Any],
               event_type: str = "m.test", status: int = 200) -> Any:
    return await api.call("PUT", f"{SEND}/{event_type}/{txn}", who, {"messages": messages},
                          status)


async def login(api: Api, user: str, device_id: str) -> Account:
    data = await api.call("POST", "/_matrix/client/v3/login", None, {
        "type": "m.login.password", "identifier": {"type": "m.id.user", "user": user},
        "password": "hunter2!", "device_id": device_id})
    return Account(data["user_id"], data["access_token"], data["device_id"])


async def test_delivered_once_then_deleted(api: Api) -> None:
    alice = await register(api.client, "alice")
    bob = await register(api.client, "bob")
    start = (await api.sync(bob))["next_batch"]
    await send(api, alice, "t1", {bob.user_id: {bob.device_id: {"n": 1}}})
    first = await api.sync(bob, start)
    assert first["to_device"]["events"] == [
        {"sender": alice.user_id, "type": "m.test", "content": {"n": 1}}]
    # Not acknowledged yet: the same token gets it again.
    assert (await api.sync(bob, start))["to_device"]["events"] == first["to_device"]["events"]
    after = await api.sync(bob, first["next_batch"])
    assert after["to_device"]["events"] == []
    # Acknowledged, so deleted: even the old token no longer finds it.
    assert (await api.sync(bob, start))["to_device"]["events"] == []
    # A retry of the same transaction sends nothing new.
    await send(api, alice, "t1", {bob.user_id: {bob.device_id: {"n": 2}}})
    assert (await api.sync(bob, after["next_batch"]))["to_device"]["events"] == []


async def test_star_reaches_every_device_and_only_the_addressed_one(api: Api) -> None:
    alice = await register(api.client, "alice")
    bob = await register(api.client, "bob")
    bob2 = await login(api, "bob", "SECOND")
    tokens = {b.device_id: (await api.sync(b))["next_batch"] for b in (bob, bob2)}
    await send(api, alice, "one", {bob.user_id: {"SECOND": {"only": "second"}}})
    await send(api, alice, "all", {bob.user_id: {"*": {"to": "all"}}})
    first = [e["content"] for e in
             (await api.sync(bob, tokens[bob.device_id]))["to_device"]["events"]]
    second = [e["content"] for e in
              (await api.sync(bob2, tokens["SECOND"]))["to_device"]["events"]]
    assert first == [{"to": "all"}]
    assert second == [{"only": "second"}, {"to": "all"}]


async def test_a_message_ends_the_long_poll_at_once(api: Api, homeserver: Homeserver) -> None:
    alice = await register(api.client, "alice")
    bob = await register(api.client, "bob")
    start = (await api.sync(bob))["next_batch"]
    poll = asyncio.create_task(api.sync(bob, start, timeout="60000"))
    await parked(homeserver, bob.user_id)
    await send(api, alice, "wake", {bob.user_id: {bob.device_id: {"wake": True}}})
    answer = await asyncio.wait_for(poll, 10)
    assert [e["content"] for e in answer["to_device"]["events"]] == [{"wake": True}]


async def test_a_long_inbox_comes_in_pieces_without_loss(api: Api) -> None:
    alice = await register(api.client, "alice")
    bob = await register(api.client, "bob")
    token = (await api.sync(bob))["next_batch"]
    for i in range(130):
        await send(api, alice, f"m{i}", {bob.user_id: {bob.device_id: {"i": i}}})
    got: list[int] = []
    for _ in range(3):
        answer = await api.sync(bob, token)
        got += [e["content"]["i"] for e in answer["to_device"]["events"]]
        token = answer["next_batch"]
    assert got == list(range(130))


async def test_deleting_a_device_drops_its_messages(api: Api) -> None:
    alice = await register(api.client, "alice")
    bob = await register(api.client, "bob")
    bob2 = await login(api, "bob", "SECOND")
    await send(api, alice, "x", {bob.user_id: {"SECOND": {"secret": 1}}})
    await api.call("POST", "/_matrix/client/v3/logout", bob2, {})
    again = await login(api, "bob", "SECOND")  # same device ID, a new device
    assert (await api.sync(again))["to_device"]["events"] == []


async def test_bad_sends_are_matrix_errors(api: Api) -> None:
    alice = await register(api.client, "alice")
    url = f"{SEND}/m.test/bad"
    for body in [{}, {"messages": []}, {"messages": {"nobody": {"D": {}}}},
                 {"messages": {alice.user_id: []}}, {"messages": {alice.user_id: {"D": 5}}},
                 {"messages": {alice.user_id: {"D": {"x": "y" * 70_000}}}},
                 {"messages": {f"@u{i}:test.local": {} for i in range(1001)}}]:
        resp = await api.client.put(url, json=body, headers=alice.auth)
        assert resp.status in (400, 413), resp.status
        assert (await resp.json())["errcode"] in ("M_BAD_JSON", "M_TOO_LARGE")
    resp = await api.client.put(f"{SEND}/{'t' * 300}/x", json={"messages": {}},
                                headers=alice.auth)
    assert resp.status == 400
    resp = await api.client.put(url, json={"messages": {}})
    assert resp.status == 401
    # A user of another server is skipped for now, not an error.
    await send(api, alice, "remote", {"@bob:elsewhere.example": {"*": {"x": 1}}})


async def test_the_dm_socket_carries_to_device_and_device_lists(api: Api) -> None:
    alice = await register(api.client, "alice")
    bob = await register(api.client, "bob")
    await send(api, alice, "early", {bob.user_id: {bob.device_id: {"n": 0}}})
    ws = await api.client.ws_connect(f"/ws/dm/{alice.user_id}", headers=bob.auth)
    ready = await next_frame(ws)
    assert ready["type"] == "ready"
    await api.join(alice, ready["room_id"])  # her device lists reach the rooms she is in
    waiting = await next_frame(ws)
    assert waiting["type"] == "to_device"
    assert [e["content"] for e in waiting["events"]] == [{"n": 0}]
    await send(api, alice, "live", {bob.user_id: {bob.device_id: {"n": 1}}})
    live = await next_frame(ws, "to_device")
    assert live["events"] == [{"sender": alice.user_id, "type": "m.test", "content": {"n": 1}}]
    assert live["position"] > waiting["position"]

    await api.call("POST", "/_matrix/client/v3/keys/upload", alice,
                   {"device_keys": device_keys(alice, Key())})
    assert await next_frame(ws, "device_lists") == {
        "type": "device_lists", "changed": [alice.user_id], "left": []}
    carol = await register(api.client, "carol")  # a stranger: bob's socket hears nothing
    await api.call("POST", "/_matrix/client/v3/keys/upload", carol,
                   {"device_keys": device_keys(carol, Key())})

    await ws.send_json({"type": "to_device_ack", "position": live["position"]})
    await ws.send_json({"type": "to_device_ack", "position": "x"})
    frame = await next_frame(ws)
    while frame["type"] != "error":
        assert frame["type"] != "device_lists", frame  # carol's change never came here
        frame = await next_frame(ws)
    assert frame["errcode"] == "M_BAD_JSON"
    assert (await api.sync(bob))["to_device"]["events"] == []  # acknowledged: deleted
    await ws.close()


async def test_the_stream_socket_carries_to_device_and_device_lists(api: Api) -> None:
    alice = await register(api.client, "alice")
    bob = await register(api.client, "bob")
    room = await api.create_room(alice)
    await api.invite(alice, room, bob.user_id)
    await api.join(bob, room)
    ws = await api.client.ws_connect("/_matrix/client/unstable/ws", headers=bob.auth)
    first = await next_frame(ws, "sync")
    assert first["device_one_time_keys_count"] == {}
    await send(api, alice, "live", {bob.user_id: {bob.device_id: {"n": 1}}})
    frame = await next_frame(ws, "sync")
    assert [e["content"] for e in frame["to_device"]["events"]] == [{"n": 1}]
    await api.call("POST", "/_matrix/client/v3/keys/upload", alice,
                   {"device_keys": device_keys(alice, Key())})
    frame = await next_frame(ws, "sync")
    assert frame["device_lists"]["changed"] == [alice.user_id]
    assert frame["to_device"]["events"] == []  # each message once
    await ws.close()
    # The last frame's token acknowledged the message.
    assert (await api.sync(bob, first["next_batch"]))["to_device"]["events"] == []
