"""Relations over HTTP on both backends: edits, reactions and threads, bundled and listed,
their redaction, /relations, /threads and /context, and who may read them."""

from __future__ import annotations

import secrets
from typing import Any

from homeserver.clock import FakeClock
from homeserver.services import Homeserver
from homeserver.storage.migrations import migrations_for
from tests.conftest import Account, Api, register

V1 = "/_matrix/client/v1"
V3 = "/_matrix/client/v3"


async def send_event(api: Api, who: Account, room: str, content: dict[str, Any],
                     event_type: str = "m.room.message", status: int = 200) -> Any:
    path = f"{V3}/rooms/{room}/send/{event_type}/{secrets.token_hex(6)}"
    data = await api.call("PUT", path, who, content, status=status)
    return data["event_id"] if status == 200 else data


async def edit(api: Api, who: Account, room: str, original: str, body: str) -> str:
    return await send_event(api, who, room, {
        "msgtype": "m.text", "body": f"* {body}",
        "m.new_content": {"msgtype": "m.text", "body": body},
        "m.relates_to": {"rel_type": "m.replace", "event_id": original}})


async def react(api: Api, who: Account, room: str, target: str, key: str,
                status: int = 200) -> Any:
    return await send_event(api, who, room, {"m.relates_to": {
        "rel_type": "m.annotation", "event_id": target, "key": key}}, "m.reaction", status)


async def reply_in_thread(api: Api, who: Account, room: str, root: str, body: str) -> str:
    return await send_event(api, who, room, {"msgtype": "m.text", "body": body,
                                             "m.relates_to": {"rel_type": "m.thread",
                                                              "event_id": root}})


async def redact(api: Api, who: Account, room: str, event_id: str) -> None:
    await api.call("PUT", f"{V3}/rooms/{room}/redact/{event_id}/{secrets.token_hex(6)}", who, {})


async def two_in_a_room(api: Api) -> tuple[Account, Account, str]:
    alice = await register(api.client, "alice")
    bob = await register(api.client, "bob")
    room = await api.create_room(alice, invite=[bob.user_id])
    await api.join(bob, room)
    return alice, bob, room


def relations_of(event: dict[str, Any]) -> dict[str, Any]:
    return event["unsigned"].get("m.relations", {})


async def messages(api: Api, who: Account, room: str) -> list[dict[str, Any]]:
    data = await api.call("GET", f"{V3}/rooms/{room}/messages?limit=50", who)
    return data["chunk"]


def find(events: list[dict[str, Any]], event_id: str) -> dict[str, Any]:
    return next(e for e in events if e["event_id"] == event_id)


async def test_edit_is_bundled_on_sync_messages_and_event(api: Api, clock: FakeClock) -> None:
    alice, bob, room = await two_in_a_room(api)
    original = await api.send(alice, room, "helo")
    clock.advance(1)
    first = await edit(api, alice, room, original, "hello")
    clock.advance(1)
    latest = await edit(api, alice, room, original, "hello there")

    single = await api.call("GET", f"{V3}/rooms/{room}/event/{original}", bob)
    replace = relations_of(single)["m.replace"]
    assert replace["event_id"] == latest and replace["sender"] == alice.user_id
    assert replace["content"]["m.new_content"]["body"] == "hello there"
    assert single["content"]["body"] == "helo"  # v1.7+: the original content is kept

    assert relations_of(find(await messages(api, bob, room), original))["m.replace"][
        "event_id"] == latest
    timeline = (await api.sync(bob))["rooms"]["join"][room]["timeline"]["events"]
    assert relations_of(find(timeline, original))["m.replace"]["event_id"] == latest
    # The edits themselves carry no bundle, and an earlier edit is not the one shown.
    assert relations_of(find(timeline, first)) == {}


