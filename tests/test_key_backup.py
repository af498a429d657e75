"""Server-side key backup: versions, keys kept by the spec's replacement rule, etag and
count, and the errors for a wrong or unknown version."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest

from homeserver.e2e import backup
from tests.conftest import Api, register

VERSION = "/_matrix/client/v3/room_keys/version"
KEYS = "/_matrix/client/v3/room_keys/keys"
ALG = "m.megolm_backup.v1.curve25519-aes-sha2"
ROOM = "!room:test.local"


def session(index: int, forwarded: int = 0, verified: bool = False, tag: str = "") -> Any:
    return {"first_message_index": index, "forwarded_count": forwarded,
            "is_verified": verified,
            "session_data": {"ephemeral": "e" + tag, "ciphertext": "c" + tag, "mac": "m"}}


async def test_versions_crud(api: Api) -> None:
    alice = await register(api.client, "alice")
    bob = await register(api.client, "bob")
    error = await api.call("GET", VERSION, alice, status=404)
    assert error["errcode"] == "M_NOT_FOUND"
    first = await api.call("POST", VERSION, alice, {"algorithm": ALG,
                                                    "auth_data": {"public_key": "a"}})
    assert first == {"version": "1"}
    current = await api.call("GET", VERSION, alice)
    assert current == {"algorithm": ALG, "auth_data": {"public_key": "a"}, "count": 0,
                       "etag": "0", "version": "1"}
    await api.call("GET", VERSION, bob, status=404)  # another user's backup is not theirs
    await api.call("GET", f"{VERSION}/1", bob, status=404)
    await api.call("PUT", f"{VERSION}/1", alice, {"algorithm": ALG, "version": "1",
                                                  "auth_data": {"public_key": "b"}})
    assert (await api.call("GET", f"{VERSION}/1", alice))["auth_data"] == {"public_key": "b"}
    mismatch = await api.call("PUT", f"{VERSION}/1", alice,
                              {"algorithm": ALG, "version": "2", "auth_data": {}}, 400)
    assert mismatch["errcode"] == "M_INVALID_PARAM"
    other_alg = await api.call("PUT", f"{VERSION}/1", alice,
                               {"algorithm": "x", "auth_data": {}}, 400)
    assert other_alg["errcode"] == "M_INVALID_PARAM"
    assert (await api.call("POST", VERSION, alice, {"algorithm": ALG, "auth_data": {}})) == \
        {"version": "2"}
    assert (await api.call("GET", VERSION, alice))["version"] == "2"
    await api.call("DELETE", f"{VERSION}/2", alice)
    assert (await api.call("GET", VERSION, alice))["version"] == "1"
    await api.call("DELETE", f"{VERSION}/2", alice, status=404)
    for bad in ["x", "-1", "99999999999999999999", "1.0"]:
        await api.call("GET", f"{VERSION}/{bad}", alice, status=404)
    await api.call("DELETE", f"{VERSION}/1", bob, status=404)
    assert (await api.call("POST", VERSION, alice, {"algorithm": ALG, "auth_data": {}})) == \
        {"version": "3"}  # numbers are never reused


async def test_keys_replacement_rule_and_version_errors(api: Api) -> None:
    alice = await register(api.client, "alice")
    await api.call("POST", VERSION, alice, {"algorithm": ALG, "auth_data": {}})
    put = await api.call("PUT", f"{KEYS}?version=1", alice,
                         {"rooms": {ROOM: {"sessions": {"s1": session(5, tag="first")}}}})
    assert put == {"etag": "1", "count": 1}
    # Worse (later index) is ignored: nothing changes, nor does the etag.
    put = await api.call("PUT", f"{KEYS}/{ROOM}/s1?version=1", alice, session(9, tag="worse"))
    assert put == {"etag": "1", "count": 1}
    put = await api.call("PUT", f"{KEYS}/{ROOM}/s1?version=1", alice, session(2, tag="better"))
    assert put == {"etag": "2", "count": 1}
    # Verified wins over a lower index; then a lower forwarded count wins a tie.
    await api.call("PUT", f"{KEYS}/{ROOM}/s1?version=1", alice,
                   session(7, 3, verified=True, tag="verified"))
    await api.call("PUT", f"{KEYS}/{ROOM}/s1?version=1", alice, session(0, tag="unverified"))
    await api.call("PUT", f"{KEYS}/{ROOM}/s1?version=1", alice,
                   session(7, 1, verified=True, tag="fewer hops"))
    held = await api.call("GET", f"{KEYS}/{ROOM}/s1?version=1", alice)
    assert held == session(7, 1, verified=True, tag="fewer hops")

    await api.call("PUT", f"{KEYS}/{ROOM}?version=1", alice, {"sessions": {"s2": session(0)}})
    everything = await api.call("GET", f"{KEYS}?version=1", alice)
    assert set(everything["rooms"][ROOM]["sessions"]) == {"s1", "s2"}
    assert set((await api.call("GET", f"{KEYS}/{ROOM}?version=1", alice))["sessions"]) == \
        {"s1", "s2"}
    assert await api.call("GET", f"{KEYS}/!other:x?version=1", alice) == {"sessions": {}}
    await api.call("GET", f"{KEYS}/{ROOM}/nope?version=1", alice, status=404)

    # A newer version makes version 1 the wrong one to write to.
    await api.call("POST", VERSION, alice, {"algorithm": ALG, "auth_data": {}})
    wrong = await api.call("PUT", f"{KEYS}?version=1", alice, {"rooms": {}}, 403)
    assert wrong["errcode"] == "M_WRONG_ROOM_KEYS_VERSION"
    assert wrong["current_version"] == "2"
    unknown = await api.call("PUT", f"{KEYS}?version=7", alice, {"rooms": {}}, 404)
    assert unknown["errcode"] == "M_NOT_FOUND"
    missing = await api.call("GET", KEYS, alice, status=400)
    assert missing["errcode"] == "M_MISSING_PARAM"

    deleted = await api.call("DELETE", f"{KEYS}/{ROOM}/s2?version=1", alice)
    assert deleted["count"] == 1
    assert (await api.call("DELETE", f"{KEYS}?version=1", alice))["count"] == 0
    assert (await api.call("GET", f"{KEYS}?version=1", alice)) == {"rooms": {}}


async def test_bad_backup_bodies(api: Api) -> None:
    alice = await register(api.client, "alice")
    for bad in [{}, {"algorithm": 5, "auth_data": {}}, {"algorithm": ALG},
                {"algorithm": ALG, "auth_data": []},
                {"algorithm": ALG, "auth_data": {"x": "y" * 20_000}}]:
        resp = await api.client.post(VERSION, json=bad, headers=alice.auth)
        assert resp.status in (400, 413)
        assert (await resp.json())["errcode"] in ("M_BAD_JSON", "M_TOO_LARGE")
    await api.call("POST", VERSION, alice, {"algorithm": ALG, "auth_data": {}})
    for bad in [{"rooms": []}, {"rooms": {ROOM: []}}, {"rooms": {ROOM: {"sessions": []}}},
                {"rooms": {ROOM: {"sessions": {"s": {**session(0), "is_verified": 1}}}}},
                {"rooms": {ROOM: {"sessions": {"s": {**session(0), "forwarded_count": -1}}}}},
                {"rooms": {ROOM: {"sessions": {"s": {**session(0), "session_data": "x"}}}}},
                {"rooms": {ROOM: {"sessions": {"s": {**session(0),
                                                     "first_message_index": 2**60}}}}}]:
        resp = await api.client.put(f"{KEYS}?version=1", json=bad, headers=alice.auth)
        assert resp.status == 400, bad
        assert (await resp.json())["errcode"] == "M_BAD_JSON"
    resp = await api.client.put(f"{KEYS}/not-a-room/s?version=1", json=session(0),
                                headers=alice.auth)
    assert resp.status == 400
    resp = await api.client.get(VERSION)
    assert resp.status == 401


async def test_one_user_cannot_fill_the_disk_with_backup_sessions(
        api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """The attack: upload session after session, in one version or spread over many."""
    monkeypatch.setattr(backup, "MAX_SESSIONS_PER_USER", 4)
    alice = await register(api.client, "alice")
    bob = await register(api.client, "bob")
    await api.call("POST", VERSION, alice, {"algorithm": ALG, "auth_data": {}})
    three = {f"s{i}": session(1) for i in range(3)}
    await api.call("PUT", f"{KEYS}?version=1", alice, {"rooms": {ROOM: {"sessions": three}}})
    too_many = {"s3": session(1), "s4": session(1)}
    full = await api.call("PUT", f"{KEYS}?version=1", alice,
                          {"rooms": {ROOM: {"sessions": too_many}}}, 403)
    assert full["errcode"] == "M_LIMIT_EXCEEDED"
    assert (await api.call("GET", VERSION, alice))["count"] == 3  # nothing of it kept
    await api.call("PUT", f"{KEYS}/{ROOM}/s3?version=1", alice, session(1))  # the 4th fits
    # Replacing a held session adds nothing, so it is still allowed.
    put = await api.call("PUT", f"{KEYS}/{ROOM}/s0?version=1", alice, session(0))
    assert put["count"] == 4
    # A new version does not start a new allowance: the old one still holds its keys.
    await api.call("POST", VERSION, alice, {"algorithm": ALG, "auth_data": {}})
    await api.call("PUT", f"{KEYS}/{ROOM}/s0?version=2", alice, session(0), 403)
    await api.call("PUT", f"{KEYS}/{ROOM}/s0?version=2", bob, session(0), 404)
    await api.call("POST", VERSION, bob, {"algorithm": ALG, "auth_data": {}})
    await api.call("PUT", f"{KEYS}/{ROOM}/s0?version=1", bob, session(0))  # bob's own
    await api.call("DELETE", f"{VERSION}/1", alice)  # deleting frees the room again
    await api.call("PUT", f"{KEYS}/{ROOM}/s0?version=2", alice, session(0))


async def test_a_large_backup_comes_back_whole_in_pages(
        api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backup, "PAGE_SIZE", 2)
    alice = await register(api.client, "alice")
    await api.call("POST", VERSION, alice, {"algorithm": ALG, "auth_data": {}})
    rooms = {f"!r{r}:test.local": {"sessions": {f"s{i}": session(i, tag=f"{r}-{i}")
                                                for i in range(r + 1)}}
             for r in range(4)}
    rooms["!é\"quoted:test.local"] = {"sessions": {"ü\"s": session(0, tag="é")}}
    await api.call("PUT", f"{KEYS}?version=1", alice, {"rooms": rooms})
    resp = await api.client.get(f"{KEYS}?version=1", headers=alice.auth)
    assert resp.status == 200
    assert resp.content_type == "application/json"
    assert resp.headers["Access-Control-Allow-Origin"] == "*"  # Element Web reads it too
    assert await resp.json() == {"rooms": rooms}
    for room_id, room in rooms.items():
        assert await api.call("GET", f"{KEYS}/{quote(room_id)}?version=1", alice) == room
    await api.call("GET", f"{KEYS}?version=9", alice, status=404)
    await api.call("GET", f"{KEYS}/{ROOM}?version=9", alice, status=404)
    await api.call("GET", f"{KEYS}?version=1", status=401)
