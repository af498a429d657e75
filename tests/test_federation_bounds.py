"""Attacks by another server, with its real signing key: out-of-range JSON, forged
names, made-up users' ephemeral data and large unsigned bodies all stay harmless."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import pytest
from multidict import CIMultiDict

import federation.http
from federation.addresses import is_public
from federation.client import FederationError, path
from federation.request_auth import authorization_header
from federation.services import FEDERATION
from homeserver.app import create_app
from homeserver.events.canonical import canonical_json
from homeserver.events.hashing import compute_event_id, sign_event
from homeserver.events.keys import generate_signing_key
from homeserver.events.signing import sign_json
from homeserver.models import VerifyKey
from homeserver.services import Homeserver, build_homeserver
from homeserver.storage.federation import FederationStore
from tests.conftest import Api, make_config, register
from tests.test_federation import V3, A, B, Cluster, Node, dm_across, timeline
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
    pdu = (await b.hs.history.event(honest)).pdu
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
        assert await a.hs.history.event(event_id) is None
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


async def test_joins_outside_canonical_json_are_refused_both_ways(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = cluster.nodes[A], cluster.nodes[B]
    alice = await register(a.api.client, "alice")
    public = await a.api.create_room(alice, preset="public_chat")
    # b joins a room on a with a join whose depth is out of range: send_join refuses it.
    client = b.api.client.app[FEDERATION].client
    carol = f"@carol:{B}"
    made = await client.request("GET", A, path("/_matrix/federation/v1/make_join/{}/{}",
                                               public, carol), query={"ver": ["10"]})
    join = sign_event({**made["event"], "origin": B, "origin_server_ts": 1,
                       "depth": 2**63 - 1}, B, b.hs.signing_key)
    with pytest.raises(FederationError) as refused:
        await client.request("PUT", A, path("/_matrix/federation/v2/send_join/{}/{}", public,
                                            compute_event_id(join)), join)
    assert refused.value.status == 403 and "canonical JSON" in refused.value.body["error"]
    await a.api.send(alice, public, "still works")
    # a joins a room on b whose make_join template is out of range: a refuses to sign it.
    aaron = await register(b.api.client, "aaron")  # "@aaron:b.test" sorts first: b hosts
    dm = (await b.api.call("POST", f"/_matrix/client/unstable/dm/{alice.user_id}", aaron))[
        "room_id"]
    template = b.hs.received.template

    async def out_of_range(*args: Any, **kwargs: Any) -> dict[str, Any]:
        return {**await template(*args, **kwargs), "depth": 2**63 - 1}

    monkeypatch.setattr(b.hs.received, "template", out_of_range)
    await a.api.call("POST", f"/_matrix/client/v3/join/{dm}", alice, {}, status=403)
    assert await a.hs.db.fetchval("SELECT max(depth) FROM events") < 2**53


# --- item 6: unsigned bodies are cheap --------------------------------------------------

async def raw_request(port: int, head: str, body: bytes = b"") -> tuple[int, bytes]:
    """Send ``head`` (and ``body``) on a fresh socket; the status and the rest of the
    answer, which must come within 5 s even though the declared body was never sent."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head.encode() + body)
        await writer.drain()
        async with asyncio.timeout(5):
            status_line = await reader.readline()
            rest = await reader.read(65536)
    finally:
        writer.close()
    return int(status_line.split()[1]), rest


async def test_a_body_without_a_valid_header_is_refused_before_it_is_read(
    cluster: Cluster
) -> None:
    a = cluster.nodes[A]
    size = 8 * 1024 * 1024 - 1
    for header in ("", "Authorization: X-Matrix nonsense\r\n",
                   'Authorization: X-Matrix origin="a b",key="ed25519:x",sig="x"\r\n',
                   'Authorization: X-Matrix origin="b.test",destination="c.test",'
                   'key="ed25519:x",sig="x"\r\n'):
        head = (f"PUT /_matrix/federation/v1/send/t1 HTTP/1.1\r\nHost: {A}\r\n{header}"
                f"Content-Type: application/json\r\nContent-Length: {size}\r\n\r\n")
        status, rest = await raw_request(a.port, head)  # not one byte of the 8 MB sent
        assert status == 401, (header, rest)
        assert b"M_UNAUTHORIZED" in rest


def pathological(size: int, separator: bytes = b",") -> bytes:
    """A body of about ``size`` bytes that is costly to parse: millions of empty lists."""
    count = (size - 30) // (2 + len(separator))
    return b'{"edus":[],"pdus":[' + separator.join([b"[]"] * count) + b"]}"


