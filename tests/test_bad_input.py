"""Malformed requests get the spec's Matrix error, never a 500, on both backends."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from aiohttp import web

from homeserver.app import create_app
from homeserver.clock import FakeClock
from homeserver.services import build_homeserver
from tests.conftest import make_config, register

# Bytes that do not parse as JSON: M_NOT_JSON.
NOT_JSON_BODIES = [
    b"", b"{", b"nul", b"\xff\xfe{}", b'{"a": NaN}', b'{"a": Infinity}', b'{"a": "\\ud800"}',
    b"[" * 100_000, b"{}{}",
]
# Valid JSON the spec's endpoints cannot take (not an object, too deep, numbers
# beyond Canonical JSON's): M_BAD_JSON.
BAD_JSON_BODIES = [
    b"[]", b"[1]", b"123", b'"text"', b"null", b"true",
    b'{"a":' * 101 + b"1" + b"}" * 101, b"[" * 100_000 + b"]" * 100_000,
    b'{"a": 9007199254740992}', b'{"a": -9007199254740992}', b'{"a": 1e400}',
    b'{"a": ' + b"9" * 5000 + b"}",
]
JUNK_VALUES: list[Any] = [
    None, 0, -1, 2**70, 1.5, True, "", "x" * 100_000, "\u0000", "🦀" * 50, "\u202e\u200b",
    [], [1, [2, [3]]], {}, {"nested": {"deep": [None]}}, "@evil:server", "../../etc/passwd",
]
# method, path, auth needed, the body fields that endpoint reads
ENDPOINTS: list[tuple[str, str, bool, list[str]]] = [
    ("POST", "/_matrix/client/v3/register", False,
     ["username", "password", "device_id", "initial_device_display_name", "inhibit_login",
      "auth"]),
    ("POST", "/_matrix/client/v3/login", False,
     ["type", "identifier", "user", "password", "device_id", "initial_device_display_name"]),
    ("PUT", "/_matrix/client/v3/devices/{device}", True, ["display_name"]),
    ("PUT", "/_matrix/client/v3/profile/{user}/displayname", True, ["displayname"]),
    ("PUT", "/_matrix/client/v3/profile/{user}/avatar_url", True, ["avatar_url"]),
    ("POST", "/_matrix/client/v3/createRoom", True,
     ["visibility", "name", "topic", "invite", "room_version", "initial_state", "preset",
      "is_direct", "power_level_content_override"]),
    ("POST", "/_matrix/client/v3/rooms/{room}/invite", True, ["user_id", "reason"]),
    ("POST", "/_matrix/client/v3/rooms/{room}/kick", True, ["user_id", "reason"]),
    ("POST", "/_matrix/client/v3/rooms/{room}/leave", True, ["reason"]),
    ("POST", "/_matrix/client/v3/rooms/{room}/read_markers", True,
     ["m.fully_read", "m.read", "m.read.private"]),
    ("PUT", "/_matrix/client/v3/rooms/{room}/redact/{event}/t", True, ["reason"]),
    ("POST", "/_matrix/client/v3/user/{user}/filter", True, ["room", "presence"]),
    ("POST", "/_matrix/client/v3/user_directory/search", True, ["search_term", "limit"]),
    ("POST", "/_matrix/client/v3/search", True, ["search_categories"]),
]
OK_BODIES = {
    "/_matrix/client/v3/search": {"search_categories": {"room_events": {"search_term": "x"}}},
    "/_matrix/client/v3/register": {"username": "newname", "auth": {"type": "m.login.dummy"}},
    "/_matrix/client/v3/login": {"type": "m.login.password", "user": "alice",
                                 "password": "hunter2!"},
}
ALLOWED = {200, 400, 401, 403, 404, 413}
# Endpoints whose body is optional: an empty one is a valid request.
EMPTY_BODY_OK = ("/leave", "/redact/{event}/t")


async def fill(client: Any, path: str, alice: Any) -> str:
    room = event = ""
    if "{room}" in path:
        resp = await client.post("/_matrix/client/v3/createRoom", json={}, headers=alice.auth)
        room = (await resp.json())["room_id"]
        resp = await client.put(f"/_matrix/client/v3/rooms/{room}/send/m.room.message/t0",
                                json={"body": "x"}, headers=alice.auth)
        event = (await resp.json())["event_id"]
    return path.format(device=alice.device_id, user=alice.user_id, room=room, event=event)


async def check_matrix_error(resp: Any) -> dict:
    assert resp.status in ALLOWED, (resp.status, await resp.text())
    data = await resp.json()
    if resp.status >= 400:
        assert data["errcode"].startswith("M_") and isinstance(data["error"], str)
    return data


@pytest.mark.parametrize(("method", "path", "auth", "fields"), ENDPOINTS)
async def test_not_json_bodies(client: Any, method: str, path: str, auth: bool,
                               fields: list[str]) -> None:
    alice = await register(client, "alice")
    url = await fill(client, path, alice)
    for body in NOT_JSON_BODIES:
        if body == b"" and path.endswith(EMPTY_BODY_OK):
            continue
        resp = await client.request(method, url, data=body, headers=alice.auth)
        data = await check_matrix_error(resp)
        assert (resp.status, data["errcode"]) == (400, "M_NOT_JSON"), body[:20]
    for body in BAD_JSON_BODIES:
        resp = await client.request(method, url, data=body, headers=alice.auth)
        data = await check_matrix_error(resp)
        assert (resp.status, data["errcode"]) == (400, "M_BAD_JSON"), body[:20]


@pytest.mark.parametrize(("method", "path", "auth", "fields"), ENDPOINTS)
async def test_junk_field_values(client: Any, method: str, path: str, auth: bool,
                                 fields: list[str]) -> None:
    alice = await register(client, "alice")
    base = OK_BODIES.get(path, {})
    url = await fill(client, path, alice)
    for field in fields:
        for value in JUNK_VALUES:
            body = {**base, field: value}
            resp = await client.request(method, url, data=json.dumps(body), headers=alice.auth)
            await check_matrix_error(resp)
    # The account still works: nothing the corpus sent broke it.
    who = await client.get("/_matrix/client/v3/account/whoami", headers=alice.auth)
    assert who.status in (200, 401)  # a login in the corpus may have replaced no token


async def test_exact_errcodes_for_wrong_types(client: Any) -> None:
    cases = [
        ("/_matrix/client/v3/register", {"username": 5}),
        ("/_matrix/client/v3/register", {"inhibit_login": "yes"}),
        ("/_matrix/client/v3/register", {"auth": []}),
        ("/_matrix/client/v3/login", {"password": "x"}),
        ("/_matrix/client/v3/login", {"type": ["m.login.password"]}),
        ("/_matrix/client/v3/login", {"type": "m.login.password", "identifier": "alice"}),
        ("/_matrix/client/v3/login", {"type": "m.login.password", "user": "a",
                                      "password": "p" * 10_000}),
        ("/_matrix/client/v3/login", {"type": "m.login.password", "user": "a\u0000b",
                                      "password": "p"}),
    ]
    for path, body in cases:
        resp = await client.post(path, json=body)
        data = await resp.json()
        assert (resp.status, data["errcode"]) == (400, "M_BAD_JSON"), body


async def test_query_and_path_junk(client: Any) -> None:
    alice = await register(client, "alice")
    paths = [
        "/_matrix/client/v3/register/available",
        "/_matrix/client/v3/register/available?username=%00",
        "/_matrix/client/v3/register/available?username=" + "a" * 5000,
        "/_matrix/client/v3/profile/not-a-user-id",
        "/_matrix/client/v3/profile/%40a%00b%3Ax",
        "/_matrix/client/v3/profile/%ED%A0%80",
        "/_matrix/client/v3/profile/@" + "a" * 5000 + ":x",
        "/_matrix/client/v3/devices/%00",
        "/_matrix/client/v3/devices/" + "é" * 300,
    ]
    for path in paths:
        resp = await client.get(path, headers=alice.auth)
        await check_matrix_error(resp)
    missing = await client.get("/_matrix/client/v3/register/available")
    assert (await missing.json())["errcode"] == "M_INVALID_PARAM"


async def test_unknown_endpoint_and_wrong_method(client: Any) -> None:
    resp = await client.get("/_matrix/client/v3/no/such/thing")
    assert (resp.status, (await resp.json())["errcode"]) == (404, "M_UNRECOGNIZED")
    resp = await client.delete("/_matrix/client/v3/login")
    assert (resp.status, (await resp.json())["errcode"]) == (405, "M_UNRECOGNIZED")


async def test_cors_on_every_answer_and_preflight(client: Any) -> None:
    pre = await client.options(
        "/_matrix/client/v3/login",
        headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"},
    )
    assert pre.status == 204
    assert pre.headers["Access-Control-Allow-Origin"] == "*"
    assert "Authorization" in pre.headers["Access-Control-Allow-Headers"]
    for path in ("/_matrix/client/versions", "/_matrix/client/v3/nope"):
        resp = await client.get(path)
        assert resp.headers["Access-Control-Allow-Origin"] == "*"


async def test_body_over_limit_is_413(tmp_path: Any, aiohttp_client: Any) -> None:
    config = make_config(tmp_path, None, **{"limits.max_body_bytes": 2048})
    client = await aiohttp_client(create_app(await build_homeserver(config, FakeClock())))
    big = json.dumps({"username": "a", "password": "x" * 4096})
    resp = await client.post("/_matrix/client/v3/register", data=big)
    assert (resp.status, (await resp.json())["errcode"]) == (413, "M_TOO_LARGE")

    async def chunks() -> Any:
        for _ in range(8):
            yield b" " * 1024  # no Content-Length: the limit applies while reading

    resp = await client.post("/_matrix/client/v3/register", data=chunks())
    assert (resp.status, (await resp.json())["errcode"]) == (413, "M_TOO_LARGE")


async def test_rate_limited_login_says_when_to_retry(
    tmp_path: Any, aiohttp_client: Any
) -> None:
    config = make_config(tmp_path, None, **{
        "rate_limits.enabled": True, "rate_limits.login": {"per_second": 0.5, "burst": 2},
    })
    client = await aiohttp_client(create_app(await build_homeserver(config, FakeClock())))
    body = {"type": "m.login.password", "user": "nobody", "password": "x"}
    statuses = [(await client.post("/_matrix/client/v3/login", json=body)).status
                for _ in range(2)]
    assert statuses == [403, 403]
    limited = await client.post("/_matrix/client/v3/login", json=body)
    data = await limited.json()
    assert (limited.status, data["errcode"]) == (429, "M_LIMIT_EXCEEDED")
    assert data["retry_after_ms"] == 2000


async def test_unexpected_error_is_500_unknown_with_request_id_logged(
    client: Any, caplog: pytest.LogCaptureFixture, aiohttp_client: Any, homeserver: Any
) -> None:
    app = create_app(homeserver)

    async def broken(request: web.Request) -> web.Response:
        raise ZeroDivisionError("boom")

    app.router.add_get("/_matrix/client/v3/broken", broken)
    broken_client = await aiohttp_client(app)
    with caplog.at_level(logging.INFO):
        resp = await broken_client.get("/_matrix/client/v3/broken?access_token=secret123")
    assert resp.status == 500
    assert await resp.json() == {"errcode": "M_UNKNOWN", "error": "Internal server error"}
    assert "boom" not in await resp.text()
    # Our own log lines only (the test server adds aiohttp's access log).
    logged = "\n".join(
        r.getMessage() + (r.exc_text or "") for r in caplog.records
        if r.name.startswith("homeserver")
    )
    assert "ZeroDivisionError" in logged
    assert "access_token=<redacted>" in logged and "secret123" not in logged
