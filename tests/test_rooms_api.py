"""Rooms over HTTP on both backends: creation, state, membership, sending, history."""

from __future__ import annotations

from typing import Any

from homeserver.services import Homeserver
from tests.conftest import Api, register

V3 = "/_matrix/client/v3"


async def test_create_room_with_name_topic_and_state(api: Api) -> None:
    alice = await register(api.client, "alice")
    room = await api.create_room(alice, name="Plans", topic="Q3", preset="public_chat",
                                 initial_state=[{"type": "m.custom", "content": {"a": 1}}],
                                 creation_content={"m.federate": False, "creator": "@x:y"})
    assert room.startswith("!") and room.endswith(":test.local")
    state = await api.call("GET", f"{V3}/rooms/{room}/state", alice)
    types = [e["type"] for e in state]
    assert types[:3] == ["m.room.create", "m.room.member", "m.room.power_levels"]
    assert {"m.room.join_rules", "m.room.name", "m.room.topic", "m.custom"} <= set(types)
    create = await api.call("GET", f"{V3}/rooms/{room}/state/m.room.create", alice)
    assert create == {"m.federate": False, "creator": alice.user_id, "room_version": "10"}
    name = await api.call("GET", f"{V3}/rooms/{room}/state/m.room.name", alice)
    assert name == {"name": "Plans"}
    rules = await api.call("GET", f"{V3}/rooms/{room}/state/m.room.join_rules/", alice)
    assert rules == {"join_rule": "public"}
    await api.call("GET", f"{V3}/rooms/{room}/state/m.room.avatar", alice, status=404)
    put = await api.call("PUT", f"{V3}/rooms/{room}/state/m.room.topic", alice, {"topic": "Q4"})
    assert put["event_id"].startswith("$")


async def test_unsupported_room_version_and_reserved_initial_state(api: Api) -> None:
    alice = await register(api.client, "alice")
    data = await api.call("POST", f"{V3}/createRoom", alice, {"room_version": "1"}, status=400)
    assert data["errcode"] == "M_UNSUPPORTED_ROOM_VERSION"
    body = {"initial_state": [{"type": "m.room.power_levels", "content": {}}]}
    await api.call("POST", f"{V3}/createRoom", alice, body, status=400)


async def test_invite_join_leave_kick_ban_unban(api: Api) -> None:
    alice = await register(api.client, "alice")
    bob = await register(api.client, "bob")
    room = await api.create_room(alice)
    # Private room: bob cannot join without an invite.
    await api.call("POST", f"{V3}/rooms/{room}/join", bob, {}, status=403)
    await api.invite(alice, room, bob.user_id)
    await api.join(bob, room)
    joined = await api.call("GET", f"{V3}/rooms/{room}/joined_members", alice)
    assert set(joined["joined"]) == {alice.user_id, bob.user_id}
    # bob has power 0: he may not kick alice.
    await api.call("POST", f"{V3}/rooms/{room}/kick", bob, {"user_id": alice.user_id},
                   status=403)
    await api.call("POST", f"{V3}/rooms/{room}/kick", alice, {"user_id": bob.user_id})
    await api.call("GET", f"{V3}/rooms/{room}/state", bob, status=403)
    await api.invite(alice, room, bob.user_id)
    await api.join(bob, room)
    await api.call("POST", f"{V3}/rooms/{room}/ban", alice, {"user_id": bob.user_id,
                                                              "reason": "spam"})
    await api.call("POST", f"{V3}/rooms/{room}/join", bob, {}, status=403)
    await api.call("POST", f"{V3}/rooms/{room}/invite", alice, {"user_id": bob.user_id},
                   status=403)
    await api.call("POST", f"{V3}/rooms/{room}/unban", alice, {"user_id": bob.user_id})
    await api.invite(alice, room, bob.user_id)
    await api.call("POST", f"{V3}/join/{room}", bob, {})
    await api.call("POST", f"{V3}/rooms/{room}/leave", bob, {})
    assert room not in (await api.call("GET", f"{V3}/joined_rooms", bob))["joined_rooms"]
    await api.call("POST", f"{V3}/rooms/{room}/forget", bob, {})
    members = await api.call("GET", f"{V3}/rooms/{room}/members?membership=leave", alice)
    assert [m["state_key"] for m in members["chunk"]] == [bob.user_id]


async def test_public_room_join_and_unknown_room(api: Api) -> None:
    alice = await register(api.client, "alice")
    bob = await register(api.client, "bob")
    room = await api.create_room(alice, preset="public_chat")
    await api.join(bob, room)
    assert room in (await api.call("GET", f"{V3}/joined_rooms", bob))["joined_rooms"]
    await api.call("POST", f"{V3}/rooms/!nope:test.local/join", bob, {}, status=404)
    await api.call("POST", f"{V3}/join/%23alias:test.local", bob, {}, status=404)


