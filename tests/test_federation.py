"""Two servers federating over real HTTP on loopback: keys, request auth, DMs, delivery."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from signedjson.key import decode_verify_key_bytes
from signedjson.sign import verify_signed_json

from federation.client import path
from federation.request_auth import authorization_header
from federation.sender import ELECTION_RETRY_SECONDS
from federation.services import FEDERATION
from homeserver.app import create_app
from homeserver.clock import FakeClock
from homeserver.events.canonical import decode_base64
from homeserver.events.hashing import sign_event
from homeserver.events.keys import generate_signing_key
from homeserver.services import HOMESERVER, Homeserver, build_homeserver
from homeserver.storage.federation import FederationStore
from tests.conftest import Account, Api, fresh_postgres_database, make_config, register
from tests.test_workers import free_port
from tests.waiting import eventually, timer_set

A, B = "a.test", "b.test"
V3 = "/_matrix/client/v3"


@dataclass
class Node:
    name: str
    port: int
    api: Api

    @property
    def hs(self) -> Homeserver:
        return self.api.client.app[HOMESERVER]


class Cluster:
    """Servers a.test and b.test on fixed loopback ports, each knowing the other's."""

    def __init__(self, tmp_path: Any, database: dict[str, str | None],
                 overrides: dict[str, dict[str, Any]] | None = None) -> None:
        self.tmp_path = tmp_path
        self.database = database
        self.overrides = overrides or {}
        self.ports = {A: free_port(), B: free_port()}
        self.nodes: dict[str, Node] = {}

    async def start(self, name: str) -> Node:
        endpoints = {n: f"http://127.0.0.1:{p}" for n, p in self.ports.items()}
        config = make_config(self.tmp_path / name, self.database[name], **{
            "server_name": name, "federation.enabled": True,
            "federation.endpoints": endpoints, "federation.max_backoff_ms": 200,
            **self.overrides.get(name, {})})
        server = TestServer(create_app(await build_homeserver(config)), host="127.0.0.1",
                            port=self.ports[name])
        client = TestClient(server)
        await client.start_server()
        self.nodes[name] = Node(name, self.ports[name], Api(client))
        return self.nodes[name]

    async def stop(self, name: str) -> None:
        await self.nodes.pop(name).api.client.close()

    async def close(self) -> None:
        for name in list(self.nodes):
            await self.stop(name)


@contextlib.asynccontextmanager
async def two_servers(tmp_path: Any, backend: str,
                      overrides: dict[str, dict[str, Any]] | None = None
                      ) -> AsyncIterator[Cluster]:
    """Both servers on the embedded default, or each on its own PostgreSQL database."""
    async with contextlib.AsyncExitStack() as stack:
        databases: dict[str, str | None] = {A: None, B: None}
        if backend == "postgres":
            for name in databases:
                databases[name] = await stack.enter_async_context(fresh_postgres_database())
        cluster = Cluster(tmp_path, databases, overrides)
        await cluster.start(A)
        await cluster.start(B)
        yield cluster
        await cluster.close()


