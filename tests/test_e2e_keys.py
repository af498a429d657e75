"""Device keys: upload, query, claim (one-time keys consumed, then the fallback key),
key counts in /sync, and device-list changes told to co-members only."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api, register
from tests.e2e_helpers import KEYS, Key, device_keys, one_time_key

ALG = "signed_curve25519"


async def upload(api: Api, who: Any, body: dict[str, Any], status: int = 200) -> Any:
    return await api.call("POST", f"{KEYS}/upload", who, body, status)


async def test_upload_query_claim_then_fallback(api: Api) -> None:
    alice = await register(api.client, "alice")
    bob = await register(api.client, "bob")
    key = Key()
    ours = device_keys(alice, key)
    otks = {f"{ALG}:A{i}": one_time_key(alice, key, f"A{i}") for i in range(2)}
    fallback = {f"{ALG}:F1": one_time_key(alice, key, "F1", fallback=True)}
    answer = await upload(api, alice, {"device_keys": ours, "one_time_keys": otks,
                                       "fallback_keys": fallback})
    assert answer == {"one_time_key_counts": {ALG: 2}}
    assert (await upload(api, alice, {}))["one_time_key_counts"] == {ALG: 2}

    found = await api.call("POST", f"{KEYS}/query", bob,
                           {"device_keys": {alice.user_id: []}})
    published = found["device_keys"][alice.user_id][alice.device_id]
    published.pop("unsigned", None)
    assert published == ours
    assert found["failures"] == {}
    only = await api.call("POST", f"{KEYS}/query", bob,
                          {"device_keys": {alice.user_id: ["NOPE"]}})
    assert only["device_keys"] == {alice.user_id: {}}

    sync = await api.sync(alice)
    assert sync["device_one_time_keys_count"] == {ALG: 2}
    assert sync["device_unused_fallback_key_types"] == [ALG]
    claim = {"one_time_keys": {alice.user_id: {alice.device_id: ALG}}}
    claimed = []
    for _ in range(2):
        got = (await api.call("POST", f"{KEYS}/claim", bob, claim))["one_time_keys"]
        claimed += list(got[alice.user_id][alice.device_id].items())
    assert dict(claimed) == otks  # each one-time key handed out once
    got = (await api.call("POST", f"{KEYS}/claim", bob, claim))["one_time_keys"]
    assert got[alice.user_id][alice.device_id] == fallback
    # Spent, but still named with 0 (as Synapse does): matrix-rust-sdk reads a missing
    # count as "unknown" and would never upload more.
    sync = await api.sync(alice)
    assert sync["device_one_time_keys_count"] == {ALG: 0}
    assert (await upload(api, alice, {}))["one_time_key_counts"] == {ALG: 0}
    assert sync["device_unused_fallback_key_types"] == []
    # The fallback key keeps answering until a new one comes.
    again = (await api.call("POST", f"{KEYS}/claim", bob, claim))["one_time_keys"]
    assert again[alice.user_id][alice.device_id] == fallback
    nothing = await api.call("POST", f"{KEYS}/claim", bob,
                             {"one_time_keys": {bob.user_id: {bob.device_id: ALG}}})
    assert nothing["one_time_keys"] == {}


async def test_keys_must_be_the_requesters_own(api: Api) -> None:
    alice = await register(api.client, "alice")
    bob = await register(api.client, "bob")
    forged = device_keys(bob, Key())
    error = await upload(api, alice, {"device_keys": forged}, 400)
    assert error["errcode"] == "M_BAD_JSON"
    found = await api.call("POST", f"{KEYS}/query", alice, {"device_keys": {bob.user_id: []}})
    assert found["device_keys"][bob.user_id] == {}


async def test_bad_key_bodies_are_matrix_errors(api: Api) -> None:
    alice = await register(api.client, "alice")
    key = Key()
    bad_uploads: list[Any] = [
        {"device_keys": "x"}, {"device_keys": {**device_keys(alice, key), "keys": []}},
        {"one_time_keys": []}, {"one_time_keys": {"nocolon": {"key": "x"}}},
        {"one_time_keys": {f"{ALG}:x": 5}}, {"fallback_keys": {"a:b": {"key": "x" * 20_000}}},
        {"one_time_keys": {f"{ALG}:k{i}": {"key": "x"} for i in range(300)}},
    ]
    for body in bad_uploads:
        resp = await api.client.post(f"{KEYS}/upload", json=body, headers=alice.auth)
        assert resp.status in (400, 413), (body if len(str(body)) < 200 else "big", resp.status)
        assert (await resp.json())["errcode"] in ("M_BAD_JSON", "M_TOO_LARGE")
    for body in [{"device_keys": []}, {"device_keys": {"@a:b": "x"}},
                 {"device_keys": {"@a:b": [5]}}, {"device_keys": {}, "timeout": "x"}]:
        resp = await api.client.post(f"{KEYS}/query", json=body, headers=alice.auth)
        assert resp.status == 400 and (await resp.json())["errcode"] == "M_BAD_JSON", body
    for body in [{"one_time_keys": []}, {"one_time_keys": {"@a:b": []}},
                 {"one_time_keys": {"@a:b": {"D": 5}}}]:
        resp = await api.client.post(f"{KEYS}/claim", json=body, headers=alice.auth)
        assert resp.status == 400 and (await resp.json())["errcode"] == "M_BAD_JSON", body
    too_many = {"device_keys": {f"@u{i}:test.local": [] for i in range(1001)}}
    resp = await api.client.post(f"{KEYS}/query", json=too_many, headers=alice.auth)
    assert resp.status == 413
    for query in ["", "?from=s1", "?from=x&to=s2", "?from=s1&to=s99999999999999999"]:
        resp = await api.client.get(f"{KEYS}/changes{query}", headers=alice.auth)
        assert resp.status == 400, query
    resp = await api.client.post(f"{KEYS}/upload", json={})
    assert resp.status == 401


async def test_device_list_changes_reach_co_members_only(api: Api) -> None:
    alice = await register(api.client, "alice")
    bob = await register(api.client, "bob")
    carol = await register(api.client, "carol")  # shares no room with bob
    room = await api.create_room(alice)
    await api.invite(alice, room, bob.user_id)
    await api.join(bob, room)
    start = (await api.sync(bob))["next_batch"]

    await upload(api, alice, {"device_keys": device_keys(alice, Key())})
    await upload(api, carol, {"device_keys": device_keys(carol, Key())})  # the attack
    news = await api.sync(bob, start)
    assert news["device_lists"] == {"changed": [alice.user_id], "left": []}
    changes = await api.call("GET", f"{KEYS}/changes?from={start}&to={news['next_batch']}",
                             bob)
    assert changes == {"changed": [alice.user_id], "left": []}
    # However often a stranger changes keys, bob never hears of it.
    token = news["next_batch"]
    await upload(api, alice, {"device_keys": device_keys(alice, Key())})
    token = (await api.sync(bob, token))["next_batch"]
    await upload(api, carol, {"device_keys": device_keys(carol, Key())})
    assert (await api.sync(bob, token))["device_lists"]["changed"] == []

    # Carol joins: bob learns to fetch her keys. Then she leaves: she is in "left".
    await api.invite(alice, room, carol.user_id)
    await api.join(carol, room)
    joined = await api.sync(bob, token)
    assert carol.user_id in joined["device_lists"]["changed"]
    await api.call("POST", f"/_matrix/client/v3/rooms/{room}/leave", carol, {})
    left = await api.sync(bob, joined["next_batch"])
    assert left["device_lists"] == {"changed": [], "left": [carol.user_id]}
    # Bob leaves: alice is no longer shared with him.
    await api.call("POST", f"/_matrix/client/v3/rooms/{room}/leave", bob, {})
    gone = await api.sync(bob, left["next_batch"])
    assert gone["device_lists"]["left"] == [alice.user_id]


async def test_own_changes_reach_own_devices_without_a_room(api: Api) -> None:
    alice = await register(api.client, "alice")
    start = (await api.sync(alice))["next_batch"]
    await upload(api, alice, {"device_keys": device_keys(alice, Key())})
    assert (await api.sync(alice, start))["device_lists"]["changed"] == [alice.user_id]


async def test_fallback_algorithms_per_device_are_capped(api: Api) -> None:
    """The attack: each upload names 16 new fallback algorithms, for ever."""
    alice = await register(api.client, "alice")
    key = Key()

    def fallbacks(names: range) -> dict[str, Any]:
        return {f"alg{i}:F": one_time_key(alice, key, f"F{i}", fallback=True) for i in names}

    await upload(api, alice, {"fallback_keys": fallbacks(range(10))})
    refused = await upload(api, alice, {"fallback_keys": fallbacks(range(10, 17))}, 413)
    assert refused["errcode"] == "M_TOO_LARGE"
    sync = await api.sync(alice)
    assert len(sync["device_unused_fallback_key_types"]) == 10  # none of the refused kept
    await upload(api, alice, {"fallback_keys": fallbacks(range(10, 16))})  # 16 fit
    await upload(api, alice, {"fallback_keys": fallbacks(range(16))})  # replacing is fine
    await upload(api, alice, {"org.matrix.msc2732.fallback_keys": fallbacks(range(99, 100))},
                 413)
    assert len((await api.sync(alice))["device_unused_fallback_key_types"]) == 16