async def test_send_is_idempotent_per_device_and_txn(api: Api, homeserver: Homeserver) -> None:
    alice = await register(api.client, "alice")
    room = await api.create_room(alice)
    first = await api.send(alice, room, "hello", txn="t1")
    again = await api.send(alice, room, "hello", txn="t1")
    other = await api.send(alice, room, "hello", txn="t2")
    assert first == again != other
    count = await homeserver.db.fetchval(
        "SELECT COUNT(*) FROM events WHERE room_id = $1 AND type = 'm.room.message'", room
    )
    assert count == 2


async def test_event_and_redaction(api: Api) -> None:
    alice = await register(api.client, "alice")
    room = await api.create_room(alice)
    event_id = await api.send(alice, room, "secret")
    got = await api.call("GET", f"{V3}/rooms/{room}/event/{event_id}", alice)
    assert got["content"]["body"] == "secret" and got["sender"] == alice.user_id
    redaction = await api.call("PUT", f"{V3}/rooms/{room}/redact/{event_id}/r1", alice,
                               {"reason": "oops"})
    got = await api.call("GET", f"{V3}/rooms/{room}/event/{event_id}", alice)
    assert got["content"] == {}
    assert got["unsigned"]["redacted_because"]["event_id"] == redaction["event_id"]
    await api.call("GET", f"{V3}/rooms/{room}/event/$missing", alice, status=404)


async def test_messages_paginate_in_order(api: Api) -> None:
    alice = await register(api.client, "alice")
    room = await api.create_room(alice)
    sent = [await api.send(alice, room, f"m{i}") for i in range(7)]
    filt = '{"types": ["m.room.message"]}'
    page1 = await api.call("GET", f"{V3}/rooms/{room}/messages?dir=b&limit=4&filter={filt}", alice)
    assert [e["event_id"] for e in page1["chunk"]] == sent[::-1][:4]
    page2 = await api.call(
        "GET", f"{V3}/rooms/{room}/messages?dir=b&limit=4&from={page1['end']}&filter={filt}",
        alice,
    )
    assert [e["event_id"] for e in page2["chunk"]] == sent[::-1][4:]
    forward = await api.call("GET", f"{V3}/rooms/{room}/messages?dir=f&limit=100", alice)
    bodies = [e["content"].get("body") for e in forward["chunk"] if e["type"] == "m.room.message"]
    assert bodies == [f"m{i}" for i in range(7)]
    assert "end" not in forward
    await api.call("GET", f"{V3}/rooms/{room}/messages?dir=x", alice, status=400)
    await api.call("GET", f"{V3}/rooms/{room}/messages?from=garbage", alice, status=400)


async def test_non_member_gets_nothing_from_any_room_endpoint(api: Api,
                                                             homeserver: Homeserver) -> None:
    alice = await register(api.client, "alice")
    eve = await register(api.client, "eve")
    room = await api.create_room(alice, name="private")
    event_id = await api.send(alice, room, "hi")
    before = await homeserver.db.fetchval("SELECT COUNT(*) FROM events")
    r = f"{V3}/rooms/{room}"
    calls: list[tuple[str, str, Any]] = [
        ("GET", f"{r}/state", None),
        ("GET", f"{r}/state/m.room.name", None),
        ("GET", f"{r}/state/m.room.name/", None),
        ("PUT", f"{r}/state/m.room.name", {"name": "pwned"}),
        ("GET", f"{r}/members", None),
        ("GET", f"{r}/joined_members", None),
        ("GET", f"{r}/messages", None),
        ("GET", f"{r}/event/{event_id}", None),
        ("PUT", f"{r}/send/m.room.message/x1", {"msgtype": "m.text", "body": "x"}),
        ("PUT", f"{r}/redact/{event_id}/x2", {}),
        ("POST", f"{r}/receipt/m.read/{event_id}", {}),
        ("POST", f"{r}/read_markers", {"m.fully_read": event_id}),
        ("POST", f"{r}/invite", {"user_id": eve.user_id}),
        ("POST", f"{r}/kick", {"user_id": alice.user_id}),
        ("POST", f"{r}/ban", {"user_id": alice.user_id}),
        ("POST", f"{r}/leave", {}),
        ("POST", f"{r}/join", {}),
        ("PUT", f"{V3}/user/{eve.user_id}/rooms/{room}/account_data/x", {"a": 1}),
        ("GET", f"{V3}/user/{eve.user_id}/rooms/{room}/account_data/x", None),
    ]
    for method, path, body in calls:
        data = await api.call(method, path, eve, body, status=403)
        assert data["errcode"] == "M_FORBIDDEN", path
    # A room that does not exist answers the same as one eve is not in.
    ghost = await api.call("GET", f"{V3}/rooms/!ghost:test.local/state", eve, status=403)
    real = await api.call("GET", f"{r}/state", eve, status=403)
    assert ghost == real
    assert await homeserver.db.fetchval("SELECT COUNT(*) FROM events") == before
    sync = await api.sync(eve)
    assert room not in sync["rooms"]["join"] and room not in sync["rooms"]["invite"]


