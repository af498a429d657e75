"""Server-side search over HTTP on both backends: what is found, where, in what order,
in pages, and what is never found (other people's rooms, redacted or encrypted text)."""

from __future__ import annotations

import secrets
from typing import Any

from tests.conftest import Account, Api, register

V3 = "/_matrix/client/v3"


async def search(api: Api, who: Account, term: str, status: int = 200,
                 next_batch: str | None = None, **room_events: Any) -> Any:
    body = {"search_categories": {"room_events": {"search_term": term, **room_events}}}
    path = f"{V3}/search" + (f"?next_batch={next_batch}" if next_batch else "")
    data = await api.call("POST", path, who, body, status=status)
    return data["search_categories"]["room_events"] if status == 200 else data


def ids(found: Any) -> list[str]:
    return [r["result"]["event_id"] for r in found["results"]]


async def test_finds_words_in_joined_rooms_only(api: Api) -> None:
    alice = await register(api.client, "alice")
    bob = await register(api.client, "bob")
    shared = await api.create_room(alice, invite=[bob.user_id])
    await api.join(bob, shared)
    private = await api.create_room(alice)
    hit = await api.send(alice, shared, "The quarterly budget is ready")
    secret = await api.send(alice, private, "The secret budget for the merger")
    await api.send(alice, shared, "Nothing to see here")

    found = await search(api, bob, "budget")
    assert ids(found) == [hit] and found["count"] == 1
    assert found["highlights"] == ["budget"]
    assert found["results"][0]["result"]["room_id"] == shared
    assert found["results"][0]["result"]["content"]["body"].startswith("The quarterly")
    assert ids(await search(api, alice, "budget", order_by="recent")) == [secret, hit]
    # Naming the private room in the filter does not open it.
    assert ids(await search(api, bob, "budget", filter={"rooms": [private]})) == []
    assert ids(await search(api, bob, "merger")) == []
    # After leaving, the room's history is no longer searched by bob.
    await api.call("POST", f"{V3}/rooms/{shared}/leave", bob, {})
    assert ids(await search(api, bob, "budget")) == []


async def test_a_stranger_finds_nothing_even_by_room_id(api: Api) -> None:
    alice = await register(api.client, "alice")
    mallory = await register(api.client, "mallory")
    room = await api.create_room(alice, name="Payroll", topic="salaries")
    await api.send(alice, room, "payroll numbers attached")
    for term in ["payroll", "salaries", "numbers"]:
        found = await search(api, mallory, term, filter={"rooms": [room]})
        assert found["results"] == [] and found["count"] == 0
    assert len(ids(await search(api, alice, "payroll"))) == 2  # the name and the message


async def test_keys_names_topics_and_prefixes(api: Api) -> None:
    alice = await register(api.client, "alice")
    room = await api.create_room(alice, name="Kitchen renovation", topic="tiles and paint")
    body = await api.send(alice, room, "ordering the tiles tomorrow")
    found = await search(api, alice, "tiles")
    assert len(ids(found)) == 2
    only_body = await search(api, alice, "tiles", keys=["content.body"])
    assert ids(only_body) == [body]
    topic = await search(api, alice, "paint", keys=["content.topic"])
    assert [r["result"]["type"] for r in topic["results"]] == ["m.room.topic"]
    name = await search(api, alice, "renov", keys=["content.name"])  # a prefix matches
    assert [r["result"]["type"] for r in name["results"]] == ["m.room.name"]
    # Every word must be present; punctuation and case do not matter.
    assert ids(await search(api, alice, "ORDERING, tomorrow!")) == [body]
    assert ids(await search(api, alice, "ordering yesterday")) == []
    # A term with no word in it finds nothing (and is no error).
    assert ids(await search(api, alice, "!!! ...")) == []
    # The filter's types narrow the keys too.
    only_messages = await search(api, alice, "tiles", filter={"types": ["m.room.message"]})
    assert ids(only_messages) == [body]