@pytest.fixture(params=["sqlite", "postgres"])
async def cluster(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[Cluster]:
    async with two_servers(tmp_path, request.param) as cluster:
        yield cluster


async def timeline(api: Api, who: Account, room: str, since: str | None = None,
                   want: int = 1) -> tuple[list[str], str]:
    """Message bodies ``who`` sees in ``room`` after ``since``, waiting for ``want`` of them."""
    bodies: list[str] = []
    token = since
    for _ in range(50):
        sync = await api.sync(who, token, timeout="2000") if token else await api.sync(who)
        joined = sync["rooms"]["join"].get(room, {})
        bodies += [e["content"]["body"] for e in joined.get("timeline", {}).get("events", [])
                   if e["type"] == "m.room.message"]
        token = sync["next_batch"]
        if len(bodies) >= want:
            break
    return bodies, token


async def failed(outbox: FederationStore, times: int) -> bool:
    return await outbox.failures(B) >= times


async def dm(node: Node, who: Account, peer: str) -> str:
    data = await node.api.call("POST", f"/_matrix/client/unstable/dm/{peer}", who)
    return data["room_id"]


async def test_key_document_is_self_signed_and_checks_with_signedjson(cluster: Cluster) -> None:
    doc = await cluster.nodes[A].api.call("GET", "/_matrix/key/v2/server")
    assert doc["server_name"] == A and doc["valid_until_ts"] > 0
    ((key_id, entry),) = doc["verify_keys"].items()
    verify_key = decode_verify_key_bytes(key_id, decode_base64(entry["key"]))
    verify_signed_json(doc, A, verify_key)  # raises if the signature is wrong


async def test_forged_requests_are_refused(cluster: Cluster) -> None:
    a, b = cluster.nodes[A], cluster.nodes[B]
    uri = "/_matrix/federation/v1/send/forged1"
    body = {"origin": B, "origin_server_ts": 1, "pdus": [], "edus": []}
    real = b.hs.signing_key
    impostor = generate_signing_key(real.version)  # same key ID, other key
    cases = {
        "unsigned": {},
        "wrong key": {"Authorization": authorization_header(impostor, B, A, "PUT", uri, body)},
        "unknown key": {"Authorization": authorization_header(
            generate_signing_key("zz_9"), B, A, "PUT", uri, body)},
        "other destination": {"Authorization": authorization_header(
            real, B, "c.test", "PUT", uri, body)},
        "tampered body": {"Authorization": authorization_header(
            real, B, A, "PUT", uri, {**body, "origin_server_ts": 2})},
        "garbage": {"Authorization": "X-Matrix nonsense"},
    }
    for case, headers in cases.items():
        resp = await a.api.client.put(uri, json=body, headers=headers)
        assert resp.status == 401, case
        assert (await resp.json())["errcode"] == "M_UNAUTHORIZED", case
    good = {"Authorization": authorization_header(real, B, A, "PUT", uri, body)}
    resp = await a.api.client.put(uri, json=body, headers=good)
    assert resp.status == 200 and await resp.json() == {"pdus": {}}


async def test_a_dm_started_from_both_sides_at_once_is_one_room(cluster: Cluster) -> None:
    a, b = cluster.nodes[A], cluster.nodes[B]
    alice = await register(a.api.client, "alice")
    bob = await register(b.api.client, "bob")
    rooms = await asyncio.gather(dm(a, alice, bob.user_id), dm(b, bob, alice.user_id))
    assert rooms[0] == rooms[1]
    room = rooms[0]
    again = await asyncio.gather(dm(a, alice, bob.user_id), dm(b, bob, alice.user_id))
    assert list(again) == [room, room]

    _, bob_token = await timeline(b.api, bob, room, want=0)
    _, alice_token = await timeline(a.api, alice, room, want=0)
    await a.api.send(alice, room, "hello from a")
    assert (await timeline(b.api, bob, room, bob_token))[0] == ["hello from a"]
    await b.api.send(bob, room, "hello from b")
    assert (await timeline(a.api, alice, room, alice_token, want=2))[0][-1] == "hello from b"


async def dm_across(cluster: Cluster) -> tuple[Node, Node, Account, Account, str]:
    """@alice:a.test and @bob:b.test in their DM, started from b's side first."""
    a, b = cluster.nodes[A], cluster.nodes[B]
    alice = await register(a.api.client, "alice")
    bob = await register(b.api.client, "bob")
    room = await dm(b, bob, alice.user_id)
    assert await dm(a, alice, bob.user_id) == room
    return a, b, alice, bob, room


async def test_messages_queue_while_the_other_server_is_down(cluster: Cluster) -> None:
    a, b, alice, bob, room = await dm_across(cluster)
    _, token = await timeline(b.api, bob, room, want=0)
    await cluster.stop(B)
    for n in range(5):
        await a.api.send(alice, room, f"while b was down {n}")
    outbox = FederationStore(a.hs.db)
    await eventually(lambda: failed(outbox, 2), "a's sender to try b twice over loopback")
    b = await cluster.start(B)
    bodies, _ = await timeline(b.api, bob, room, token, want=5)
    assert bodies == [f"while b was down {n}" for n in range(5)]


async def test_forged_pdus_never_reach_a_client(cluster: Cluster) -> None:
    a, b, alice, bob, room = await dm_across(cluster)
    honest = await b.api.send(bob, room, "honest")
    bodies, token = await timeline(a.api, alice, room)
    assert "honest" in bodies
    pdu = (await b.hs.history.event(honest)).pdu

    def forge(content: dict[str, Any], sender: str = bob.user_id,
              key: Any = None, server: str = B) -> dict[str, Any]:
        unsigned = {k: v for k, v in pdu.items() if k not in ("signatures", "hashes")}
        event = {**unsigned, "content": content, "sender": sender,
                 "origin_server_ts": pdu["origin_server_ts"] + 1}
        return sign_event(event, server, key or b.hs.signing_key)

    tampered = forge({"msgtype": "m.text", "body": "signed"})
    tampered["content"] = {"msgtype": "m.text", "body": "tampered"}
    wrong_server = forge({"msgtype": "m.text", "body": "wrong server"},
                         key=a.hs.signing_key, server=A)
    outsider = forge({"msgtype": "m.text", "body": "outsider"}, sender="@eve:b.test")
    uri = f"/_matrix/federation/v1/send/forged-{secrets.token_hex(4)}"
    body = {"origin": B, "origin_server_ts": 1,
            "pdus": [tampered, wrong_server, outsider], "edus": []}
    headers = {"Authorization": authorization_header(b.hs.signing_key, B, A, "PUT", uri, body)}
    resp = await a.api.client.put(uri, json=body, headers=headers)
    results = (await resp.json())["pdus"]
    errors = [r.get("error", "") for r in results.values()]
    assert len(errors) == 3, results
    assert "content hash" in errors[0]
    assert "not signed by the sender's server" in errors[1]
    assert "not in the room" in errors[2] or "not joined" in errors[2], errors[2]
    replay = await a.api.client.put(uri, json=body, headers=headers)
    assert (await replay.json())["pdus"] == results
    await b.api.send(bob, room, "after")
    later, _ = await timeline(a.api, alice, room, token)
    assert later == ["after"]


def ephemeral(sync: dict, room: str, kind: str) -> list[dict]:
    joined = sync["rooms"]["join"].get(room, {})
    return [e for e in joined.get("ephemeral", {}).get("events", []) if e["type"] == kind]


async def wait_for_ephemeral(api: Api, who: Account, token: str, room: str, kind: str,
                             wanted: Callable[[dict], bool]) -> None:
    """Long-poll until ``room`` has an ephemeral event of ``kind`` that is ``wanted``."""
    for _ in range(50):
        sync = await api.sync(who, token, timeout="2000", set_presence="offline")
        if any(wanted(e) for e in ephemeral(sync, room, kind)):
            return
        token = sync["next_batch"]
    raise AssertionError(f"no such {kind} arrived")


async def test_messages_typing_and_receipts_cross_both_ways(cluster: Cluster) -> None:
    a, b, alice, bob, room = await dm_across(cluster)
    alice_socket = await a.api.client.ws_connect(f"/ws/dm/{bob.user_id}", headers=alice.auth)
    assert (await alice_socket.receive_json())["type"] == "ready"
    _, bob_token = await timeline(b.api, bob, room, want=0)

    await b.api.call("PUT", f"{V3}/rooms/{room}/typing/{bob.user_id}", bob,
                     {"typing": True, "timeout": 20_000})
    frame = await alice_socket.receive_json()
    while frame["type"] != "typing":
        frame = await alice_socket.receive_json()
    assert frame == {"type": "typing", "user_id": bob.user_id, "typing": True}

    await a.api.call("PUT", f"{V3}/rooms/{room}/typing/{alice.user_id}", alice,
                     {"typing": True, "timeout": 20_000})
    await wait_for_ephemeral(b.api, bob, bob_token, room, "m.typing",
                             lambda e: alice.user_id in e["content"]["user_ids"])

    sent = await b.api.send(bob, room, "read me")
    frame = await alice_socket.receive_json()
    while frame["type"] != "message":
        frame = await alice_socket.receive_json()
    assert (frame["event"]["event_id"], frame["event"]["content"]["body"]) == (sent, "read me")
    bodies, _ = await timeline(a.api, alice, room)
    assert "read me" in bodies
    await a.api.call("POST", f"{V3}/rooms/{room}/receipt/m.read/{sent}", alice, {})
    await wait_for_ephemeral(b.api, bob, bob_token, room, "m.receipt",
                             lambda e: alice.user_id in e["content"].get(sent, {}).get(
                                 "m.read", {}))
    await alice_socket.close()


async def test_a_server_that_missed_events_heals_the_gap(cluster: Cluster) -> None:
    a, b, alice, bob, room = await dm_across(cluster)
    _, token = await timeline(a.api, alice, room, want=0)
    sender = b.api.client.app[FEDERATION].sender
    await sender.close()  # b's sender pauses; what it queued meanwhile is then lost
    await b.api.send(bob, room, "lost on the way")
    await b.hs.db.execute("DELETE FROM federation_outbox")
    sender.start()
    await b.api.send(bob, room, "arrives")
    bodies, _ = await timeline(a.api, alice, room, token, want=2)
    assert bodies == ["lost on the way", "arrives"]


async def test_profiles_and_events_are_served_to_servers_in_the_room(cluster: Cluster) -> None:
    a, b, alice, _bob, room = await dm_across(cluster)
    await a.api.call("PUT", f"{V3}/profile/{alice.user_id}/displayname", alice,
                     {"displayname": "Alice A."})
    client = b.api.client.app[FEDERATION].client
    profile = await client.request("GET", A, "/_matrix/federation/v1/query/profile",
                                   query={"user_id": alice.user_id})
    assert profile["displayname"] == "Alice A."
    sent = await a.api.send(alice, room, "fetch me")
    got = await client.request("GET", A, path("/_matrix/federation/v1/event/{}", sent))
    assert got["pdus"][0]["content"]["body"] == "fetch me"


async def test_presence_reaches_the_other_server(cluster: Cluster) -> None:
    a, b, alice, bob, _room = await dm_across(cluster)
    token = (await b.api.sync(bob, set_presence="offline"))["next_batch"]
    await a.api.call("PUT", f"{V3}/presence/{alice.user_id}/status", alice,
                     {"presence": "unavailable", "status_msg": "in a meeting"})
    for _ in range(50):
        sync = await b.api.sync(bob, token, timeout="2000", set_presence="offline")
        seen = [e["content"] for e in sync["presence"]["events"]
                if e["sender"] == alice.user_id]
        if seen and seen[-1]["presence"] == "unavailable":
            break
        token = sync["next_batch"]
    assert seen[-1]["status_msg"] == "in a meeting"
    view = await b.api.call("GET", f"{V3}/presence/{alice.user_id}/status", bob)
    assert view["presence"] == "unavailable"


async def test_a_rotated_key_is_listed_as_old(tmp_path: Any, aiohttp_client: Any) -> None:
    config = make_config(tmp_path, None, server_name=A)
    first = await aiohttp_client(create_app(await build_homeserver(config)))
    old = (await (await first.get("/_matrix/key/v2/server")).json())["verify_keys"]
    await first.close()
    (tmp_path / "signing.key").unlink()  # the operator rotates the key
    second = await aiohttp_client(create_app(await build_homeserver(config)))
    doc = await (await second.get("/_matrix/key/v2/server")).json()
    ((old_id, old_entry),) = old.items()
    assert old_id not in doc["verify_keys"]
    assert doc["old_verify_keys"][old_id]["key"] == old_entry["key"]
    assert doc["old_verify_keys"][old_id]["expired_ts"] > 0


async def test_with_a_plain_matrix_server_the_invite_flow_makes_the_room(
    tmp_path: Any
) -> None:
    # a.test acts as a plain Matrix server: it neither answers nor asks the DM query.
    cluster = Cluster(tmp_path, {A: None, B: None}, {A: {"federation.dm_query": False}})
    a, b = await cluster.start(A), await cluster.start(B)
    try:
        alice = await register(a.api.client, "alice")
        bob = await register(b.api.client, "bob")
        room = await dm(b, bob, alice.user_id)  # b asks, a does not know: b invites
        assert room.endswith(":" + B)
        assert await dm(a, alice, bob.user_id) == room  # a joins the room it was invited to
        assert await dm(b, bob, alice.user_id) == room
        _, token = await timeline(b.api, bob, room, want=0)
        await a.api.send(alice, room, "through the invite flow")
        assert (await timeline(b.api, bob, room, token))[0] == ["through the invite flow"]
    finally:
        await cluster.close()


async def test_one_sender_per_deployment(tmp_path: Any, postgres_url: str,
                                         aiohttp_client: Any, clock: FakeClock) -> None:
    workers = []
    for name in ("one", "two"):
        config = make_config(tmp_path / name, postgres_url, server_name=A,
                             **{"federation.enabled": True})
        workers.append(await aiohttp_client(create_app(await build_homeserver(config, clock))))
    senders = [w.app[FEDERATION].sender for w in workers]

    async def someone_leads() -> bool:
        return any(s.leading for s in senders)

    await eventually(someone_leads, "PostgreSQL to grant the leader's lock")
    for _ in range(2):
        await timer_set(clock, ELECTION_RETRY_SECONDS)  # the other lost and waits to retry
        assert [s.leading for s in senders].count(True) == 1
        clock.advance(ELECTION_RETRY_SECONDS)


async def test_a_request_signed_with_an_expired_key_is_refused(cluster: Cluster) -> None:
    a, b = cluster.nodes[A], cluster.nodes[B]
    old_key = b.hs.signing_key
    await cluster.stop(B)
    (cluster.tmp_path / B / "signing.key").unlink()  # b rotates its key
    await cluster.start(B)
    uri = "/_matrix/federation/v1/send/after-rotation"
    body = {"origin": B, "origin_server_ts": 1, "pdus": [], "edus": []}
    headers = {"Authorization": authorization_header(old_key, B, A, "PUT", uri, body)}
    resp = await a.api.client.put(uri, json=body, headers=headers)
    assert (resp.status, (await resp.json())["errcode"]) == (401, "M_UNAUTHORIZED")


async def test_a_full_transaction_is_not_too_large(cluster: Cluster) -> None:
    a, b, _alice, bob, room = await dm_across(cluster)
    big = await b.api.send(bob, room, "x" * 60_000)
    pdu = (await b.hs.history.event(big)).pdu
    uri = "/_matrix/federation/v1/send/big-one"
    body = {"origin": B, "origin_server_ts": 1, "pdus": [pdu] * 50, "edus": []}
    headers = {"Authorization": authorization_header(b.hs.signing_key, B, A, "PUT", uri, body)}
    resp = await a.api.client.put(uri, json=body, headers=headers)
    assert resp.status == 200, await resp.text()


async def test_a_server_that_calls_again_is_retried_at_once(cluster: Cluster) -> None:
    a, b, alice, bob, room = await dm_across(cluster)
    _, token = await timeline(b.api, bob, room, want=0)
    await cluster.stop(B)
    await a.api.send(alice, room, "queued")
    outbox = FederationStore(a.hs.db)
    await eventually(lambda: failed(outbox, 1), "a's sender to try b over loopback")
    await outbox.delivery_failed(B, a.hs.clock.time_ms() + 3_600_000)  # an hour's back-off
    b = await cluster.start(B)
    await b.api.send(bob, room, "i am back")  # b calls a, so a retries b now
    bodies, _ = await timeline(b.api, bob, room, token, want=2)
    assert "queued" in bodies


async def test_forged_key_ids_do_not_make_us_ask_again_and_again(
    cluster: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    a = cluster.nodes[A]
    uri = "/_matrix/federation/v1/send/key-flood"
    body = {"origin": B, "origin_server_ts": 1, "pdus": [], "edus": []}
    caplog.set_level(logging.INFO, logger="homeserver.access")
    for n in range(5):
        forged = generate_signing_key(f"forged{n}")
        headers = {"Authorization": authorization_header(forged, B, A, "PUT", uri, body)}
        resp = await a.api.client.put(uri, json=body, headers=headers)
        assert resp.status == 401
    asked = [r for r in caplog.records if "/_matrix/key/v2/server" in r.getMessage()]
    assert len(asked) == 1  # b's key document was fetched once, not five times
