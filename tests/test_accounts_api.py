"""Accounts over HTTP on both backends: register, login, tokens, devices, profile."""

from __future__ import annotations

from typing import Any

from homeserver.accounts import hash_token
from homeserver.services import Homeserver
from tests.conftest import register

REGISTER = "/_matrix/client/v3/register"
LOGIN = "/_matrix/client/v3/login"


async def test_register_needs_interactive_auth_then_completes(client: Any) -> None:
    body = {"username": "alice", "password": "secret-pass"}
    first = await client.post(REGISTER, json=body)
    assert first.status == 401
    challenge = await first.json()
    assert challenge["flows"] == [{"stages": ["m.login.dummy"]}]
    body["auth"] = {"type": "m.login.dummy", "session": challenge["session"]}
    second = await client.post(REGISTER, json=body)
    assert second.status == 200
    data = await second.json()
    assert data["user_id"] == "@alice:test.local"
    assert data["access_token"] and data["device_id"]


async def test_register_unknown_session_is_rejected(client: Any) -> None:
    body = {"username": "alice", "auth": {"type": "m.login.dummy", "session": "nope"}}
    resp = await client.post(REGISTER, json=body)
    assert resp.status == 400


async def test_register_options(client: Any) -> None:
    body = {
        "username": "Bob", "password": "pw", "device_id": "PHONE",
        "initial_device_display_name": "Bob's phone", "auth": {"type": "m.login.dummy"},
    }
    data = await (await client.post(REGISTER, json=body)).json()
    assert data["user_id"] == "@bob:test.local"
    assert data["device_id"] == "PHONE"
    devices = await client.get(
        "/_matrix/client/v3/devices", headers={"Authorization": f"Bearer {data['access_token']}"}
    )
    assert (await devices.json())["devices"][0]["display_name"] == "Bob's phone"

    inhibited = {"username": "carol", "inhibit_login": True, "auth": {"type": "m.login.dummy"}}
    data = await (await client.post(REGISTER, json=inhibited)).json()
    assert data["user_id"] == "@carol:test.local"
    assert "access_token" not in data


async def test_register_username_errors(client: Any) -> None:
    await register(client, "alice")
    taken = await client.post(
        REGISTER, json={"username": "alice", "auth": {"type": "m.login.dummy"}}
    )
    assert (taken.status, (await taken.json())["errcode"]) == (400, "M_USER_IN_USE")
    for bad in ["Has Space", "ümlaut", "", "a" * 300, "@x:other.server"]:
        resp = await client.post(REGISTER, json={"username": bad})
        assert (await resp.json())["errcode"] == "M_INVALID_USERNAME", bad


async def test_username_available(client: Any) -> None:
    await register(client, "alice")
    url = "/_matrix/client/v3/register/available?username="
    assert (await (await client.get(url + "bob")).json()) == {"available": True}
    assert (await (await client.get(url + "alice")).json())["errcode"] == "M_USER_IN_USE"
    assert (await (await client.get(url + "BAD NAME")).json())["errcode"] == "M_INVALID_USERNAME"


async def test_login_variants_and_wrong_password(client: Any) -> None:
    await register(client, "alice", "correct horse")
    bodies = [
        {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "alice"}},
        {"type": "m.login.password",
         "identifier": {"type": "m.id.user", "user": "@alice:test.local"}},
        {"type": "m.login.password", "user": "alice"},
    ]
    for body in bodies:
        resp = await client.post(LOGIN, json={**body, "password": "correct horse"})
        assert resp.status == 200, body
        assert (await resp.json())["user_id"] == "@alice:test.local"
    wrong = await client.post(LOGIN, json={**bodies[0], "password": "wrong"})
    assert (wrong.status, (await wrong.json())["errcode"]) == (403, "M_FORBIDDEN")
    nobody = await client.post(
        LOGIN, json={"type": "m.login.password", "user": "nobody", "password": "x"}
    )
    assert nobody.status == 403
    flows = await (await client.get(LOGIN)).json()
    assert {"type": "m.login.password"} in flows["flows"]


