"""Cross-signing: the first keys without a password (MSC3967), replacing them with one;
signatures checked against the key that must have made them; device deletion behind
user-interactive auth taking its keys along."""

from __future__ import annotations

from typing import Any

from homeserver.accounts import AUTH_SESSION_TTL_MS, MAX_AUTH_SESSIONS_PER_USER
from homeserver.clock import FakeClock
from homeserver.services import Homeserver
from tests.conftest import Account, Api, register
from tests.e2e_helpers import (
    KEYS,
    Key,
    cross_signing_key,
    device_keys,
    one_time_key,
    password_auth,
)

UPLOAD = f"{KEYS}/device_signing/upload"
SIGNATURES = f"{KEYS}/signatures/upload"


class Identity:
    """A user's three cross-signing keys, the other two signed by the master."""

    def __init__(self, user_id: str) -> None:
        self.master, self.self_signing, self.user_signing = Key(), Key(), Key()
        self.body = {
            "master_key": cross_signing_key(user_id, "master", self.master),
            "self_signing_key": cross_signing_key(user_id, "self_signing", self.self_signing,
                                                  self.master),
            "user_signing_key": cross_signing_key(user_id, "user_signing", self.user_signing,
                                                  self.master),
        }


async def query(api: Api, who: Account, user: str) -> Any:
    return await api.call("POST", f"{KEYS}/query", who, {"device_keys": {user: []}})


async def test_first_upload_needs_no_password_and_replacing_does(api: Api) -> None:
    alice = await register(api.client, "alice")
    bob = await register(api.client, "bob")
    first = Identity(alice.user_id)
    await api.call("POST", UPLOAD, alice, first.body)
    await api.call("POST", UPLOAD, alice, first.body)  # the same keys again: nothing to ask
    found = await query(api, bob, alice.user_id)
    assert found["master_keys"][alice.user_id] == first.body["master_key"]
    assert found["self_signing_keys"][alice.user_id] == first.body["self_signing_key"]
    assert alice.user_id not in found["user_signing_keys"]  # only for alice herself
    own = await query(api, alice, alice.user_id)
    assert own["user_signing_keys"][alice.user_id] == first.body["user_signing_key"]

    second = Identity(alice.user_id)
    challenge = await api.call("POST", UPLOAD, alice, second.body, 401)
    assert challenge["flows"] == [{"stages": ["m.login.password"]}]
    wrong = {**password_auth(alice.user_id, challenge["session"]), "password": "wrong"}
    refused = await api.call("POST", UPLOAD, alice, {**second.body, "auth": wrong}, 401)
    assert refused["errcode"] == "M_FORBIDDEN"
    assert (await query(api, bob, alice.user_id))["master_keys"][alice.user_id] == \
        first.body["master_key"]
    await api.call("POST", UPLOAD, alice,
                   {**second.body, "auth": password_auth(alice.user_id, challenge["session"])})
    assert (await query(api, bob, alice.user_id))["master_keys"][alice.user_id] == \
        second.body["master_key"]


async def test_keys_not_signed_by_the_master_are_refused(api: Api) -> None:
    alice = await register(api.client, "alice")
    ident = Identity(alice.user_id)
    forged = cross_signing_key(alice.user_id, "self_signing", ident.self_signing, Key())
    error = await api.call("POST", UPLOAD, alice, {**ident.body, "self_signing_key": forged},
                           400)
    assert error["errcode"] == "M_INVALID_SIGNATURE"
    alone = await api.call("POST", UPLOAD, alice,
                           {"self_signing_key": ident.body["self_signing_key"]}, 400)
    assert alone["errcode"] == "M_MISSING_PARAM"
    bob = await register(api.client, "bob")
    theirs = await api.call("POST", UPLOAD, alice,
                            {"master_key": cross_signing_key(bob.user_id, "master", Key())}, 400)
    assert theirs["errcode"] == "M_BAD_JSON"
    for bad in ["x", {"user_id": alice.user_id, "usage": ["master"], "keys": {}},
                {"user_id": alice.user_id, "usage": "master", "keys": {"ed25519:a": "a"}},
                {"user_id": alice.user_id, "usage": ["master"], "keys": {"ed25519:a": "b"}}]:
        error = await api.call("POST", UPLOAD, alice, {"master_key": bad}, 400)
        assert error["errcode"] == "M_BAD_JSON"


