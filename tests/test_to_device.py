"""To-device messages: delivered to the addressed device once, deleted when a later
token acknowledges them, idempotent per transaction ID, and waking a long-poll."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from homeserver.clock import FakeClock
from homeserver.e2e import to_device as to_device_module
from homeserver.services import Homeserver
from tests.conftest import Account, Api, register
from tests.e2e_helpers import Key, device_keys
from tests.test_rate_limits import server as rate_limited_server
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
    assert first["device_one_time_keys_count"] == {"signed_curve25519": 0}
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


async def test_a_full_inbox_never_fails_the_send_for_the_others(
        api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """The attack: an old phone of bob's that never syncs (or someone who filled it)
    must not stop alice's key share reaching bob's other device and carol."""
    monkeypatch.setattr(to_device_module, "MAX_PENDING_PER_DEVICE", 5)
    alice = await register(api.client, "alice")
    bob = await register(api.client, "bob")
    carol = await register(api.client, "carol")
    await login(api, "bob", "OLDPHONE")
    for i in range(5):
        await send(api, carol, f"fill{i}", {bob.user_id: {"OLDPHONE": {"i": i}}})
    tokens = {who.user_id: (await api.sync(who))["next_batch"] for who in (bob, carol)}
    await send(api, alice, "share", {bob.user_id: {"*": {"room_key": 1}},
                                     carol.user_id: {carol.device_id: {"room_key": 1}}})
    for who in (bob, carol):
        got = (await api.sync(who, tokens[who.user_id]))["to_device"]["events"]
        assert got == [{"sender": alice.user_id, "type": "m.test",
                        "content": {"room_key": 1}}]
    old = await login(api, "bob", "OLDPHONE")
    held = (await api.sync(old))["to_device"]["events"]
    assert [e["content"] for e in held] == [{"i": i} for i in range(5)]  # skipped, not added


async def test_one_sender_cannot_fill_a_victims_inbox(
        api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """The attack: mallory sends one-message PUTs to bob's device until it is full, so
    nobody else's keys reach it. Only her own share of the inbox fills up."""
    monkeypatch.setattr(to_device_module, "MAX_PENDING_PER_SENDER", 3)
    monkeypatch.setattr(to_device_module, "MAX_PENDING_PER_DEVICE", 6)
    alice = await register(api.client, "alice")
    bob = await register(api.client, "bob")
    mallory = await register(api.client, "mallory")
    token = (await api.sync(bob))["next_batch"]
    for i in range(10):
        await send(api, mallory, f"flood{i}", {bob.user_id: {bob.device_id: {"i": i}}})
    await send(api, alice, "share", {bob.user_id: {bob.device_id: {"room_key": 1}}})
    got = (await api.sync(bob, token))["to_device"]["events"]
    assert [(e["sender"], e["content"]) for e in got] == [
        *[(mallory.user_id, {"i": i}) for i in range(3)], (alice.user_id, {"room_key": 1})]


async def test_sends_are_rate_limited_per_sender(
        tmp_path: Any, database_url: str, aiohttp_client: Any, clock: FakeClock) -> None:
    client = await rate_limited_server(tmp_path, aiohttp_client, clock, "one", database_url, **{
        "rate_limits.to_device": {"per_second": 1.0, "burst": 3}})
    api = Api(client)
    mallory = await register(client, "mallory")
    alice = await register(client, "alice")
    bob = await register(client, "bob")
    for i in range(3):
        await send(api, mallory, f"m{i}", {bob.user_id: {bob.device_id: {"i": i}}})
    limited = await send(api, mallory, "m3", {bob.user_id: {bob.device_id: {}}}, status=429)
    assert limited["errcode"] == "M_LIMIT_EXCEEDED"
    assert limited["retry_after_ms"] > 0
    await send(api, alice, "a0", {bob.user_id: {bob.device_id: {}}})  # her own bucket
    clock.advance(1)
    await send(api, mallory, "m3", {bob.user_id: {bob.device_id: {}}})


async def test_transaction_ids_are_forgotten_after_a_day(
        api: Api, homeserver: Homeserver, clock: FakeClock) -> None:
    alice = await register(api.client, "alice")
    bob = await register(api.client, "bob")
    token = (await api.sync(bob))["next_batch"]
    await send(api, alice, "old", {bob.user_id: {bob.device_id: {"n": 1}}})
    await send(api, alice, "old", {bob.user_id: {bob.device_id: {"n": 1}}})  # a retry
    db = homeserver.to_device.store.db
    assert await db.fetchval("SELECT COUNT(*) FROM to_device_txns") == 1
    clock.advance(24 * 3600 + 1)
    await send(api, alice, "new", {bob.user_id: {bob.device_id: {"n": 2}}})
    # The day-old ID went when the next send was written.
    assert await db.fetchval("SELECT txn_id FROM to_device_txns") == "new"
    got = (await api.sync(bob, token))["to_device"]["events"]
    assert [e["content"] for e in got] == [{"n": 1}, {"n": 2}]


async def test_device_list_changes_keep_one_row_per_user(
        api: Api, homeserver: Homeserver) -> None:
    """The attack: re-upload keys for ever, one change row each time."""
    alice = await register(api.client, "alice")
    bob = await register(api.client, "bob")
    room = await api.create_room(alice)
    await api.invite(alice, room, bob.user_id)
    await api.join(bob, room)
    token = (await api.sync(bob))["next_batch"]
    for _ in range(5):
        await api.call("POST", "/_matrix/client/v3/keys/upload", alice,
                       {"device_keys": device_keys(alice, Key())})
    db = homeserver.to_device.store.db
    assert await db.fetchval("SELECT COUNT(*) FROM device_list_changes"
                             " WHERE user_id = $1", alice.user_id) == 1
    assert alice.user_id in (await api.sync(bob, token))["device_lists"]["changed"]
