"""Attacks by another server, with its real signing key: out-of-range JSON, forged
names, made-up users' ephemeral data and large unsigned bodies all stay harmless."""

from __future__ import annotations

import secrets
from typing import Any

from federation.request_auth import authorization_header
from homeserver.events.hashing import sign_event
from tests.test_federation import V3, Cluster, Node, dm_across, timeline
from tests.test_federation import cluster as cluster  # the fixture, re-exported


async def send_transaction(sender: Node, to: Node, pdus: list[Any],
                           edus: list[Any] | None = None) -> dict[str, Any]:
    """PUT /send from ``sender`` to ``to``, signed with ``sender``'s real key."""
    uri = f"/_matrix/federation/v1/send/{secrets.token_hex(6)}"
    body = {"origin": sender.name, "origin_server_ts": 1, "pdus": pdus, "edus": edus or []}
    headers = {"Authorization": authorization_header(
        sender.hs.signing_key, sender.name, to.name, "PUT", uri, body)}
    resp = await to.api.client.put(uri, json=body, headers=headers)
    assert resp.status == 200, await resp.text()
    return await resp.json()


def resigned(node: Node, pdu: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """``pdu`` with ``changes``, hashed and signed again by ``node``: valid but for them."""
    unsigned = {k: v for k, v in pdu.items() if k not in ("signatures", "hashes", "unsigned")}
    return sign_event({**unsigned, **changes}, node.name, node.hs.signing_key)


def nested(levels: int) -> Any:
    value: Any = "deep"
    for _ in range(levels):
        value = {"d": value}
    return value


async def test_pdus_outside_canonical_json_are_rejected_and_the_room_keeps_working(
    cluster: Cluster
) -> None:
    a, b, alice, bob, room = await dm_across(cluster)
    honest = await b.api.send(bob, room, "honest")
    _, token = await timeline(a.api, alice, room)
    pdu = (await b.hs.reader.events.event(honest)).pdu
    body = {"msgtype": "m.text", "body": "evil"}
    attacks = {
        "depth 2^63-1": resigned(b, pdu, depth=2**63 - 1),
        "negative depth": resigned(b, pdu, depth=-1),
        "timestamp 2^63-1": resigned(b, pdu, origin_server_ts=2**63 - 1),
        "integer 2^53": resigned(b, pdu, content={**body, "n": 2**53}),
        "float": resigned(b, pdu, content={**body, "n": 0.5}),
        "deep nesting": resigned(b, pdu, content={**body, "n": nested(200)}),
    }
    results = (await send_transaction(b, a, list(attacks.values())))["pdus"]
    assert len(results) == len(attacks)
    for case, error in zip(attacks, results.values(), strict=True):
        assert "canonical JSON" in error.get("error", "") or "negative" in \
            error.get("error", ""), (case, error)
    for event_id in results:
        assert await a.hs.reader.events.event(event_id) is None
    # The room still takes writes from both sides, and nothing evil reached alice.
    await a.api.send(alice, room, "still works")
    await b.api.send(bob, room, "from b")
    bodies, _ = await timeline(a.api, alice, room, token, want=2)
    assert bodies == ["still works", "from b"]


async def test_edus_outside_canonical_json_are_dropped(cluster: Cluster) -> None:
    a, b, alice, bob, room = await dm_across(cluster)
    evil = {"edu_type": "m.presence", "content": {"push": [
        {"user_id": bob.user_id, "presence": "unavailable", "status_msg": "evil",
         "last_active_ago": 2**70}]}}
    floaty = {"edu_type": "m.typing", "content": {"room_id": room, "user_id": bob.user_id,
                                                   "typing": True, "timeout": 1e300}}
    assert await send_transaction(b, a, [], [evil, floaty]) == {"pdus": {}}
    view = await a.api.call("GET", f"{V3}/presence/{bob.user_id}/status", alice)
    assert view.get("status_msg") != "evil"
    sync = await a.api.sync(alice, set_presence="offline")
    typing = sync["rooms"]["join"][room]["ephemeral"]["events"]
    assert not any(bob.user_id in e["content"].get("user_ids", []) for e in typing)
    fine = {"edu_type": "m.presence", "content": {"push": [
        {"user_id": bob.user_id, "presence": "unavailable", "status_msg": "fine",
         "last_active_ago": 10}]}}
    await send_transaction(b, a, [], [fine])
    view = await a.api.call("GET", f"{V3}/presence/{bob.user_id}/status", alice)
    assert view["status_msg"] == "fine"