async def test_signatures_are_checked_and_shown(api: Api) -> None:
    alice = await register(api.client, "alice")
    bob = await register(api.client, "bob")
    ident = Identity(alice.user_id)
    await api.call("POST", UPLOAD, alice, ident.body)
    device_key = Key()
    ours = device_keys(alice, device_key)
    await api.call("POST", f"{KEYS}/upload", alice, {"device_keys": ours})

    ssk_id = f"ed25519:{ident.self_signing.public}"
    signed = ident.self_signing.sign(dict(ours, signatures=dict(ours["signatures"])),
                                     alice.user_id, ssk_id)
    forged = Key().sign({k: v for k, v in ours.items() if k != "signatures"}, alice.user_id,
                        ssk_id)
    answer = await api.call("POST", SIGNATURES, alice,
                            {alice.user_id: {alice.device_id: signed}})
    assert answer == {"failures": {}}
    shown = (await query(api, bob, alice.user_id))["device_keys"][alice.user_id]
    assert shown[alice.device_id]["signatures"][alice.user_id][ssk_id] == \
        signed["signatures"][alice.user_id][ssk_id]

    answer = await api.call("POST", SIGNATURES, alice,
                            {alice.user_id: {alice.device_id: forged, "NOSUCH": forged}})
    failures = answer["failures"][alice.user_id]
    assert failures[alice.device_id]["errcode"] == "M_INVALID_SIGNATURE"
    assert failures["NOSUCH"]["errcode"] == "M_NOT_FOUND"
    tampered = dict(signed, algorithms=["x"])
    answer = await api.call("POST", SIGNATURES, alice,
                            {alice.user_id: {alice.device_id: tampered}})
    assert answer["failures"][alice.user_id][alice.device_id]["errcode"] == \
        "M_INVALID_SIGNATURE"

    # Alice verifies bob: her user-signing key on his master key, seen by her alone.
    bob_ident = Identity(bob.user_id)
    await api.call("POST", UPLOAD, bob, bob_ident.body)
    usk_id = f"ed25519:{ident.user_signing.public}"
    bob_master = ident.user_signing.sign(dict(bob_ident.body["master_key"]), alice.user_id,
                                         usk_id)
    answer = await api.call("POST", SIGNATURES, alice,
                            {bob.user_id: {bob_ident.master.public: bob_master}})
    assert answer == {"failures": {}}
    seen = (await query(api, alice, bob.user_id))["master_keys"][bob.user_id]
    assert seen["signatures"][alice.user_id] == {usk_id: bob_master["signatures"][
        alice.user_id][usk_id]}
    carol = await register(api.client, "carol")
    other = (await query(api, carol, bob.user_id))["master_keys"][bob.user_id]
    assert alice.user_id not in other.get("signatures", {})

    for bad in [[], {alice.user_id: []}, {alice.user_id: {"D": "x"}}]:
        error = await api.call("POST", SIGNATURES, alice, bad, 400)
        assert error["errcode"] == "M_BAD_JSON"