async def test_rank_orders_by_relevance_and_pages(api: Api) -> None:
    alice = await register(api.client, "alice")
    room = await api.create_room(alice)
    weak = await api.send(alice, room, "a long message that mentions the word apple once "
                                       "among many other words about fruit and weather")
    strong = await api.send(alice, room, "apple apple apple")
    found = await search(api, alice, "apple")
    assert ids(found) == [strong, weak]
    assert found["results"][0]["rank"] > found["results"][1]["rank"]

    sent = [await api.send(alice, room, f"pear number {i}") for i in range(5)]
    seen: list[str] = []
    batch = None
    for _ in range(5):
        page = await search(api, alice, "pear", next_batch=batch, filter={"limit": 2},
                            order_by="recent")
        seen += ids(page)
        assert page["count"] == 5
        batch = page.get("next_batch")
        if batch is None:
            break
    assert seen == sent[::-1]
    ranked: list[str] = []
    batch = None
    for _ in range(5):
        page = await search(api, alice, "pear", next_batch=batch, filter={"limit": 2})
        ranked += ids(page)
        batch = page.get("next_batch")
        if batch is None:
            break
    assert sorted(ranked) == sorted(sent) and len(ranked) == 5


async def test_redacted_and_encrypted_messages_are_not_found(api: Api) -> None:
    alice = await register(api.client, "alice")
    room = await api.create_room(alice)
    gone = await api.send(alice, room, "a regrettable remark")
    await api.call("PUT", f"{V3}/rooms/{room}/redact/{gone}/{secrets.token_hex(4)}", alice, {})
    path = f"{V3}/rooms/{room}/send/m.room.encrypted/{secrets.token_hex(4)}"
    await api.call("PUT", path, alice, {"algorithm": "m.megolm.v1.aes-sha2",
                                        "ciphertext": "regrettable", "session_id": "s"})
    assert ids(await search(api, alice, "regrettable")) == []


async def test_context_state_and_profiles(api: Api) -> None:
    alice = await register(api.client, "alice")
    room = await api.create_room(alice, name="Ctx")
    before = await api.send(alice, room, "before")
    middle = await api.send(alice, room, "the needle")
    after = await api.send(alice, room, "after")
    found = await search(api, alice, "needle", include_state=True,
                         event_context={"before_limit": 1, "after_limit": 1,
                                        "include_profile": True})
    result = found["results"][0]
    assert result["result"]["event_id"] == middle
    context = result["context"]
    assert [e["event_id"] for e in context["events_before"]] == [before]
    assert [e["event_id"] for e in context["events_after"]] == [after]
    assert context["start"].startswith("s") and context["end"].startswith("s")
    assert alice.user_id in context["profile_info"]
    assert {e["type"] for e in found["state"][room]} >= {"m.room.create", "m.room.name"}


async def test_bad_search_bodies(api: Api) -> None:
    alice = await register(api.client, "alice")
    room = await api.create_room(alice)
    await api.send(alice, room, "hello")
    bad_bodies: list[Any] = [
        {}, {"search_categories": []}, {"search_categories": {"room_events": {}}},
        {"search_categories": {"room_events": {"search_term": 5}}},
        {"search_categories": {"room_events": {"search_term": "x" * 5000}}},
        {"search_categories": {"room_events": {"search_term": "x", "keys": ["content.secret"]}}},
        {"search_categories": {"room_events": {"search_term": "x", "keys": "content.body"}}},
        {"search_categories": {"room_events": {"search_term": "x", "order_by": "random"}}},
        {"search_categories": {"room_events": {"search_term": "x", "filter": {"limit": -1}}}},
        {"search_categories": {"room_events": {"search_term": "x",
                                               "filter": {"rooms": ["!r"] * 5000}}}},
        {"search_categories": {"room_events": {"search_term": "x",
                                               "event_context": {"before_limit": 10_000}}}},
    ]
    for body in bad_bodies:
        data = await api.call("POST", f"{V3}/search", alice, body, status=400)
        assert data["errcode"] == "M_BAD_JSON", body
    for batch in ["garbage", "r99999999", "s1x", "r" + "9" * 30]:
        data = await search(api, alice, "hello", status=400, next_batch=batch)
        assert data["errcode"] == "M_INVALID_PARAM", batch
    # A recent-order token is not a rank token.
    data = await search(api, alice, "hello", status=400, next_batch="s5")
    assert data["errcode"] == "M_INVALID_PARAM"
    empty = await api.call("POST", f"{V3}/search", alice, {"search_categories": {}})
    assert empty == {"search_categories": {}}
    await api.call("POST", f"{V3}/search", None, {"search_categories": {}}, status=401)