async def test_whoami_logout_and_logout_all(client: Any) -> None:
    alice = await register(client, "alice")
    who = await (await client.get("/_matrix/client/v3/account/whoami", headers=alice.auth)).json()
    assert who["user_id"] == alice.user_id and who["device_id"] == alice.device_id
    login = {"type": "m.login.password", "user": "alice", "password": "hunter2!"}
    second = await (await client.post(LOGIN, json=login)).json()
    third = await (await client.post(LOGIN, json=login)).json()

    assert (await client.post("/_matrix/client/v3/logout", headers=alice.auth)).status == 200
    gone = await client.get("/_matrix/client/v3/account/whoami", headers=alice.auth)
    assert (gone.status, (await gone.json())["errcode"]) == (401, "M_UNKNOWN_TOKEN")
    still = {"Authorization": f"Bearer {second['access_token']}"}
    assert (await client.get("/_matrix/client/v3/account/whoami", headers=still)).status == 200

    assert (await client.post("/_matrix/client/v3/logout/all", headers=still)).status == 200
    for token in (second["access_token"], third["access_token"]):
        resp = await client.get(f"/_matrix/client/v3/account/whoami?access_token={token}")
        assert resp.status == 401


async def test_missing_and_unknown_tokens(client: Any) -> None:
    resp = await client.get("/_matrix/client/v3/account/whoami")
    assert (resp.status, (await resp.json())["errcode"]) == (401, "M_MISSING_TOKEN")
    resp = await client.get(
        "/_matrix/client/v3/account/whoami", headers={"Authorization": "Bearer nope"}
    )
    assert (resp.status, (await resp.json())["errcode"]) == (401, "M_UNKNOWN_TOKEN")


async def test_devices_list_get_rename(client: Any) -> None:
    alice = await register(client, "alice")
    url = f"/_matrix/client/v3/devices/{alice.device_id}"
    resp = await client.put(url, json={"display_name": "laptop"}, headers=alice.auth)
    assert resp.status == 200
    assert (await (await client.get(url, headers=alice.auth)).json())["display_name"] == "laptop"
    missing = await client.get("/_matrix/client/v3/devices/NOPE", headers=alice.auth)
    assert (missing.status, (await missing.json())["errcode"]) == (404, "M_NOT_FOUND")


async def test_profile_get_set_and_only_own(client: Any) -> None:
    alice = await register(client, "alice")
    bob = await register(client, "bob")
    url = f"/_matrix/client/v3/profile/{alice.user_id}"
    resp = await client.put(url + "/displayname", json={"displayname": "Alice"},
                            headers=alice.auth)
    assert resp.status == 200
    await client.put(url + "/avatar_url", json={"avatar_url": "mxc://x/y"}, headers=alice.auth)
    assert await (await client.get(url)).json() == {
        "displayname": "Alice", "avatar_url": "mxc://x/y"
    }
    assert await (await client.get(url + "/displayname")).json() == {"displayname": "Alice"}
    other = await client.put(url + "/displayname", json={"displayname": "x"}, headers=bob.auth)
    assert (other.status, (await other.json())["errcode"]) == (403, "M_FORBIDDEN")
    unknown = await client.get("/_matrix/client/v3/profile/@nobody:test.local")
    assert (unknown.status, (await unknown.json())["errcode"]) == (404, "M_NOT_FOUND")


async def test_secrets_are_stored_hashed(client: Any, homeserver: Homeserver) -> None:
    alice = await register(client, "alice", "plain-password")
    rows = await homeserver.db.fetch("SELECT token_hash FROM access_tokens")
    assert [r["token_hash"] for r in rows] == [hash_token(alice.access_token)]
    stored = await homeserver.db.fetchval("SELECT password_hash FROM users")
    assert stored.startswith("scrypt$") and "plain-password" not in stored


async def test_discovery_endpoints(client: Any) -> None:
    alice = await register(client, "alice")
    versions = await (await client.get("/_matrix/client/versions")).json()
    assert "v1.1" in versions["versions"]
    well_known = await (await client.get("/.well-known/matrix/client")).json()
    assert well_known["m.homeserver"]["base_url"].startswith("http")
    caps = await client.get("/_matrix/client/v3/capabilities", headers=alice.auth)
    assert (await caps.json())["capabilities"]["m.room_versions"]["default"] == "10"
    legacy = await client.get("/_matrix/client/r0/account/whoami", headers=alice.auth)
    assert (await legacy.json())["user_id"] == alice.user_id