async def test_deleting_a_device_needs_the_password_and_takes_its_keys(api: Api) -> None:
    alice = await register(api.client, "alice")
    bob = await register(api.client, "bob")
    room = await api.create_room(alice)
    await api.invite(alice, room, bob.user_id)
    await api.join(bob, room)
    key = Key()
    await api.call("POST", f"{KEYS}/upload", alice, {
        "device_keys": device_keys(alice, key),
        "one_time_keys": {"signed_curve25519:A": one_time_key(alice, key, "A")}})
    token = (await api.sync(bob))["next_batch"]

    path = f"/_matrix/client/v3/devices/{alice.device_id}"
    challenge = await api.call("DELETE", path, alice, {}, 401)
    # Bob cannot delete alice's device: his password confirms him, and it is not his device.
    await api.call("DELETE", path, bob, {"auth": password_auth(bob.user_id)})
    await api.call("GET", "/_matrix/client/v3/account/whoami", alice)
    wrong = {**password_auth(alice.user_id, challenge["session"]), "password": "nope"}
    await api.call("DELETE", path, alice, {"auth": wrong}, 401)
    await api.call("DELETE", path, alice, {"auth": password_auth(alice.user_id,
                                                                  challenge["session"])})
    await api.call("GET", "/_matrix/client/v3/account/whoami", alice, status=401)
    found = await query(api, bob, alice.user_id)
    assert found["device_keys"][alice.user_id] == {}
    claimed = await api.call("POST", f"{KEYS}/claim", bob, {
        "one_time_keys": {alice.user_id: {alice.device_id: "signed_curve25519"}}})
    assert claimed["one_time_keys"] == {}
    assert alice.user_id in (await api.sync(bob, token))["device_lists"]["changed"]


async def test_delete_devices_in_bulk(api: Api) -> None:
    alice = await register(api.client, "alice")
    logins = []
    for device in ("D1", "D2"):
        data = await api.call("POST", "/_matrix/client/v3/login", None, {
            "type": "m.login.password", "user": "alice", "password": "hunter2!",
            "device_id": device})
        logins.append(Account(data["user_id"], data["access_token"], device))
    url = "/_matrix/client/v3/delete_devices"
    await api.call("POST", url, alice, {"devices": ["D1", "D2"]}, 401)
    for bad in [{}, {"devices": "D1"}, {"devices": [5]}, {"devices": [""]},
                {"devices": ["x" * 300]}]:
        error = await api.call("POST", url, alice, bad, 400)
        assert error["errcode"] == "M_BAD_JSON"
    await api.call("POST", url, alice, {"devices": [f"D{i}" for i in range(1001)]}, 413)
    await api.call("POST", url, alice, {"devices": ["D1", "D2"],
                                        "auth": password_auth(alice.user_id)})
    for other in logins:
        await api.call("GET", "/_matrix/client/v3/account/whoami", other, status=401)
    await api.call("GET", "/_matrix/client/v3/account/whoami", alice)


async def test_auth_sessions_cannot_pile_up(api: Api, homeserver: Homeserver,
                                            clock: FakeClock) -> None:
    """The attack: ask for a user-interactive auth session again and again (each
    ``POST /delete_devices {"devices": []}`` without auth made a row, kept for ever)."""
    alice = await register(api.client, "alice")
    bob = await register(api.client, "bob")
    url = "/_matrix/client/v3/delete_devices"
    sessions = []
    for _ in range(MAX_AUTH_SESSIONS_PER_USER + 10):
        sessions.append((await api.call("POST", url, alice, {"devices": []}, 401))["session"])
        clock.advance(0.001)  # "oldest" is by creation time
    db = homeserver.accounts.store.db
    count = "SELECT COUNT(*) FROM ui_auth_sessions"
    assert await db.fetchval(count) == MAX_AUTH_SESSIONS_PER_USER
    # The oldest went first; the newest still completes.
    stale = await api.call("POST", url, alice, {
        "devices": [], "auth": password_auth(alice.user_id, sessions[0])}, 400)
    assert stale["errcode"] == "M_UNKNOWN"
    await api.call("POST", url, alice, {"devices": [],
                                        "auth": password_auth(alice.user_id, sessions[-1])})
    # Expired sessions, registrations' too, go when anyone starts a new one.
    await api.call("POST", "/_matrix/client/v3/register", None, {"username": "x"}, 401)
    clock.advance(AUTH_SESSION_TTL_MS / 1000 + 1)
    assert await db.fetchval(count) == MAX_AUTH_SESSIONS_PER_USER
    await api.call("POST", url, bob, {"devices": []}, 401)
    assert await db.fetchval(count) == 1