async def test_latest_edit_is_by_timestamp_then_event_id(api: Api, clock: FakeClock) -> None:
    alice, _, room = await two_in_a_room(api)
    original = await api.send(alice, room, "v0")
    clock.advance(5)
    # Two edits in the same millisecond: the larger event ID wins (the spec's tie-break),
    # whatever order they were sent in.
    same_time = [await edit(api, alice, room, original, f"v{i}") for i in range(1, 4)]
    single = await api.call("GET", f"{V3}/rooms/{room}/event/{original}", alice)
    assert relations_of(single)["m.replace"]["event_id"] == max(same_time)
    clock.advance(1)
    later = await edit(api, alice, room, original, "v4")
    single = await api.call("GET", f"{V3}/rooms/{room}/event/{original}", alice)
    assert relations_of(single)["m.replace"]["event_id"] == later


async def test_another_users_edit_and_an_edit_of_an_edit_are_ignored(api: Api) -> None:
    alice, bob, room = await two_in_a_room(api)
    original = await api.send(alice, room, "mine")
    await edit(api, bob, room, original, "bob was here")
    single = await api.call("GET", f"{V3}/rooms/{room}/event/{original}", alice)
    assert "m.replace" not in relations_of(single)
    mine = await edit(api, alice, room, original, "still mine")
    await edit(api, alice, room, mine, "edit of an edit")
    edited = await api.call("GET", f"{V3}/rooms/{room}/event/{mine}", alice)
    assert relations_of(edited) == {}
    # An edit of another type (a reaction pretending to edit) does not replace either.
    await send_event(api, alice, room, {
        "m.new_content": {"body": "x"}, "m.relates_to": {"rel_type": "m.replace",
                                                         "event_id": original}}, "m.custom")
    single = await api.call("GET", f"{V3}/rooms/{room}/event/{original}", alice)
    assert relations_of(single)["m.replace"]["event_id"] == mine


async def test_an_encrypted_edit_of_an_encrypted_message_is_bundled(api: Api) -> None:
    """The new content is inside the ciphertext; the relation alone is in the clear."""
    alice, bob, room = await two_in_a_room(api)
    ciphertext = {"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "AwgAEn...",
                  "sender_key": "key", "session_id": "session", "device_id": "DEV"}
    original = await send_event(api, alice, room, ciphertext, "m.room.encrypted")
    edited = await send_event(api, alice, room, {
        **ciphertext, "m.relates_to": {"rel_type": "m.replace", "event_id": original}},
        "m.room.encrypted")
    single = await api.call("GET", f"{V3}/rooms/{room}/event/{original}", bob)
    assert relations_of(single)["m.replace"]["event_id"] == edited
    # A plaintext message still needs m.new_content to be replaced.
    plain = await api.send(alice, room, "plain")
    await send_event(api, alice, room, {"msgtype": "m.text", "body": "* x", "m.relates_to": {
        "rel_type": "m.replace", "event_id": plain}})
    assert relations_of(await api.call("GET", f"{V3}/rooms/{room}/event/{plain}", bob)) == {}


async def test_malformed_relations_never_fail_the_send(api: Api) -> None:
    alice, _, room = await two_in_a_room(api)
    original = await api.send(alice, room, "target")
    for relates in [None, "x", [], {"rel_type": 5, "event_id": original},
                    {"rel_type": "m.replace", "event_id": "no-dollar"},
                    {"rel_type": "m.replace", "event_id": original},  # no m.new_content
                    {"rel_type": "m.annotation", "event_id": original},  # no key
                    {"rel_type": "m.annotation", "event_id": original, "key": "k" * 5000},
                    {"rel_type": "x" * 300, "event_id": original}]:
        await send_event(api, alice, room, {"body": "b", "m.relates_to": relates})
    page = await api.call("GET", f"{V1}/rooms/{room}/relations/{original}", alice)
    assert page["chunk"] == []


async def test_relation_to_an_event_of_another_room_does_not_count(api: Api) -> None:
    alice, _, room = await two_in_a_room(api)
    other = await api.create_room(alice)
    original = await api.send(alice, room, "here")
    await edit(api, alice, other, original, "from elsewhere")
    await react(api, alice, other, original, "👍")
    single = await api.call("GET", f"{V3}/rooms/{room}/event/{original}", alice)
    assert relations_of(single) == {}
    page = await api.call("GET", f"{V1}/rooms/{room}/relations/{original}", alice)
    assert page["chunk"] == []


