"""Another server may invite our users only as the room's rules allow, and never joins them.

Each test is an attack from b.test, made with its real signing key and real
X-Matrix signed requests against a.test, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import ClientResponse

from federation.request_auth import authorization_header
from federation.services import FEDERATION
from homeserver.dms import dm_room_id
from homeserver.events.hashing import compute_event_id, sign_event
from tests.conftest import Account, register
from tests.test_federation import (
    V3,
    A,
    B,
    Cluster,
    dm,
    timeline,
    two_servers,
)

EVE = "@eve:b.test"


def path(template: str, *parts: str) -> str:
    """The path as the test client sends it (IDs unescaped: their characters may be)."""
    return template.format(*parts)


@pytest.fixture(params=["sqlite", "postgres"])
async def cluster(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[Cluster]:
    async with two_servers(tmp_path, request.param) as servers:
        yield servers


@pytest.fixture(params=["sqlite", "postgres"])
async def guarded(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[Cluster]:
    """Two servers, a.test with small bounds: 2 pending invites per server and user,
    3 DM queries in a burst per server."""
    bounds = {"federation.max_pending_invites": 2, "rate_limits.enabled": True,
              "rate_limits.federation_dm_query": {"per_second": 0.001, "burst": 3}}
    async with two_servers(tmp_path, request.param, {A: bounds}) as servers:
        yield servers


async def signed(cluster: Cluster, method: str, uri: str, body: Any = None) -> ClientResponse:
    """A request from b.test to a.test, signed with b.test's real key."""
    key = cluster.nodes[B].hs.signing_key
    headers = {"Authorization": authorization_header(key, B, A, method, uri, body)}
    return await cluster.nodes[A].api.client.request(method, uri, json=body, headers=headers)


async def forged_member(cluster: Cluster, room: str, sender: str, target: str,
                        membership: str = "invite") -> dict[str, Any]:
    """A member event by b.test's ``sender``, built on a.test's view of the room (what
    a server in the room would learn) and signed by b.test, as an attacker would."""
    a, b = cluster.nodes[A], cluster.nodes[B]
    history = a.hs.history
    state = await history.state_ids(room)
    latest = await history.latest_event(room)
    wanted = [("m.room.create", ""), ("m.room.power_levels", ""), ("m.room.join_rules", ""),
              ("m.room.member", sender), ("m.room.member", target)]
    event = {"type": "m.room.member", "state_key": target, "sender": sender, "room_id": room,
             "content": {"membership": membership},
             "auth_events": sorted(state[k] for k in wanted if k in state),
             "prev_events": [latest["event_id"]] if latest else [],
             "depth": latest["depth"] + 1 if latest else 1,
             "origin": B, "origin_server_ts": a.hs.clock.time_ms()}
    return sign_event(event, B, b.hs.signing_key)


async def invite(cluster: Cluster, room: str, target: str,
                 sender: str = EVE) -> ClientResponse:
    pdu = await forged_member(cluster, room, sender, target)
    uri = path("/_matrix/federation/v2/invite/{}/{}", room, compute_event_id(pdu))
    body = {"room_version": "10", "event": pdu,
            "invite_room_state": [{"type": "m.room.name", "state_key": "", "sender": sender,
                                   "content": {"name": "Totally legit"}}]}
    return await signed(cluster, "PUT", uri, body)


def forged_create(cluster: Cluster, room: str, sender: str) -> dict[str, Any]:
    return sign_event({"type": "m.room.create", "state_key": "", "sender": sender,
                       "room_id": room, "content": {"room_version": "10", "creator": sender},
                       "auth_events": [], "prev_events": [], "depth": 1, "origin": B,
                       "origin_server_ts": 2}, B, cluster.nodes[B].hs.signing_key)


