"""The general stream: sync-shaped frames, resume from a token with nothing lost or doubled."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiohttp import WSMsgType

from homeserver.services import Homeserver
from tests.conftest import Api, register

WS = "/_matrix/client/unstable/ws"


async def next_frame(ws: Any, kind: str | None = None) -> dict:
    while True:
        msg = await asyncio.wait_for(ws.receive(), 5)
        assert msg.type == WSMsgType.TEXT, msg
        frame = json.loads(msg.data)
        if kind is None or frame["type"] == kind:
            return frame


def bodies(frame: dict, room: str) -> list[str]:
    joined = frame["rooms"]["join"].get(room, {"timeline": {"events": []}})
    return [e["content"]["body"] for e in joined["timeline"]["events"]
            if e["type"] == "m.room.message"]


async def test_stream_pushes_changes_and_resumes_without_loss(api: Api) -> None:
    alice = await register(api.client, "alice")
    bob = await register(api.client, "bob")
    room = (await api.call("POST", f"/_matrix/client/unstable/dm/{bob.user_id}", alice))[
        "room_id"]
    await api.join(bob, room)

    ws = await api.client.ws_connect(WS, headers=bob.auth)
    first = await next_frame(ws, "sync")
    assert room in first["rooms"]["join"]
    await api.send(alice, room, "live")
    pushed = await next_frame(ws, "sync")
    while not bodies(pushed, room):
        pushed = await next_frame(ws, "sync")
    assert bodies(pushed, room) == ["live"]
    token = pushed["next_batch"]
    await ws.close()

    sent = [f"missed {i}" for i in range(5)]
    for body in sent:
        await api.send(alice, room, body)
    ws = await api.client.ws_connect(f"{WS}?since={token}", headers=bob.auth)
    resumed = await next_frame(ws, "sync")
    assert bodies(resumed, room) == sent
    await ws.close()


async def test_frames_need_a_room_and_act_in_it(api: Api) -> None:
    alice = await register(api.client, "alice")
    room = await api.create_room(alice)
    ws = await api.client.ws_connect(WS, headers=alice.auth)
    await next_frame(ws, "sync")
    await ws.send_json({"type": "message", "body": "x", "txn_id": "a"})
    error = await next_frame(ws, "error")
    assert error["errcode"] == "M_BAD_JSON"
    await ws.send_json({"type": "message", "body": "via socket", "txn_id": "b", "room_id": room})
    ack = await next_frame(ws, "ack")
    assert ack["event_id"].startswith("$")
    await ws.send_json({"type": "message", "body": "x", "txn_id": "c",
                        "room_id": "!other:test.local"})
    assert (await next_frame(ws, "error"))["errcode"] == "M_FORBIDDEN"
    await ws.close()
    refused = await api.client.ws_connect(WS)
    msg = await asyncio.wait_for(refused.receive(), 5)
    assert msg.type == WSMsgType.CLOSE and msg.data == 4001


async def test_a_stranger_sees_no_typing_or_presence(api: Api) -> None:
    alice = await register(api.client, "alice")
    bob = await register(api.client, "bob")
    eve = await register(api.client, "eve")
    room = (await api.call("POST", f"/_matrix/client/unstable/dm/{bob.user_id}", alice))[
        "room_id"]
    await api.join(bob, room)
    eve_room = await api.create_room(eve)
    eve_ws = await api.client.ws_connect(WS, headers=eve.auth)
    await next_frame(eve_ws, "sync")
    bob_ws = await api.client.ws_connect(WS, headers=bob.auth)
    await next_frame(bob_ws, "sync")

    alice_ws = await api.client.ws_connect(WS, headers=alice.auth)  # alice comes online
    await next_frame(alice_ws, "sync")
    await api.call("PUT", f"/_matrix/client/v3/rooms/{room}/typing/{alice.user_id}", alice,
                   {"typing": True, "timeout": 30_000})
    seen_by_bob: set[str] = set()
    while seen_by_bob != {"presence", "typing"}:
        frame = await next_frame(bob_ws, "sync")
        if any(e["sender"] == alice.user_id for e in frame["presence"]["events"]):
            seen_by_bob.add("presence")
        if any(e["type"] == "m.typing" for e in
               frame["rooms"]["join"].get(room, {}).get("ephemeral", {}).get("events", [])):
            seen_by_bob.add("typing")

    # Eve's own message comes after alice's news was published: everything
    # eve receives up to it must be free of alice.
    await api.send(eve, eve_room, "only mine")
    while True:
        frame = await next_frame(eve_ws, "sync")
        assert all(e["sender"] != alice.user_id for e in frame["presence"]["events"])
        assert set(frame["rooms"]["join"]) <= {eve_room}
        if bodies(frame, eve_room) == ["only mine"]:
            break
    for ws in (eve_ws, bob_ws, alice_ws):
        await ws.close()


async def test_one_subscription_serves_every_frame(api: Api, homeserver: Homeserver,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    alice = await register(api.client, "alice")
    bob = await register(api.client, "bob")
    room = (await api.call("POST", f"/_matrix/client/unstable/dm/{bob.user_id}", alice))[
        "room_id"]
    await api.join(bob, room)
    subscribed: list[frozenset[str]] = []
    subscribe = homeserver.notifier.subscribe

    def counting(channels: Any, *args: Any) -> Any:
        subscription = subscribe(channels, *args)
        subscribed.append(subscription.channels)
        return subscription

    monkeypatch.setattr(homeserver.notifier, "subscribe", counting)
    ws = await api.client.ws_connect(WS, headers=bob.auth)
    await next_frame(ws, "sync")
    got: list[str] = []
    for n in range(5):
        await api.send(alice, room, f"m{n}")
        while len(got) <= n:
            got += bodies(await next_frame(ws, "sync"), room)
    assert got == [f"m{n}" for n in range(5)]
    assert len(subscribed) == 1
    await ws.close()


async def test_the_stream_follows_the_rooms_the_user_joins(api: Api) -> None:
    alice = await register(api.client, "alice")
    bob = await register(api.client, "bob")
    ws = await api.client.ws_connect(WS, headers=bob.auth)
    await next_frame(ws, "sync")
    room = await api.create_room(alice, invite=[bob.user_id])
    while room not in (await next_frame(ws, "sync"))["rooms"]["invite"]:
        pass
    await api.join(bob, room)
    while room not in (await next_frame(ws, "sync"))["rooms"]["join"]:
        pass  # the frame holding the join is built after the stream subscribed to the room
    await api.send(alice, room, "in the new room")
    got: list[str] = []
    while not got:
        got = bodies(await next_frame(ws, "sync"), room)
    assert got == ["in the new room"]
    await ws.close()
