"""Hostile frames on both sockets: each is answered, and the socket lives or closes cleanly.

A frame of the wrong shape gets an error frame; a frame over the limit is
refused with 1009 before it is read, text that is not UTF-8 with 1007; and
once the handshake is out the server never writes an HTTP answer into the
socket, whatever fails.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiohttp import WSCloseCode, WSMsgType, web

from client_api.ws_frames import open_socket
from homeserver.app import create_app
from homeserver.clock import FakeClock
from homeserver.errors import Forbidden
from homeserver.services import build_homeserver
from tests.conftest import Account, Api, make_config, register
from tests.raw_ws import RawSocket

TIMEOUT = 5
STREAM = "/_matrix/client/unstable/ws"
BAD_FRAMES = [
    ("not json", "M_NOT_JSON"),
    ("[1]", "M_BAD_JSON"),
    ('{"type": []}', "M_UNRECOGNIZED"),
    ('{"type": {"a": 1}}', "M_UNRECOGNIZED"),
    ('{"type": null}', "M_UNRECOGNIZED"),
    ('{"type": 5}', "M_UNRECOGNIZED"),
    ('{"type": "message", "body": "x", "txn_id": []}', "M_BAD_JSON"),
    ('{"type": "message", "body": "\\ud800", "txn_id": "s"}', "M_NOT_JSON"),
    ('{"type": "message", "body": "x", "txn_id": "n", "n": 1e400}', "M_BAD_JSON"),
    ('{"type": "message", "body": "x", "txn_id": "n", "n": 9007199254740992}', "M_BAD_JSON"),
    ('{"type": "typing", "status": ' + "[" * 5000 + "]" * 5000 + "}", "M_BAD_JSON"),
    ('{"type": "typing", "status": ' + "[" * 5000, "M_NOT_JSON"),
    ('{"type": "typing", "status": ' + "[" * 150 + "]" * 150 + "}", "M_BAD_JSON"),
]


async def frames_until(ws: Any, kind: str) -> dict:
    while True:
        msg = await asyncio.wait_for(ws.receive(), TIMEOUT)
        assert msg.type == WSMsgType.TEXT, msg
        frame = json.loads(msg.data)
        if frame["type"] == kind:
            return frame


async def open_both(api: Api, alice: Account, bob: Account) -> list[tuple[Any, str | None]]:
    """A DM socket and a general stream, each with the room its frames act in."""
    room = (await api.call("POST", f"/_matrix/client/unstable/dm/{bob.user_id}", alice))[
        "room_id"]
    dm = await api.client.ws_connect(f"/ws/dm/{bob.user_id}", headers=alice.auth)
    await frames_until(dm, "ready")
    stream = await api.client.ws_connect(STREAM, headers=alice.auth)
    await frames_until(stream, "sync")
    return [(dm, None), (stream, room)]


async def test_bad_frames_get_error_frames_on_both_sockets(api: Api) -> None:
    alice = await register(api.client, "alice")
    bob = await register(api.client, "bob")
    for ws, room in await open_both(api, alice, bob):
        for raw, errcode in BAD_FRAMES:
            await ws.send_str(raw)
            frame = await frames_until(ws, "error")
            assert frame["errcode"] == errcode, (raw[:60], frame)
        await ws.send_bytes(b'{"type": "presence", "status": "online"}')
        assert (await frames_until(ws, "error"))["errcode"] == "M_NOT_JSON"
        good = {"type": "message", "body": "still here", "txn_id": f"ok{room}"}
        await ws.send_json({**good, **({"room_id": room} if room else {})})
        assert (await frames_until(ws, "ack"))["txn_id"] == good["txn_id"]
        await ws.close()


@pytest.mark.parametrize("path", ["/ws/dm/{peer}", STREAM])
async def test_a_frame_over_the_limit_is_refused_with_1009(tmp_path: Any, aiohttp_client: Any,
                                                          path: str) -> None:
    config = make_config(tmp_path, None, **{"limits.socket_max_frame_bytes": 4096})
    api = Api(await aiohttp_client(create_app(await build_homeserver(config, FakeClock()))))
    alice = await register(api.client, "alice")
    bob = await register(api.client, "bob")
    ws = await api.client.ws_connect(path.format(peer=bob.user_id), headers=alice.auth)
    await frames_until(ws, "ready" if "{peer}" in path else "sync")
    await ws.send_str(json.dumps({"type": "message", "body": "x" * 5000, "txn_id": "big"}))
    while (msg := await asyncio.wait_for(ws.receive(), TIMEOUT)).type == WSMsgType.TEXT:
        assert json.loads(msg.data)["type"] != "ack"
    assert msg.type == WSMsgType.CLOSE and msg.data == WSCloseCode.MESSAGE_TOO_BIG, msg


@pytest.mark.parametrize("path", ["/ws/dm/{peer}", STREAM])
async def test_text_that_is_not_utf8_is_closed_with_1007(api: Api, path: str) -> None:
    alice = await register(api.client, "alice")
    bob = await register(api.client, "bob")
    server = api.client.server
    raw = await RawSocket.connect(server.host, server.port, path.format(peer=bob.user_id),
                                  alice.auth)
    await raw.json_frame()
    await raw.send_frame(0x1, b'{"type": "message", "body": "\xed\xa0\x80", "txn_id": "u"}')
    while True:
        opcode, payload = await asyncio.wait_for(raw.frame(), TIMEOUT)
        if opcode == 0x8:
            break
        assert json.loads(payload)["type"] != "ack"
    raw.close()
    assert int.from_bytes(payload[:2], "big") == WSCloseCode.INVALID_TEXT


async def test_presence_frames_work_on_the_general_stream(api: Api) -> None:
    alice = await register(api.client, "alice")
    ws = await api.client.ws_connect(STREAM, headers=alice.auth)
    await frames_until(ws, "sync")
    await ws.send_json({"type": "presence", "status": "unavailable"})
    await ws.send_str("marker")  # the first error frame must be this one's
    assert (await frames_until(ws, "error"))["errcode"] == "M_NOT_JSON"
    status = await api.call("GET", f"/_matrix/client/v3/presence/{alice.user_id}/status", alice)
    assert status["presence"] == "unavailable"
    await ws.send_json({"type": "typing", "status": "start"})
    frame = await frames_until(ws, "error")
    assert (frame["errcode"], frame["error"]) == ("M_BAD_JSON",
                                                  "room_id is required on this socket")
    await ws.close()


@pytest.mark.parametrize("error", [Forbidden("no"), ZeroDivisionError("boom")])
async def test_no_http_answer_is_ever_written_into_an_upgraded_socket(
    homeserver: Any, aiohttp_client: Any, error: Exception
) -> None:
    app = create_app(homeserver)

    async def fails_after_the_handshake(request: web.Request) -> web.StreamResponse:
        await open_socket(request)  # as every socket route does, but with no guard after
        raise error

    app.router.add_get("/ws/broken", fails_after_the_handshake)
    client = await aiohttp_client(app)
    ws = await client.ws_connect("/ws/broken")
    msg = await asyncio.wait_for(ws.receive(), TIMEOUT)
    assert msg.type == WSMsgType.CLOSE and msg.data == WSCloseCode.INTERNAL_ERROR, msg