async def sent(cluster: Cluster, txn_id: str, pdu: dict[str, Any]) -> dict[str, Any]:
    """What a.test answers for ``pdu`` sent in a transaction from b.test."""
    resp = await signed(cluster, "PUT", f"/_matrix/federation/v1/send/{txn_id}",
                        {"origin": B, "origin_server_ts": 1, "pdus": [pdu], "edus": []})
    return (await resp.json())["pdus"][compute_event_id(pdu)]


async def refused(resp: ClientResponse, status: int = 403,
                  errcode: str = "M_FORBIDDEN") -> None:
    body = await resp.json()
    assert (resp.status, body.get("errcode")) == (status, errcode), body


async def room_rows(cluster: Cluster, room: str) -> int:
    return await cluster.nodes[A].hs.db.fetchval(
        "SELECT COUNT(*) FROM rooms WHERE room_id = $1", room)


async def invited_to(cluster: Cluster, who: Account) -> dict[str, Any]:
    return (await cluster.nodes[A].api.sync(who))["rooms"]["invite"]


async def test_a_remote_invite_into_a_dm_hosted_here_is_refused(cluster: Cluster) -> None:
    a = cluster.nodes[A]
    alice, bob, mallory = [await register(a.api.client, n) for n in ("alice", "bob", "mallory")]
    room = await dm(a, alice, bob.user_id)
    await a.api.send(alice, room, "our secret")

    await refused(await invite(cluster, room, mallory.user_id))
    assert room not in await invited_to(cluster, mallory)
    await a.api.call("POST", f"{V3}/rooms/{room}/join", mallory, {}, status=403)
    await a.api.call("GET", f"{V3}/rooms/{room}/messages", mallory, status=403)

    # The same invite inside a transaction is refused too, and reported.
    pdu = await forged_member(cluster, room, EVE, mallory.user_id)
    assert "error" in await sent(cluster, "sneaky", pdu)
    # And b.test's own user cannot join the DM through make_join either.
    await refused(await signed(cluster, "GET", path(
        "/_matrix/federation/v1/make_join/{}/{}", room, EVE)))
    assert await a.hs.history.membership(room, mallory.user_id) is None


async def test_a_remote_invite_neither_lifts_a_ban_nor_beats_power_levels(
    cluster: Cluster
) -> None:
    a, b = cluster.nodes[A], cluster.nodes[B]
    alice, carol, mallory, dave = [await register(a.api.client, n)
                                   for n in ("alice", "carol", "mallory", "dave")]
    room = await a.api.create_room(alice, preset="public_chat",
                                   power_level_content_override={"invite": 0})
    await b.hs.federation.gateway.joiner.join(room, EVE, via=A)  # eve is in the room, legitimately

    assert (await invite(cluster, room, carol.user_id)).status == 200  # the rules allow this
    assert room in await invited_to(cluster, carol)

    await a.api.call("POST", f"{V3}/rooms/{room}/ban", alice, {"user_id": mallory.user_id})
    await refused(await invite(cluster, room, mallory.user_id))
    await a.api.call("POST", f"{V3}/rooms/{room}/join", mallory, {}, status=403)

    levels = await a.api.call("GET", f"{V3}/rooms/{room}/state/m.room.power_levels/", alice)
    await a.api.call("PUT", f"{V3}/rooms/{room}/state/m.room.power_levels/", alice,
                     {**levels, "invite": 50})
    await refused(await invite(cluster, room, dave.user_id))
    assert room not in await invited_to(cluster, dave)