async def test_reactions_listed_and_duplicates_refused(api: Api) -> None:
    alice, bob, room = await two_in_a_room(api)
    target = await api.send(alice, room, "react to me")
    up_a = await react(api, alice, room, target, "👍")
    up_b = await react(api, bob, room, target, "👍")
    heart = await react(api, bob, room, target, "❤️")
    refused = await react(api, bob, room, target, "👍", status=400)
    assert refused["errcode"] == "M_DUPLICATE_ANNOTATION"

    page = await api.call("GET", f"{V1}/rooms/{room}/relations/{target}/m.annotation", alice)
    assert [e["event_id"] for e in page["chunk"]] == [heart, up_b, up_a]  # newest first
    assert "next_batch" not in page
    typed = await api.call("GET", f"{V1}/rooms/{room}/relations/{target}/m.annotation/"
                                  "m.reaction?dir=f", alice)
    assert [e["event_id"] for e in typed["chunk"]] == [up_a, up_b, heart]
    none = await api.call("GET", f"{V1}/rooms/{room}/relations/{target}/m.annotation/"
                                 "m.room.message", alice)
    assert none["chunk"] == []
    # Reactions are not bundled (spec v1.7+).
    assert relations_of(await api.call("GET", f"{V3}/rooms/{room}/event/{target}", alice)) == {}

    # Redacting a reaction takes it out, and the same key may then be sent again.
    await redact(api, bob, room, up_b)
    page = await api.call("GET", f"{V1}/rooms/{room}/relations/{target}/m.annotation", alice)
    assert [e["event_id"] for e in page["chunk"]] == [heart, up_a]
    again = await react(api, bob, room, target, "👍")
    page = await api.call("GET", f"{V1}/rooms/{room}/relations/{target}", alice)
    assert page["chunk"][0]["event_id"] == again


async def test_relations_paginate_both_ways(api: Api) -> None:
    alice, _, room = await two_in_a_room(api)
    target = await api.send(alice, room, "many")
    sent = [await react(api, alice, room, target, str(i)) for i in range(5)]
    seen: list[str] = []
    path = f"{V1}/rooms/{room}/relations/{target}?limit=2"
    page = await api.call("GET", path, alice)
    while True:
        seen += [e["event_id"] for e in page["chunk"]]
        if "next_batch" not in page:
            break
        page = await api.call("GET", f"{path}&from={page['next_batch']}", alice)
    assert seen == sent[::-1]
    forward = await api.call("GET", f"{path}&dir=f", alice)
    rest = await api.call("GET", f"{path}&dir=f&from={forward['next_batch']}", alice)
    assert [e["event_id"] for e in forward["chunk"] + rest["chunk"]] == sent[:4]


async def test_recurse_follows_relations_of_relations(api: Api) -> None:
    alice, bob, room = await two_in_a_room(api)
    root = await api.send(alice, room, "root")
    reply = await reply_in_thread(api, bob, room, root, "in thread")
    reaction = await react(api, alice, room, reply, "🎉")
    flat = await api.call("GET", f"{V1}/rooms/{room}/relations/{root}", alice)
    assert [e["event_id"] for e in flat["chunk"]] == [reply]
    deep = await api.call("GET", f"{V1}/rooms/{room}/relations/{root}?recurse=true", alice)
    assert [e["event_id"] for e in deep["chunk"]] == [reaction, reply]
    assert deep["recursion_depth"] == 2


