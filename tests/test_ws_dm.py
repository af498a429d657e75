"""The per-DM WebSocket: auth, message and typing relay both ways, bad frames survive."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from aiohttp import WSMsgType

from client_api.ws_frames import CLOSE_TOO_SLOW
from homeserver.app import create_app
from homeserver.clock import FakeClock
from homeserver.services import build_homeserver
from tests.conftest import Account, Api, make_config, register
from tests.raw_ws import RawSocket

TIMEOUT = 5


async def connect(api: Api, who: Account | None, peer: str, expect_ready: bool = True) -> Any:
    """A DM socket; unless refused, its first frame says it is subscribed."""
    headers = who.auth if who else {}
    ws = await api.client.ws_connect(f"/ws/dm/{peer}", headers=headers)
    if expect_ready:
        ready = await next_frame(ws)
        assert (ready["type"], ready["user_id"]) == ("ready", peer), ready
    return ws


async def next_frame(ws: Any, kind: str | None = None) -> dict:
    """The next frame (of ``kind``, skipping others)."""
    while True:
        msg = await asyncio.wait_for(ws.receive(), TIMEOUT)
        assert msg.type == WSMsgType.TEXT, msg
        frame = json.loads(msg.data)
        if kind is None or frame["type"] == kind:
            return frame


async def test_refused_sockets_close_with_a_code_before_any_data(api: Api) -> None:
    alice = await register(api.client, "alice")
    for who, peer, code in [(None, "@bob:test.local", 4001),
                            (alice, alice.user_id, 4000),
                            (alice, "@ghost:test.local", 4004)]:
        ws = await connect(api, who, peer, expect_ready=False)
        msg = await asyncio.wait_for(ws.receive(), TIMEOUT)
        assert msg.type == WSMsgType.CLOSE and msg.data == code, (peer, msg)


async def test_messages_flow_both_ways_and_from_http(api: Api) -> None:
    alice = await register(api.client, "alice")
    bob = await register(api.client, "bob")
    a_ws = await connect(api, alice, bob.user_id)
    b_ws = await connect(api, bob, alice.user_id)
    await a_ws.send_json({"type": "message", "body": "hi bob", "txn_id": "t1"})
    ack = await next_frame(a_ws, "ack")
    assert ack["txn_id"] == "t1" and ack["event_id"].startswith("$")
    got = await next_frame(b_ws, "message")
    assert (got["event"]["event_id"], got["event"]["content"]["body"]) == (ack["event_id"],
                                                                          "hi bob")
    # The same txn_id is the same event, however often it is sent.
    await a_ws.send_json({"type": "message", "body": "hi bob", "txn_id": "t1"})
    assert (await next_frame(a_ws, "ack"))["event_id"] == ack["event_id"]
    room = got["event"]["room_id"]
    await api.send(bob, room, "from http")
    for ws in (a_ws, b_ws):
        frame = await next_frame(ws, "message")
        while frame["event"]["content"]["body"] != "from http":
            frame = await next_frame(ws, "message")
    await a_ws.close()
    await b_ws.close()


async def test_bad_frames_get_error_frames_and_the_socket_lives(api: Api) -> None:
    alice = await register(api.client, "alice")
    bob = await register(api.client, "bob")
    ws = await connect(api, alice, bob.user_id)
    bad = [("not json", "M_NOT_JSON"), ("[1]", "M_BAD_JSON"),
           ('{"type": "dance"}', "M_UNRECOGNIZED"),
           ('{"type": "message", "body": 5, "txn_id": "x"}', "M_BAD_JSON"),
           ('{"type": "message", "body": "hi"}', "M_BAD_JSON"),
           (json.dumps({"type": "message", "body": "x" * 40_000, "txn_id": "y"}), "M_BAD_JSON"),
           ('{"type": "typing", "status": "maybe"}', "M_BAD_JSON")]
    for raw, errcode in bad:
        await ws.send_str(raw)
        frame = await next_frame(ws)
        assert (frame["type"], frame["errcode"]) == ("error", errcode), raw
    await ws.send_json({"type": "message", "body": "still here", "txn_id": "ok"})
    assert (await next_frame(ws, "ack"))["txn_id"] == "ok"
    await ws.close()


async def test_typing_relayed_and_cleared_when_the_socket_closes(api: Api) -> None:
    alice = await register(api.client, "alice")
    bob = await register(api.client, "bob")
    eve = await register(api.client, "eve")
    a_ws = await connect(api, alice, bob.user_id)
    b_ws = await connect(api, bob, alice.user_id)
    e_ws = await connect(api, eve, alice.user_id)
    await api.join(bob, (await api.call(
        "POST", f"/_matrix/client/unstable/dm/{alice.user_id}", bob))["room_id"])
    await a_ws.send_json({"type": "typing", "status": "start"})
    assert await next_frame(b_ws, "typing") == {"type": "typing", "user_id": alice.user_id,
                                                "typing": True}
    await a_ws.close()
    assert await next_frame(b_ws, "typing") == {"type": "typing", "user_id": alice.user_id,
                                                "typing": False}
    # Eve shares no room with bob: nothing of alice and bob's DM reaches her socket.
    await e_ws.send_json({"type": "message", "body": "ping", "txn_id": "e1"})
    frames = [await next_frame(e_ws) for _ in range(2)]
    assert {f["type"] for f in frames} <= {"ack", "message"}
    assert all(f.get("user_id") != bob.user_id for f in frames)
    await b_ws.close()
    await e_ws.close()


async def test_leaving_the_dm_closes_its_socket(api: Api) -> None:
    alice = await register(api.client, "alice")
    bob = await register(api.client, "bob")
    ws = await connect(api, bob, alice.user_id)
    room = (await api.call("POST", f"/_matrix/client/unstable/dm/{alice.user_id}", bob))[
        "room_id"]
    await api.call("POST", f"/_matrix/client/v3/rooms/{room}/leave", bob, {})
    while True:
        msg = await asyncio.wait_for(ws.receive(), TIMEOUT)
        if msg.type != WSMsgType.TEXT:
            break
    assert msg.type == WSMsgType.CLOSE and msg.data == 4003


async def test_a_client_that_stops_reading_is_cut_off(tmp_path: Any, aiohttp_client: Any,
                                                      clock: FakeClock) -> None:
    config = make_config(tmp_path, None, **{"limits.socket_send_timeout_ms": 200})
    api = Api(await aiohttp_client(create_app(await build_homeserver(config, clock))))
    alice = await register(api.client, "alice")
    bob = await register(api.client, "bob")
    room = (await api.call("POST", f"/_matrix/client/unstable/dm/{bob.user_id}", alice))[
        "room_id"]
    await api.join(bob, room)
    server = api.client.server
    silent = await RawSocket.connect(server.host, server.port, f"/ws/dm/{alice.user_id}",
                                     bob.auth)
    assert (await silent.json_frame())["type"] == "ready"
    sent, body = 0, "x" * 50_000
    while sent < 400:  # 20 MB, never read: well past every kernel buffer on the way
        await asyncio.gather(*(api.send(alice, room, body) for _ in range(10)))
        sent += 10
    received, close = 0, None
    with contextlib.suppress(EOFError, ConnectionError):
        while close is None:
            opcode, payload = await asyncio.wait_for(silent.frame(), TIMEOUT)
            if opcode == 0x8:
                close = int.from_bytes(payload[:2], "big")
            else:
                received += json.loads(payload)["type"] == "message"
    silent.close()
    assert received < sent
    # 4008 if the close frame got out; otherwise the connection was dropped.
    assert close in (CLOSE_TOO_SLOW, None)


async def test_a_client_that_sends_but_never_reads_is_cut_off(tmp_path: Any, aiohttp_client: Any,
                                                               clock: FakeClock) -> None:
    config = make_config(tmp_path, None, **{"limits.socket_send_timeout_ms": 200})
    api = Api(await aiohttp_client(create_app(await build_homeserver(config, clock))))
    alice = await register(api.client, "alice")
    bob = await register(api.client, "bob")
    server = api.client.server
    silent = await RawSocket.connect(server.host, server.port, f"/ws/dm/{alice.user_id}",
                                     bob.auth)
    assert (await silent.json_frame())["type"] == "ready"
    # Each bad frame gets an error answer: 60 000 of them, some 5 MB, never read.
    with contextlib.suppress(ConnectionError):
        for _ in range(60_000):
            await asyncio.wait_for(silent.send_frame(0x1, b'{"type": "x"}'), TIMEOUT)
    close = None
    with contextlib.suppress(EOFError, ConnectionError):
        while close is None:
            opcode, payload = await asyncio.wait_for(silent.frame(), TIMEOUT)
            if opcode == 0x8:
                close = int.from_bytes(payload[:2], "big")
    silent.close()
    assert close in (CLOSE_TOO_SLOW, None)  # cut off, not waited for until the heartbeat
