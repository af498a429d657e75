"""The web page's cookie session: login, CSRF on writes, same-origin sockets, logout."""

from __future__ import annotations

from typing import Any

from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient

from tests.conftest import register
from tests.test_ws_dm import next_frame

SESSION = "/_matrix/client/unstable/web/session"
V3 = "/_matrix/client/v3"


async def web_login(client: TestClient, username: str, register_first: bool = False) -> Any:
    body = {"username": username, "password": "hunter2!", "register": register_first}
    resp = await client.post(SESSION, json=body)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def test_login_sets_a_hardened_cookie_that_authenticates_reads(client: TestClient) -> None:
    resp = await client.post(SESSION, json={"username": "alice", "password": "hunter2!",
                                            "register": True})
    assert resp.status == 200
    cookie = resp.headers["Set-Cookie"]
    assert "hs_session=" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    me = await resp.json()
    assert me["user_id"] == "@alice:test.local" and me["csrf_token"]
    assert "syt_" not in cookie  # the token travels encrypted
    whoami = await client.get(f"{V3}/account/whoami")
    assert (await whoami.json())["user_id"] == "@alice:test.local"
    again = await (await client.get(SESSION)).json()
    assert again == me


async def test_wrong_password_and_bad_bodies_are_matrix_errors(client: TestClient) -> None:
    await register(client, "alice")
    wrong = await client.post(SESSION, json={"username": "alice", "password": "nope"})
    assert (wrong.status, (await wrong.json())["errcode"]) == (403, "M_FORBIDDEN")
    bad = await client.post(SESSION, json={"username": 5, "password": "x"})
    assert (bad.status, (await bad.json())["errcode"]) == (400, "M_BAD_JSON")
    nobody = await client.get(SESSION)
    assert (nobody.status, (await nobody.json())["errcode"]) == (401, "M_MISSING_TOKEN")


async def test_cookie_writes_need_the_csrf_token(client: TestClient) -> None:
    me = await web_login(client, "alice", register_first=True)
    body = {"preset": "private_chat"}
    forged = await client.post(f"{V3}/createRoom", json=body)
    assert (forged.status, (await forged.json())["errcode"]) == (403, "M_FORBIDDEN")
    wrong = await client.post(f"{V3}/createRoom", json=body, headers={"X-CSRF-Token": "x"})
    assert wrong.status == 403
    made = await client.post(f"{V3}/createRoom", json=body,
                             headers={"X-CSRF-Token": me["csrf_token"]})
    assert made.status == 200


async def test_sockets_take_the_cookie_from_our_origin_only(client: TestClient) -> None:
    bob = await register(client, "bob")
    await web_login(client, "alice", register_first=True)
    origin = f"http://{client.host}:{client.port}"
    ws = await client.ws_connect(f"/ws/dm/{bob.user_id}", headers={"Origin": origin})
    assert (await next_frame(ws))["type"] == "ready"
    await ws.close()
    evil = await client.ws_connect(f"/ws/dm/{bob.user_id}",
                                   headers={"Origin": "https://evil.example"})
    msg = await evil.receive()
    assert (msg.type, evil.close_code) == (WSMsgType.CLOSE, 4003)


async def test_logout_revokes_the_token_and_clears_the_cookie(client: TestClient) -> None:
    me = await web_login(client, "alice", register_first=True)
    stolen = {c.key: c.value for c in client.session.cookie_jar}
    refused = await client.delete(SESSION)
    assert refused.status == 403  # no CSRF token
    out = await client.delete(SESSION, headers={"X-CSRF-Token": me["csrf_token"]})
    assert out.status == 200
    assert (await client.get(SESSION)).status == 401
    replay = await client.get(f"{V3}/account/whoami", cookies=stolen)
    assert (replay.status, (await replay.json())["errcode"]) == (401, "M_UNKNOWN_TOKEN")


async def test_a_cross_site_form_cannot_log_the_browser_into_another_account(
    client: TestClient
) -> None:
    """Login CSRF: a page elsewhere posts the attacker's credentials from the victim's browser."""
    await register(client, "mallory", "hunter2!")
    body = '{"username": "mallory", "password": "hunter2!"}'
    for content_type in ("text/plain", "application/x-www-form-urlencoded",
                         "multipart/form-data; boundary=x"):
        form = await client.post(SESSION, data=body, headers={"Content-Type": content_type})
        assert (form.status, (await form.json())["errcode"]) == (400, "M_NOT_JSON")
        assert "Set-Cookie" not in form.headers
    for origin in ("https://evil.example", "null"):
        cross = await client.post(SESSION, data=body, headers={
            "Content-Type": "application/json", "Origin": origin})
        assert (cross.status, (await cross.json())["errcode"]) == (403, "M_FORBIDDEN")
        assert "Set-Cookie" not in cross.headers
    nobody = await client.get(SESSION)
    assert nobody.status == 401  # the browser holds no session
    ours = f"http://{client.host}:{client.port}"
    own = await client.post(SESSION, data=body, headers={
        "Content-Type": "application/json; charset=utf-8", "Origin": ours})
    assert own.status == 200, await own.text()