async def test_thread_summary_and_threads_list(api: Api) -> None:
    alice, bob, room = await two_in_a_room(api)
    root_a = await api.send(alice, room, "thread A")
    root_b = await api.send(bob, room, "thread B")
    await reply_in_thread(api, bob, room, root_a, "a1")
    await reply_in_thread(api, bob, room, root_b, "b1")
    last_a = await reply_in_thread(api, bob, room, root_a, "a2")
    edit_of_last = await edit(api, bob, room, last_a, "a2 edited")

    single = await api.call("GET", f"{V3}/rooms/{room}/event/{root_a}", alice)
    thread = relations_of(single)["m.thread"]
    assert thread["count"] == 2 and thread["current_user_participated"] is True  # the root
    assert thread["latest_event"]["event_id"] == last_a
    assert relations_of(thread["latest_event"])["m.replace"]["event_id"] == edit_of_last
    of_b = relations_of(await api.call("GET", f"{V3}/rooms/{room}/event/{root_b}", alice))
    assert of_b["m.thread"]["count"] == 1
    assert of_b["m.thread"]["current_user_participated"] is False

    listed = await api.call("GET", f"{V1}/rooms/{room}/threads", alice)
    assert [e["event_id"] for e in listed["chunk"]] == [root_a, root_b]
    assert relations_of(listed["chunk"][0])["m.thread"]["count"] == 2
    first = await api.call("GET", f"{V1}/rooms/{room}/threads?limit=1", alice)
    assert [e["event_id"] for e in first["chunk"]] == [root_a]
    rest = await api.call("GET", f"{V1}/rooms/{room}/threads?limit=1&from="
                                 f"{first['next_batch']}", alice)
    assert [e["event_id"] for e in rest["chunk"]] == [root_b] and "next_batch" not in rest
    mine = await api.call("GET", f"{V1}/rooms/{room}/threads?include=participated", alice)
    assert [e["event_id"] for e in mine["chunk"]] == [root_a]

    # Redacting the latest reply: the summary falls back to the one before.
    await redact(api, bob, room, last_a)
    thread = relations_of(await api.call("GET", f"{V3}/rooms/{room}/event/{root_a}",
                                          alice))["m.thread"]
    assert thread["count"] == 1 and thread["latest_event"]["content"]["body"] == "a1"


async def test_redacted_edit_no_longer_replaces(api: Api, clock: FakeClock) -> None:
    alice, _, room = await two_in_a_room(api)
    original = await api.send(alice, room, "v0")
    clock.advance(1)
    first = await edit(api, alice, room, original, "v1")
    clock.advance(1)
    second = await edit(api, alice, room, original, "v2")
    await redact(api, alice, room, second)
    single = await api.call("GET", f"{V3}/rooms/{room}/event/{original}", alice)
    assert relations_of(single)["m.replace"]["event_id"] == first
    await redact(api, alice, room, first)
    single = await api.call("GET", f"{V3}/rooms/{room}/event/{original}", alice)
    assert relations_of(single) == {}


async def test_context_before_and_after(api: Api) -> None:
    alice, bob, room = await two_in_a_room(api)
    sent = [await api.send(alice, room, f"m{i}") for i in range(7)]
    data = await api.call("GET", f"{V3}/rooms/{room}/context/{sent[3]}?limit=4", bob)
    assert data["event"]["event_id"] == sent[3]
    assert [e["event_id"] for e in data["events_before"]] == [sent[2], sent[1]]
    assert [e["event_id"] for e in data["events_after"]] == [sent[4], sent[5]]
    assert {e["type"] for e in data["state"]} >= {"m.room.create", "m.room.member"}
    older = await api.call("GET", f"{V3}/rooms/{room}/messages?dir=b&limit=1&from="
                                  f"{data['start']}", bob)
    assert [e["event_id"] for e in older["chunk"]] == [sent[0]]
    newer = await api.call("GET", f"{V3}/rooms/{room}/messages?dir=f&limit=5&from="
                                  f"{data['end']}", bob)
    assert [e["event_id"] for e in newer["chunk"]] == [sent[6]]
    only = '{"types": ["m.room.message"]}'
    filtered = await api.call("GET", f"{V3}/rooms/{room}/context/{sent[0]}?limit=2"
                                     f"&filter={only}", bob)
    assert [e["event_id"] for e in filtered["events_before"]] == []  # joins, not messages
    assert [e["event_id"] for e in filtered["events_after"]] == [sent[1]]


