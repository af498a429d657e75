"""What Element asks for at start and in its settings: password change, deactivation,
3PIDs, TURN servers, third-party protocols, versions and capabilities. Both backends."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

from homeserver.app import create_app
from homeserver.clock import FakeClock
from homeserver.services import build_homeserver
from tests.conftest import Account, Api, make_config, register

V3 = "/_matrix/client/v3"
PASSWORD = "hunter2!"


def password_auth(who: Account, password: str = PASSWORD, session: str | None = None) -> dict:
    auth = {"type": "m.login.password", "password": password,
            "identifier": {"type": "m.id.user", "user": who.user_id}}
    return {**auth, **({"session": session} if session else {})}


async def login(api: Api, user: str, password: str = PASSWORD, status: int = 200) -> Any:
    return await api.call("POST", f"{V3}/login", None, {
        "type": "m.login.password", "user": user, "password": password}, status=status)


async def test_password_change_needs_auth_then_logs_out_other_devices(api: Api) -> None:
    alice = await register(api.client, "alice")
    other = await login(api, "alice")
    body = {"new_password": "correct horse"}
    flows = await api.call("POST", f"{V3}/account/password", alice, body, status=401)
    assert flows["flows"] == [{"stages": ["m.login.password"]}] and flows["session"]
    wrong = await api.call("POST", f"{V3}/account/password", alice,
                           {**body, "auth": password_auth(alice, "nope", flows["session"])},
                           status=401)
    assert wrong["errcode"] == "M_FORBIDDEN"
    await login(api, "alice", "correct horse", status=403)  # not changed yet
    await api.call("POST", f"{V3}/account/password", alice,
                   {**body, "auth": password_auth(alice, session=flows["session"])})
    await login(api, "alice", PASSWORD, status=403)
    await login(api, "alice", "correct horse")
    # The other device's token died; the one that asked still works.
    resp = await api.client.get(f"{V3}/account/whoami",
                                headers={"Authorization": f"Bearer {other['access_token']}"})
    assert (resp.status, (await resp.json())["errcode"]) == (401, "M_UNKNOWN_TOKEN")
    await api.call("GET", f"{V3}/account/whoami", alice)


async def test_password_change_can_keep_other_devices(api: Api) -> None:
    alice = await register(api.client, "alice")
    other = await login(api, "alice")
    await api.call("POST", f"{V3}/account/password", alice, {
        "new_password": "new-one", "logout_devices": False, "auth": password_auth(alice)})
    resp = await api.client.get(f"{V3}/account/whoami",
                                headers={"Authorization": f"Bearer {other['access_token']}"})
    assert resp.status == 200


async def test_password_change_bad_input(api: Api) -> None:
    alice = await register(api.client, "alice")
    for body in ({}, {"new_password": 5}, {"new_password": "x" * 513},
                 {"new_password": "ok", "logout_devices": "no"}, {"new_password": None}):
        data = await api.call("POST", f"{V3}/account/password", alice, body, status=400)
        assert data["errcode"] == "M_BAD_JSON", body
    data = await api.call("POST", f"{V3}/account/password", alice,
                          {"new_password": "", "auth": password_auth(alice)}, status=400)
    assert data["errcode"] == "M_WEAK_PASSWORD"
    data = await api.call("POST", f"{V3}/account/password", None, {"new_password": "a"},
                          status=401)
    assert data["errcode"] == "M_MISSING_TOKEN"


async def test_someone_elses_password_does_not_confirm(api: Api) -> None:
    """The attack: Mallory holds Alice's token but only knows her own password."""
    alice = await register(api.client, "alice")
    mallory = await register(api.client, "mallory", "mallory-pw")
    data = await api.call("POST", f"{V3}/account/password", alice, {
        "new_password": "owned", "auth": password_auth(mallory, "mallory-pw")}, status=401)
    assert data["errcode"] == "M_FORBIDDEN"
    await login(api, "alice")  # unchanged
    data = await api.call("POST", f"{V3}/account/deactivate", alice, {
        "auth": password_auth(mallory, "mallory-pw")}, status=401)
    assert data["errcode"] == "M_FORBIDDEN"
    await api.call("GET", f"{V3}/account/whoami", alice)


async def test_deactivation_leaves_rooms_kills_tokens_and_keeps_the_id(api: Api) -> None:
    alice = await register(api.client, "alice")
    bob = await register(api.client, "bob")
    dm = (await api.call("POST", f"/_matrix/client/unstable/dm/{bob.user_id}", alice))
    room = dm["room_id"]
    await api.join(bob, room)
    group = await api.create_room(bob)
    await api.invite(bob, group, alice.user_id)  # an invite she never answered
    flows = await api.call("POST", f"{V3}/account/deactivate", alice, {}, status=401)
    assert flows["flows"] == [{"stages": ["m.login.password"]}]
    await api.call("POST", f"{V3}/account/deactivate", alice,
                   {"auth": password_auth(alice, session=flows["session"])})
    resp = await api.client.get(f"{V3}/account/whoami", headers=alice.auth)
    assert (resp.status, (await resp.json())["errcode"]) == (401, "M_UNKNOWN_TOKEN")
    await login(api, "alice", status=403)
    members = await api.call("GET", f"{V3}/rooms/{room}/joined_members", bob)
    assert set(members["joined"]) == {bob.user_id}
    invited = await api.call("GET", f"{V3}/rooms/{group}/members", bob)
    alice_state = [e["content"]["membership"] for e in invited["chunk"]
                   if e["state_key"] == alice.user_id]
    assert alice_state == ["leave"]
    # Her ID is never handed out again, and nobody can put her back in a room.
    again = await api.client.post(f"{V3}/register", json={
        "username": "alice", "password": "x", "auth": {"type": "m.login.dummy"}})
    assert (again.status, (await again.json())["errcode"]) == (400, "M_USER_IN_USE")
    data = await api.call("POST", f"/_matrix/client/unstable/dm/{alice.user_id}", bob,
                          status=403)
    assert data["errcode"] == "M_FORBIDDEN"


