"""Hostile bodies, encodings and tokens: each is a 4xx Matrix error and the room lives on.

Event content must be Canonical JSON (integers within ±(2^53-1), no floats,
bounded nesting); a body's Content-Encoding is undone within the body limit;
stream tokens are read only in the shape the server issues.
"""

from __future__ import annotations

import gzip
import json
import zlib
from typing import Any

from homeserver.app import create_app
from homeserver.clock import FakeClock
from homeserver.services import build_homeserver
from tests.conftest import Api, make_config, register

V3 = "/_matrix/client/v3"


def nested(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = {"k": value}
    return value


async def expect_error(resp: Any, status: int, errcode: str) -> None:
    data = await resp.json()
    assert (resp.status, data["errcode"]) == (status, errcode), data


async def test_event_content_beyond_canonical_json_is_bad_json(api: Api) -> None:
    alice = await register(api.client, "alice")
    room = await api.create_room(alice)
    await api.send(alice, room, "before")
    send = f"{V3}/rooms/{room}/send/m.room.message"
    hostile = [b'{"body": 1e400}', b'{"body": 1.5}', b'{"body": 9007199254740992}',
               b'{"body": -9007199254740992}', b'{"n": ' + b"9" * 20 + b"}",
               json.dumps(nested(64)).encode()]
    for n, raw in enumerate(hostile):
        resp = await api.client.put(f"{send}/h{n}", data=raw, headers=alice.auth)
        await expect_error(resp, 400, "M_BAD_JSON")
    state = await api.client.put(f"{V3}/rooms/{room}/state/m.custom/", data=b'{"x": 0.5}',
                                 headers=alice.auth)
    await expect_error(state, 400, "M_BAD_JSON")
    create = await api.client.post(f"{V3}/createRoom", headers=alice.auth, json={
        "initial_state": [{"type": "m.custom", "state_key": "", "content": {"x": 0.5}}]})
    await expect_error(create, 400, "M_BAD_JSON")
    # The edges are fine, and the room takes later writes and reads as before.
    edge = {"body": "edge", "max": 2**53 - 1, "min": -(2**53 - 1), "deep": nested(62)}
    await api.call("PUT", f"{send}/edge", alice, edge)
    await api.send(alice, room, "after")
    page = await api.call("GET", f"{V3}/rooms/{room}/messages?dir=b&limit=5", alice)
    bodies = [e["content"].get("body") for e in page["chunk"]]
    assert bodies[:3] == ["after", "edge", "before"]


async def test_corrupt_or_unknown_content_encodings_are_not_json(api: Api) -> None:
    body = json.dumps({"type": "m.login.password", "user": "nobody", "password": "x"}).encode()
    cases = [
        ("gzip", b"\x1f\x8b\x08\x00garbage"),
        ("gzip", gzip.compress(body)[:-6]),  # truncated
        ("gzip", gzip.compress(body) + b"trailing"),
        ("deflate", b"garbage"),
        ("br", b"garbage"),
        ("zstd", b"garbage"),
        ("gzip, gzip, gzip", gzip.compress(gzip.compress(gzip.compress(body)))),
    ]
    for encoding, raw in cases:
        resp = await api.client.post(f"{V3}/login", data=raw,
                                     headers={"Content-Encoding": encoding})
        await expect_error(resp, 400, "M_NOT_JSON")
    # Honest encodings still work: the login is answered on its merits.
    for encoding, raw in [("gzip", gzip.compress(body)), ("deflate", zlib.compress(body)),
                          ("deflate", zlib.compress(body)[2:-4]), ("identity", body),
                          ("gzip, deflate", zlib.compress(gzip.compress(body)))]:
        resp = await api.client.post(f"{V3}/login", data=raw,
                                     headers={"Content-Encoding": encoding})
        await expect_error(resp, 403, "M_FORBIDDEN")


async def test_a_gzip_bomb_stops_at_the_body_limit(tmp_path: Any, aiohttp_client: Any) -> None:
    config = make_config(tmp_path, None, **{"limits.max_body_bytes": 4096})
    client = await aiohttp_client(create_app(await build_homeserver(config, FakeClock())))
    bomb = gzip.compress(b'{"password": "' + b"x" * 50_000_000 + b'"}')
    assert len(bomb) < 4096 * 20
    resp = await client.post(f"{V3}/login", data=bomb[:4000],  # within the raw limit
                             headers={"Content-Encoding": "gzip"})
    await expect_error(resp, 413, "M_TOO_LARGE")
    resp = await client.post(f"{V3}/login", data=bomb, headers={"Content-Encoding": "gzip"})
    await expect_error(resp, 413, "M_TOO_LARGE")


async def test_tokens_out_of_shape_or_range_are_invalid_param(api: Api) -> None:
    alice = await register(api.client, "alice")
    room = await api.create_room(alice)
    bad = ["s9999999999999999999", "s99999999999999999999", "s9007199254740992",
           "s²", "s\u0661\u0662", "s1_²", "s1_1_²", "s1_99999999999999999999", "s-1", "s 1", "s1_",
           "s1__2", "x1", "s", "s1_1_1_1_1_1"]
    for token in bad:
        for path, name in [("/sync", "since"), (f"/rooms/{room}/messages", "from"),
                           (f"/rooms/{room}/messages", "to")]:
            resp = await api.client.get(V3 + path, params={name: token}, headers=alice.auth)
            await expect_error(resp, 400, "M_INVALID_PARAM")
    for query in ["limit=\u0661\u0662", "limit=%201", "limit=1_0", "limit=" + "9" * 5000]:
        resp = await api.client.get(f"{V3}/rooms/{room}/messages?{query}", headers=alice.auth)
        await expect_error(resp, 400, "M_INVALID_PARAM")
    # What the server issues is read back as before.
    token = (await api.sync(alice))["next_batch"]
    assert (await api.sync(alice, token))["next_batch"] == token
    await api.call("GET", f"{V3}/rooms/{room}/messages?from={token}&dir=b", alice)


async def test_deep_filters_in_the_query_are_invalid_param(api: Api) -> None:
    alice = await register(api.client, "alice")
    room = await api.create_room(alice)
    # Deeper than the parser's recursion limit, yet within the URL's 8190 bytes.
    for deep in ['{"a":' + "[" * 1100 + "]" * 1100 + "}", '{"a":' + "[" * 1100,
                 '{"a":' * 101 + "1" + "}" * 101]:
        for path in ["/sync", f"/rooms/{room}/messages"]:
            resp = await api.client.get(V3 + path, params={"filter": deep}, headers=alice.auth)
            await expect_error(resp, 400, "M_INVALID_PARAM")