async def test_account_data_filters_and_receipts(api: Api) -> None:
    alice = await register(api.client, "alice")
    bob = await register(api.client, "bob")
    base = f"{V3}/user/{alice.user_id}"
    await api.call("PUT", f"{base}/account_data/org.example.x", alice, {"k": "v"})
    assert await api.call("GET", f"{base}/account_data/org.example.x", alice) == {"k": "v"}
    await api.call("GET", f"{base}/account_data/missing", alice, status=404)
    await api.call("GET", f"{base}/account_data/org.example.x", bob, status=403)
    room = await api.create_room(alice)
    await api.call("PUT", f"{base}/rooms/{room}/account_data/tag", alice, {"t": 1})
    assert await api.call("GET", f"{base}/rooms/{room}/account_data/tag", alice) == {"t": 1}
    created = await api.call("POST", f"{base}/filter", alice,
                             {"room": {"timeline": {"limit": 3}}})
    assert await api.call("GET", f"{base}/filter/{created['filter_id']}", alice) == {
        "room": {"timeline": {"limit": 3}}
    }
    await api.call("GET", f"{base}/filter/999", alice, status=404)
    bad = await api.call("POST", f"{base}/filter", alice, {"room": {"timeline": {"limit": "x"}}},
                         status=400)
    assert bad["errcode"] == "M_BAD_JSON"
    event_id = await api.send(alice, room, "read me")
    await api.call("POST", f"{V3}/rooms/{room}/receipt/m.read/{event_id}", alice, {})
    await api.call("POST", f"{V3}/rooms/{room}/receipt/m.bogus/{event_id}", alice, {},
                   status=400)
    await api.call("POST", f"{V3}/rooms/{room}/read_markers", alice,
                   {"m.fully_read": event_id, "m.read": event_id})
    marker = await api.call("GET", f"{base}/rooms/{room}/account_data/m.fully_read", alice)
    assert marker == {"event_id": event_id}


async def test_malformed_bodies_on_room_endpoints(api: Api) -> None:
    alice = await register(api.client, "alice")
    room = await api.create_room(alice)
    cases: list[tuple[str, str, bytes, str]] = [
        ("POST", f"{V3}/createRoom", b"[]", "M_BAD_JSON"),
        ("POST", f"{V3}/createRoom", b'{"invite": "bob"}', "M_BAD_JSON"),
        ("POST", f"{V3}/createRoom", b'{"preset": "party"}', "M_BAD_JSON"),
        ("POST", f"{V3}/createRoom", b'{"initial_state": [{"content": {}}]}', "M_BAD_JSON"),
        ("POST", f"{V3}/createRoom", b'{"name": 5}', "M_BAD_JSON"),
        ("PUT", f"{V3}/rooms/{room}/send/m.room.message/t", b"nope", "M_NOT_JSON"),
        ("PUT", f"{V3}/rooms/{room}/send/m.room.message/t", b"[1]", "M_BAD_JSON"),
        ("POST", f"{V3}/rooms/{room}/invite", b"{}", "M_BAD_JSON"),
        ("POST", f"{V3}/rooms/{room}/invite", b'{"user_id": 7}', "M_BAD_JSON"),
        ("POST", f"{V3}/rooms/{room}/invite", b'{"user_id": "not-an-id"}', "M_INVALID_PARAM"),
        ("POST", f"{V3}/rooms/{room}/kick", b'{"user_id": []}', "M_BAD_JSON"),
        ("POST", f"{V3}/rooms/{room}/leave", b'{"reason": 1}', "M_BAD_JSON"),
        ("POST", f"{V3}/rooms/{room}/read_markers", b'{"m.read": 1}', "M_BAD_JSON"),
        ("PUT", f"{V3}/rooms/{room}/redact/$x/t", b'{"reason": {}}', "M_BAD_JSON"),
        ("PUT", f"{V3}/user/{alice.user_id}/account_data/x", b'"str"', "M_BAD_JSON"),
        ("POST", f"{V3}/user/{alice.user_id}/filter", b'{"room": []}', "M_BAD_JSON"),
        ("POST", f"{V3}/rooms/not-a-room/join", b"{}", "M_INVALID_PARAM"),
        ("GET", f"{V3}/sync?since=zzz", b"", "M_INVALID_PARAM"),
        ("GET", f"{V3}/sync?timeout=soon", b"", "M_INVALID_PARAM"),
        ("GET", f"{V3}/sync?filter=%7Bbad", b"", "M_INVALID_PARAM"),
    ]
    for method, path, raw, errcode in cases:
        resp = await api.client.request(method, path, data=raw, headers=alice.auth)
        data = await resp.json()
        assert resp.status in (400, 404), (path, raw, resp.status, data)
        assert data["errcode"] == errcode, (path, raw, data)
    big = {"msgtype": "m.text", "body": "x" * 70_000}
    resp = await api.client.put(f"{V3}/rooms/{room}/send/m.room.message/big", json=big,
                                headers=alice.auth)
    assert (resp.status, (await resp.json())["errcode"]) == (413, "M_TOO_LARGE")