async def test_an_invite_into_an_unknown_room_leaves_no_room_behind(guarded: Cluster) -> None:
    a = guarded.nodes[A]
    bob, carol = await register(a.api.client, "bob"), await register(a.api.client, "carol")
    their_dm = dm_room_id(bob.user_id, carol.user_id)  # a room ID of ours, not made yet
    await refused(await invite(guarded, their_dm, bob.user_id))
    assert await room_rows(guarded, their_dm) == 0

    assert await dm(a, bob, carol.user_id) == their_dm  # they can still talk, forever
    assert await dm(a, carol, bob.user_id) == their_dm
    await a.api.send(bob, their_dm, "hi carol")
    assert (await timeline(a.api, carol, their_dm))[0] == ["hi carol"]

    # An invite into a room on b.test waits apart: seen in /sync, no room row here.
    elsewhere = "!somewhere:b.test"
    assert (await invite(guarded, elsewhere, bob.user_id)).status == 200
    assert await room_rows(guarded, elsewhere) == 0
    shown = (await invited_to(guarded, bob))[elsewhere]["invite_state"]["events"]
    assert {(e["type"], e["sender"]) for e in shown} == {("m.room.name", EVE),
                                                         ("m.room.member", EVE)}
    # A create event sent in a transaction makes no room either.
    create = forged_create(guarded, "!new:b.test", EVE)
    assert "error" in await sent(guarded, "made-up", create)
    assert await room_rows(guarded, "!new:b.test") == 0


async def test_pending_invites_from_one_server_are_bounded(guarded: Cluster) -> None:
    bob = await register(guarded.nodes[A].api.client, "bob")
    for n in range(2):
        assert (await invite(guarded, f"!room{n}:b.test", bob.user_id)).status == 200
    await refused(await invite(guarded, "!room2:b.test", bob.user_id))
    assert len(await invited_to(guarded, bob)) == 2


async def test_the_dm_query_joins_nobody_and_is_rate_limited(guarded: Cluster) -> None:
    a = guarded.nodes[A]
    alice = await register(a.api.client, "alice")
    query = path("/_matrix/federation/unstable/dm/{}/{}", alice.user_id, EVE)
    await refused(await signed(guarded, "GET", query), 404, "M_NOT_FOUND")
    assert (await a.api.call("GET", f"{V3}/joined_rooms", alice))["joined_rooms"] == []
    assert (await a.api.call("GET", "/_matrix/client/unstable/dm", alice))["dms"] == []
    assert await a.hs.db.fetchval("SELECT COUNT(*) FROM rooms") == 0
    for _ in range(2):
        await refused(await signed(guarded, "GET", query), 404, "M_NOT_FOUND")
    await refused(await signed(guarded, "GET", query), 429, "M_LIMIT_EXCEEDED")


async def test_a_dm_invite_from_another_server_is_accepted_or_rejected(
    cluster: Cluster
) -> None:
    a, b = cluster.nodes[A], cluster.nodes[B]
    alice = await register(a.api.client, "alice")
    bob, carol = await register(b.api.client, "bob"), await register(b.api.client, "carol")
    rejected = await dm(b, bob, alice.user_id)  # alice is lower: she is only invited
    accepted = await dm(b, carol, alice.user_id)
    assert set(await invited_to(cluster, alice)) == {rejected, accepted}
    assert (await a.api.call("GET", "/_matrix/client/unstable/dm", alice))["dms"] == []
    token = (await a.api.sync(alice))["next_batch"]

    await a.api.call("POST", f"{V3}/rooms/{rejected}/leave", alice, {})
    assert (await b.hs.history.membership(rejected, alice.user_id))["membership"] \
        == "leave"
    later = await a.api.sync(alice, token)
    assert rejected in later["rooms"]["leave"]
    assert rejected not in await invited_to(cluster, alice)

    await a.api.call("POST", f"{V3}/join/{accepted}", alice, {})
    assert await dm(a, alice, carol.user_id) == accepted
    dms = (await a.api.call("GET", "/_matrix/client/unstable/dm", alice))["dms"]
    assert [d["room_id"] for d in dms] == [accepted]
    _, carol_token = await timeline(b.api, carol, accepted, want=0)
    await a.api.send(alice, accepted, "hello carol")
    assert (await timeline(b.api, carol, accepted, carol_token))[0] == ["hello carol"]
    _, alice_token = await timeline(a.api, alice, accepted, want=0)
    await b.api.send(carol, accepted, "hello alice")
    assert (await timeline(a.api, alice, accepted, alice_token))[0] == ["hello alice"]