async def test_a_large_body_under_a_forged_signature_is_never_parsed(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = cluster.nodes[A], cluster.nodes[B]
    parsed: list[int] = []
    real_decode = federation.http.decode_json_object
    monkeypatch.setattr(federation.http, "decode_json_object",
                        lambda raw, **kw: parsed.append(len(raw)) or real_decode(raw, **kw))
    uri = "/_matrix/federation/v1/send/forged-big"
    # b's real key ID, a signature over something else: only the signature check can tell.
    forged = authorization_header(b.hs.signing_key, B, A, "PUT", uri, {"other": 1})
    headers = {"Authorization": forged, "Content-Type": "application/json"}
    canonical = pathological(8_000_000)
    resp = await a.api.client.put(uri, data=canonical, headers=headers)
    assert (resp.status, (await resp.json())["errcode"]) == (401, "M_UNAUTHORIZED")
    assert parsed == []
    spaced = pathological(8_000_000, b", ")  # not canonical: would have to be parsed
    resp = await a.api.client.put(uri, data=spaced, headers=headers)
    refused = await resp.json()
    assert (resp.status, refused["errcode"]) == (401, "M_UNAUTHORIZED")
    assert "only verified in canonical JSON" in refused["error"]
    assert parsed == []
    # b itself, signing properly, still gets a canonical body of any size through.
    body = {"origin": B, "origin_server_ts": 1, "pdus": [], "edus": [{"x": "y" * 7_000_000}]}
    headers = {"Authorization": authorization_header(b.hs.signing_key, B, A, "PUT", uri, body),
               "Content-Type": "application/json"}
    resp = await a.api.client.put(uri, data=canonical_json(body), headers=headers)
    assert resp.status == 200, await resp.text()
    assert len(parsed) == 1


# --- item 4: the origin is a server name, and we reach only public addresses ------------

class Listener:
    """A TCP port on loopback that counts the connections made to it."""

    def __init__(self) -> None:
        self.connections = 0
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> int:
        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            writer.close()

        self.server = await asyncio.start_server(accept, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


async def claim_origin(node: Node, origin: str) -> int:
    """A request claiming to come from ``origin`` (signed by a key it cannot have)."""
    uri = "/_matrix/federation/v1/query/profile?user_id=%40x%3Aa.test"
    header = authorization_header(generate_signing_key("k1"), origin, node.name, "GET", uri,
                                  None)
    resp = await node.api.client.get(uri, headers={"Authorization": header})
    assert (await resp.json())["errcode"] == "M_UNAUTHORIZED"
    return resp.status


async def test_names_of_private_addresses_make_no_connection(cluster: Cluster) -> None:
    a = cluster.nodes[A]
    listener = Listener()
    async with listener as port:
        for origin in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::ffff:127.0.0.1]:{port}",
                       f"x@127.0.0.1:{port}", f"127.0.0.1:{port}/x", f"127.0.0.1:{port}#"):
            assert await claim_origin(a, origin) == 401
        assert listener.connections == 0


async def test_allowing_private_addresses_lets_them_be_reached(
    tmp_path: Any, aiohttp_client: Any
) -> None:
    config = make_config(tmp_path, None, server_name=A, **{
        "federation.enabled": True, "federation.allow_private_addresses": True})
    client = await aiohttp_client(create_app(await build_homeserver(config)))
    node = Node(A, 0, Api(client))
    listener = Listener()
    async with listener as port:
        assert await claim_origin(node, f"x@127.0.0.1:{port}") == 401  # not a server name
        assert listener.connections == 0
        assert await claim_origin(node, f"127.0.0.1:{port}") == 401
        assert listener.connections >= 1  # the control: the listener does see connections


async def test_one_request_costs_at_most_three_key_fetches(cluster: Cluster) -> None:
    a = cluster.nodes[A]
    keyring = a.api.client.app[FEDERATION].keyring
    uri = "/_matrix/federation/v1/query/profile?user_id=%40x%3Aa.test"
    headers = CIMultiDict(("Authorization", authorization_header(
        generate_signing_key("k1"), f"127.0.0.{n + 2}:1", A, "GET", uri, None))
        for n in range(10))
    before = len(keyring._asked_at)
    resp = await a.api.client.get(uri, headers=headers)
    assert resp.status == 401
    assert len(keyring._asked_at) - before == 3


async def test_made_up_names_are_remembered_within_a_bound(cluster: Cluster) -> None:
    a = cluster.nodes[A]
    federation_app = a.api.client.app[FEDERATION]
    keyring, client = federation_app.keyring, federation_app.client
    keyring._asked_at.max_size = client._well_known.max_size = 5
    for n in range(20):
        assert await claim_origin(a, f"127.0.0.{n + 2}:1") == 401
    assert len(keyring._asked_at) == 5 and len(client._well_known) == 5


@pytest.mark.parametrize(("address", "public"), [
    ("8.8.8.8", True), ("2001:4860:4860::8888", True), ("127.0.0.1", False),
    ("10.0.0.1", False), ("192.168.1.1", False), ("169.254.169.254", False),
    ("224.0.0.1", False), ("0.0.0.0", False), ("::1", False), ("::", False),
    ("::ffff:127.0.0.1", False), ("fe80::1%eth0", False), ("ff02::1", False),
    ("fc00::1", False), ("100.64.0.1", False), ("64:ff9b::7f00:1", False),
    ("64:ff9b::808:808", True), ("2002:7f00:1::", False), ("2002:808:808::", True),
    ("::7f00:1", False), ("192.0.0.8", False),
])
def test_only_public_unicast_addresses_are_reachable(address: str, public: bool) -> None:
    assert is_public(address) is public