async def test_deactivate_bad_input(api: Api) -> None:
    alice = await register(api.client, "alice")
    for body in ([], {"auth": "x"}, {"erase": "yes"}, {"id_server": 5}):
        resp = await api.client.post(f"{V3}/account/deactivate", json=body,
                                     headers=alice.auth)
        assert resp.status == 400, body
        assert (await resp.json())["errcode"] == "M_BAD_JSON"
    bad = {"auth": {"type": "m.login.password", "identifier": {"user": 5}, "password": 1}}
    data = await api.call("POST", f"{V3}/account/deactivate", alice, bad, status=400)
    assert data["errcode"] == "M_BAD_JSON"
    await api.call("GET", f"{V3}/account/whoami", alice)  # still active


async def test_3pid_thirdparty_and_voip_answer_empty(api: Api) -> None:
    alice = await register(api.client, "alice")
    assert await api.call("GET", f"{V3}/account/3pid", alice) == {"threepids": []}
    assert await api.call("GET", f"{V3}/thirdparty/protocols", alice) == {}
    assert await api.call("GET", f"{V3}/voip/turnServer", alice) == {}
    assert await api.call("GET", "/_matrix/client/r0/voip/turnServer", alice) == {}
    for path in ("account/3pid", "thirdparty/protocols", "voip/turnServer"):
        data = await api.call("GET", f"{V3}/{path}", None, status=401)
        assert data["errcode"] == "M_MISSING_TOKEN"


async def test_turn_credentials_by_the_rest_api_scheme(tmp_path: Any, database_url: str,
                                                       aiohttp_client: Any) -> None:
    clock = FakeClock()
    config = make_config(tmp_path, database_url, **{
        "voip.turn_uris": ["turn:turn.example:3478?transport=udp"],
        "voip.turn_shared_secret": "s3cret", "voip.turn_user_lifetime": 3_600_000})
    client = await aiohttp_client(create_app(await build_homeserver(config, clock)))
    api = Api(client)
    alice = await register(client, "alice")
    answer = await api.call("GET", f"{V3}/voip/turnServer", alice)
    expiry = (clock.time_ms() + 3_600_000) // 1000
    username = f"{expiry}:{alice.user_id}"
    mac = hmac.new(b"s3cret", username.encode(), hashlib.sha1).digest()
    assert answer == {"username": username, "password": base64.b64encode(mac).decode(),
                      "uris": ["turn:turn.example:3478?transport=udp"], "ttl": 3600}


async def test_capabilities_versions_and_discovery(api: Api) -> None:
    alice = await register(api.client, "alice")
    caps = (await api.call("GET", f"{V3}/capabilities", alice))["capabilities"]
    assert caps["m.change_password"] == {"enabled": True}
    assert caps["m.room_versions"] == {"default": "10", "available": {"10": "stable"}}
    versions = await api.call("GET", "/_matrix/client/versions")
    assert "v1.1" in versions["versions"]
    assert versions["unstable_features"] == {}


async def test_new_account_has_its_localpart_as_name_and_profiles_are_never_empty(
        api: Api) -> None:
    alice = await register(api.client, "alice")
    assert await api.call("GET", f"{V3}/profile/{alice.user_id}") == {"displayname": "alice"}
    await api.call("PUT", f"{V3}/profile/{alice.user_id}/displayname", alice,
                   {"displayname": None})
    assert await api.call("GET", f"{V3}/profile/{alice.user_id}") == {"displayname": "alice"}
    await api.call("PUT", f"{V3}/profile/{alice.user_id}/displayname", alice,
                   {"displayname": "Alice A."})
    assert await api.call("GET", f"{V3}/profile/{alice.user_id}") == {"displayname": "Alice A."}
    data = await api.call("GET", f"{V3}/profile/@ghost:test.local", status=404)
    assert data["errcode"] == "M_NOT_FOUND"
    bob = await register(api.client, "bob")
    room = (await api.call("POST", f"/_matrix/client/unstable/dm/{alice.user_id}", bob))
    members = await api.call("GET", f"{V3}/rooms/{room['room_id']}/members", bob)
    names = {e["state_key"]: e["content"].get("displayname") for e in members["chunk"]}
    assert names == {bob.user_id: "bob", alice.user_id: "Alice A."}


async def test_registration_without_login_also_names_the_account(
        tmp_path: Any, aiohttp_client: Any) -> None:
    client = await aiohttp_client(create_app(await build_homeserver(
        make_config(tmp_path), FakeClock())))
    resp = await client.post(f"{V3}/register", json={
        "username": "Carol", "password": "pw", "inhibit_login": True,
        "auth": {"type": "m.login.dummy"}})
    assert resp.status == 200
    profile = await (await client.get(f"{V3}/profile/@carol:test.local")).json()
    assert profile == {"displayname": "carol"}