async def test_two_rooms_from_a_race_end_in_the_pairs_own_room(cluster: Cluster) -> None:
    a, b = cluster.nodes[A], cluster.nodes[B]
    alice, bob = await register(a.api.client, "alice"), await register(b.api.client, "bob")
    theirs = await dm(b, bob, alice.user_id)  # b made a room and invited alice
    # Meanwhile alice opened the pair's own room before b's invite reached her server:
    # the step her request took, replayed here so the order is certain.
    own = (await a.hs.dms.resolve_here(alice.user_id, bob.user_id)).room_id
    await a.hs.federation.gateway.dms.send_invite(own, bob.user_id)
    assert theirs != own == dm_room_id(alice.user_id, bob.user_id)

    assert await dm(a, alice, bob.user_id) == own
    assert await dm(b, bob, alice.user_id) == own  # bob takes the invite into the own room
    assert await dm(b, bob, alice.user_id) == own
    dms = (await b.api.call("GET", "/_matrix/client/unstable/dm", bob))["dms"]
    assert [d["room_id"] for d in dms] == [own]
    _, token = await timeline(a.api, alice, own, want=0)
    await b.api.send(bob, own, "one room after all")
    assert (await timeline(a.api, alice, own, token))[0] == ["one room after all"]


async def test_a_room_we_hold_cannot_be_created_again(cluster: Cluster) -> None:
    a, b = cluster.nodes[A], cluster.nodes[B]
    alice, bob = await register(a.api.client, "alice"), await register(b.api.client, "bob")
    room = await dm(b, bob, alice.user_id)  # lives on b.test
    assert await dm(a, alice, bob.user_id) == room  # alice accepts: a.test holds it now
    state = await a.hs.history.state_ids(room)
    assert "error" in await sent(cluster, "recreate", forged_create(cluster, room, bob.user_id))
    assert await a.hs.history.state_ids(room) == state


class ServerOfferingAJoin:
    """b.test answering make_join and make_leave with a join into another room."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def request(self, method: str, destination: str, request_path: str,
                      content: Any = None, query: Any = None) -> Any:
        self.sent.append(method)
        event = {"type": "m.room.member", "room_id": "!other:b.test", "sender": "@bob:a.test",
                 "state_key": "@bob:a.test", "content": {"membership": "join"},
                 "auth_events": [], "prev_events": [], "depth": 5}
        return {"room_version": "10", "event": event}


async def test_we_sign_only_the_membership_we_asked_for(guarded: Cluster) -> None:
    a = guarded.nodes[A]
    bob = await register(a.api.client, "bob")
    room = "!trap:b.test"
    assert (await invite(guarded, room, bob.user_id)).status == 200
    server = ServerOfferingAJoin()
    a.hs.federation.gateway.joiner.client = server
    await a.api.call("POST", f"{V3}/join/{room}", bob, {}, status=403)
    await a.api.call("POST", f"{V3}/rooms/{room}/leave", bob, {})  # rejected locally
    assert server.sent == ["GET", "GET"]  # nothing signed went back
    assert room not in await invited_to(guarded, bob)


async def test_a_failed_accept_leaves_no_dm_pair_behind(cluster: Cluster) -> None:
    a, b = cluster.nodes[A], cluster.nodes[B]
    alice, bob = await register(a.api.client, "alice"), await register(b.api.client, "bob")
    room = await dm(b, bob, alice.user_id)  # alice is lower: she is only invited
    a.api.client.app[FEDERATION].client.endpoints[B] = "http://127.0.0.1:1"  # b is gone
    resp = await a.api.client.post(f"{V3}/join/{room}", json={}, headers=alice.auth)
    assert resp.status >= 400 and (await resp.json())["errcode"].startswith("M_")
    assert await a.hs.db.fetchval("SELECT COUNT(*) FROM dm_pairs") == 0
    assert room in await invited_to(cluster, alice)  # still hers to answer