# --- item 5: other servers' ephemeral data is bounded -----------------------------------

def presence_edu(users: list[str], status: str = "made up") -> dict[str, Any]:
    return {"edu_type": "m.presence", "content": {"push": [
        {"user_id": u, "presence": "online", "status_msg": status, "last_active_ago": 1}
        for u in users]}}


async def test_made_up_remote_users_leave_no_ephemeral_data(cluster: Cluster) -> None:
    a, b, alice, bob, room = await dm_across(cluster)
    made_up = [f"@ghost{n}:{B}" for n in range(1000)]
    edus = [presence_edu(made_up[n:n + 100]) for n in range(0, 1000, 100)]
    ghost = made_up[0]
    event_id = await a.api.send(alice, room, "read me")
    edus += [
        {"edu_type": "m.typing", "content": {"room_id": room, "user_id": ghost,
                                             "typing": True, "timeout": 20_000}},
        {"edu_type": "m.receipt", "content": {room: {"m.read": {
            ghost: {"event_ids": [event_id], "data": {"ts": 1}}}}}},
    ]
    await send_transaction(b, a, [], edus)
    assert await a.hs.presence.store.presence_of(made_up) == {}
    assert ghost not in await a.hs.typing.typing_in(room)
    sync = await a.api.sync(alice, set_presence="offline")
    receipts = [e for e in sync["rooms"]["join"][room]["ephemeral"]["events"]
                if e["type"] == "m.receipt"]
    assert not any(ghost in str(e["content"]) for e in receipts)
    # bob, who shares the room with alice, is still heard.
    await send_transaction(b, a, [], [presence_edu([bob.user_id], "real")])
    assert (await a.hs.presence.store.presence_of([bob.user_id]))[bob.user_id].status_msg \
        == "real"


async def test_presence_is_kept_for_a_bounded_number_of_each_servers_users(
    cluster: Cluster
) -> None:
    a, b, alice, bob, _room = await dm_across(cluster)
    carol = await register(b.api.client, "carol")
    await b.api.call("POST", f"/_matrix/client/unstable/dm/{alice.user_id}", carol)
    await a.api.call("POST", f"/_matrix/client/unstable/dm/{carol.user_id}", alice)
    a.hs.presence.max_remote_per_server = 1
    await send_transaction(b, a, [], [presence_edu([bob.user_id, carol.user_id], "both")])
    kept = await a.hs.presence.store.presence_of([bob.user_id, carol.user_id])
    assert list(kept) == [carol.user_id]  # bob, the least recently updated, was forgotten


async def test_the_key_cache_holds_a_bounded_number_of_servers(homeserver: Homeserver) -> None:
    store = FederationStore(homeserver.db)
    for n in range(6):
        await store.store_server_keys(f"s{n}.test", [VerifyKey("ed25519:k", "key", 1000 + n)])
    await store.prune_server_keys(3)
    kept = [await store.server_key(f"s{n}.test", "ed25519:k") is not None for n in range(6)]
    assert kept == [False, False, False, True, True, True]  # those valid longest stay


async def test_a_key_claimed_valid_for_ever_counts_for_a_week(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = cluster.nodes[A], cluster.nodes[B]
    keyring = b.api.client.app[FEDERATION].keyring
    published = keyring.published

    async def for_ever() -> dict[str, Any]:
        doc = {k: v for k, v in (await published()).items() if k != "signatures"}
        return sign_json({**doc, "valid_until_ts": 2**53 - 1}, B, b.hs.signing_key)

    monkeypatch.setattr(keyring, "published", for_ever)
    await send_transaction(b, a, [])  # a fetches b's key document now
    cached = await FederationStore(a.hs.db).server_key(B, b.hs.signing_key.key_id)
    assert cached is not None
    assert cached.valid_until_ts <= a.hs.clock.time_ms() + 7 * 24 * 3600 * 1000


async def test_history_requests_with_odd_bounds_get_answers_not_500s(cluster: Cluster) -> None:
    a, b, alice, _, room = await dm_across(cluster)
    await a.api.send(alice, room, "one")
    other = await a.api.create_room(alice)
    elsewhere = (await a.api.call("GET", f"{V3}/rooms/{other}/messages?dir=b", alice))[
        "chunk"][0]["event_id"]
    client = b.api.client.app[FEDERATION].client
    with pytest.raises(FederationError) as refused:  # only another room's event named
        await client.request("GET", A, path("/_matrix/federation/v1/backfill/{}", room),
                             query={"v": [elsewhere], "limit": ["5"]})
    assert refused.value.status == 400
    latest = (await a.api.call("GET", f"{V3}/rooms/{room}/messages?dir=b", alice))["chunk"]
    answer = await client.request(
        "POST", A, path("/_matrix/federation/v1/get_missing_events/{}", room),
        {"earliest_events": [], "latest_events": [latest[0]["event_id"]], "limit": -1})
    assert len(answer["events"]) == 1  # at least one, never the whole history