async def test_a_non_member_reads_no_relations_threads_or_context(api: Api) -> None:
    alice, _, room = await two_in_a_room(api)
    mallory = await register(api.client, "mallory")
    target = await api.send(alice, room, "secret")
    await react(api, alice, room, target, "🤫")
    for path in [f"{V1}/rooms/{room}/relations/{target}",
                 f"{V1}/rooms/{room}/relations/{target}/m.annotation",
                 f"{V1}/rooms/{room}/threads", f"{V3}/rooms/{room}/context/{target}"]:
        data = await api.call("GET", path, mallory, status=403)
        assert data["errcode"] == "M_FORBIDDEN"
    # Her own room does not open a door to an event of another room.
    own = await api.create_room(mallory)
    for path in [f"{V1}/rooms/{own}/relations/{target}", f"{V3}/rooms/{own}/context/{target}"]:
        assert (await api.call("GET", path, mallory, status=404))["errcode"] == "M_NOT_FOUND"
    # Nor can she react to it from there in a way that shows up.
    await react(api, mallory, own, target, "👀")
    page = await api.call("GET", f"{V1}/rooms/{room}/relations/{target}", alice)
    assert [e["sender"] for e in page["chunk"]] == [alice.user_id]


async def test_bad_query_parameters(api: Api) -> None:
    alice, _, room = await two_in_a_room(api)
    target = await api.send(alice, room, "x")
    base = f"{V1}/rooms/{room}/relations/{target}"
    for query in ["dir=x", "limit=-1", "limit=abc", "limit=100000", "from=garbage",
                  "to=s99999999999999999", "recurse=yes"]:
        data = await api.call("GET", f"{base}?{query}", alice, status=400)
        assert data["errcode"] == "M_INVALID_PARAM", query
    for query in ["include=some", "limit=x", "from=zz"]:
        data = await api.call("GET", f"{V1}/rooms/{room}/threads?{query}", alice, status=400)
        assert data["errcode"] == "M_INVALID_PARAM", query
    for query in ["limit=-5", "filter={", "filter=[]"]:
        data = await api.call("GET", f"{V3}/rooms/{room}/context/{target}?{query}", alice,
                              status=400)
        assert data["errcode"] == "M_INVALID_PARAM", query
    await api.call("GET", f"{V1}/rooms/{room}/relations/$unknown", alice, status=404)
    await api.call("GET", f"{V3}/rooms/{room}/context/$unknown", alice, status=404)
    await api.call("GET", f"{V1}/rooms/not-a-room/threads", alice, status=400)
    await api.call("GET", f"{V1}/rooms/{room}/threads", None, status=401)


async def test_upgrade_fills_relations_and_search_from_older_events(
        api: Api, homeserver: Homeserver) -> None:
    """Migration 011's backfill, run over events whose derived rows are missing, as
    they are for everything written before the upgrade."""
    alice, bob, room = await two_in_a_room(api)
    original = await api.send(alice, room, "the original wording")
    fixed = await edit(api, alice, room, original, "the fixed wording")
    await react(api, bob, room, original, "👍")
    await send_event(api, alice, room, {"body": "x", "m.relates_to": {
        "rel_type": "m.replace", "event_id": original}})  # no m.new_content: none
    async with homeserver.db.transaction() as conn:
        await conn.execute("DELETE FROM event_relations")
        await conn.execute("DELETE FROM event_search")
    assert relations_of(await api.call("GET", f"{V3}/rooms/{room}/event/{original}",
                                       alice)) == {}
    upgrade = next(m for m in migrations_for(homeserver.db.dialect) if m.version == 11)
    async with homeserver.db.transaction() as conn:
        for statement in upgrade.statements():
            if "INSERT INTO" in statement or "INSERT OR IGNORE" in statement:
                await conn.execute(statement)
    single = await api.call("GET", f"{V3}/rooms/{room}/event/{original}", alice)
    assert relations_of(single)["m.replace"]["event_id"] == fixed
    page = await api.call("GET", f"{V1}/rooms/{room}/relations/{original}", alice)
    assert len(page["chunk"]) == 2
    body = {"search_categories": {"room_events": {"search_term": "wording"}}}
    found = await api.call("POST", f"{V3}/search", alice, body)
    assert len(found["search_categories"]["room_events"]["results"]) == 2
