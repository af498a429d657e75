"""The user directory over HTTP on both backends: who a search finds, and when."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from homeserver.app import create_app
from homeserver.clock import FakeClock
from homeserver.services import Homeserver, build_homeserver
from homeserver.user_directory import search_words, terms_of
from tests.conftest import Account, Api, make_config, register

SEARCH = "/_matrix/client/v3/user_directory/search"


async def search(client: TestClient, who: Account, term: str, limit: int | None = None,
                 ) -> dict[str, Any]:
    body: dict[str, Any] = {"search_term": term}
    if limit is not None:
        body["limit"] = limit
    resp = await client.post(SEARCH, json=body, headers=who.auth)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def found(client: TestClient, who: Account, term: str) -> list[str]:
    return [r["user_id"] for r in (await search(client, who, term))["results"]]


async def set_name(client: TestClient, who: Account, name: str) -> None:
    resp = await client.put(f"/_matrix/client/v3/profile/{who.user_id}/displayname",
                            json={"displayname": name}, headers=who.auth)
    assert resp.status == 200


def test_terms() -> None:
    assert terms_of("@alice.smith:test.local", "Alice Émilie SMITH") == [
        "alice", "smith", "émilie", "alice.smith"]
    assert search_words("@Alice.Sm:test.local") == ["alice", "sm"]
    assert search_words("  ") == []


async def test_search_by_display_name_and_id_among_room_members(client: TestClient,
                                                                api: Api) -> None:
    alice, bob = await register(client, "alice"), await register(client, "bob.jones")
    carol = await register(client, "carol")
    await set_name(client, bob, "Robert Jones")
    await set_name(client, carol, "Roberta Stranger")
    room = await api.create_room(alice)
    await api.invite(alice, room, bob.user_id)
    await api.join(bob, room)
    result = await search(client, alice, "rob")
    assert result == {"results": [{"user_id": bob.user_id, "display_name": "Robert Jones",
                                   "avatar_url": None}], "limited": False}
    assert await found(client, alice, "JON") == [bob.user_id]  # a later word, any case
    assert await found(client, alice, "robert jo") == [bob.user_id]  # every word
    assert await found(client, alice, "robert x") == []
    assert await found(client, alice, "bob.jo") == [bob.user_id]  # the user ID
    assert await found(client, alice, "@bob.jones:test.local") == [bob.user_id]
    assert await found(client, alice, "obert") == []  # words match from their start
    # Carol shares no room with alice: the attack is finding her anyway.
    assert await found(client, alice, "roberta") == []
    assert await found(client, alice, "carol") == []
    assert await found(client, carol, "robert") == [carol.user_id]  # herself only
    assert await found(client, carol, "jones") == []
    # An invite is not a shared room either; a join is.
    await api.invite(alice, room, carol.user_id)
    assert await found(client, alice, "carol") == []
    await api.join(carol, room)
    assert await found(client, alice, "carol") == [carol.user_id]


@pytest.fixture
async def open_client(tmp_path: Path, database_url: str, clock: FakeClock,
                      aiohttp_client: Any) -> TestClient:
    server = await build_homeserver(make_config(
        tmp_path, database_url, **{"user_directory.search_all_users": True}), clock)
    return await aiohttp_client(create_app(server))


async def test_search_all_users_finds_everyone(open_client: TestClient) -> None:
    alice, bob = await register(open_client, "alice"), await register(open_client, "bob")
    await set_name(open_client, bob, "Bobby Tables")
    assert await found(open_client, alice, "tables") == [bob.user_id]
    assert await found(open_client, alice, "bob") == [bob.user_id]


async def test_profile_changes_are_reflected(client: TestClient, api: Api) -> None:
    alice, bob = await register(client, "alice"), await register(client, "bob")
    room = await api.create_room(alice, invite=[bob.user_id])
    await api.join(bob, room)
    await set_name(client, bob, "Zebedee")
    assert await found(client, alice, "zeb") == [bob.user_id]
    await set_name(client, bob, "Quentin")
    assert await found(client, alice, "zeb") == []
    assert await found(client, alice, "quen") == [bob.user_id]
    resp = await client.post("/_matrix/media/v3/upload", data=b"img",
                             headers={**bob.auth, "Content-Type": "image/png"})
    uri = (await resp.json())["content_uri"]
    resp = await client.put(f"/_matrix/client/v3/profile/{bob.user_id}/avatar_url",
                            json={"avatar_url": uri}, headers=bob.auth)
    assert resp.status == 200
    result = await search(client, alice, "quentin")
    assert result["results"][0]["avatar_url"] == uri


async def test_limit_and_limited(client: TestClient, api: Api) -> None:
    alice = await register(client, "alice")
    room = await api.create_room(alice, preset="public_chat")
    for i in range(4):
        member = await register(client, f"member{i}")
        await api.join(member, room)
    result = await search(client, alice, "member", limit=3)
    assert [r["user_id"] for r in result["results"]] == [
        f"@member{i}:test.local" for i in range(3)]
    assert result["limited"] is True
    result = await search(client, alice, "member", limit=4)
    assert len(result["results"]) == 4 and result["limited"] is False


async def test_users_from_before_the_directory_are_indexed_at_start(
        client: TestClient, homeserver: Homeserver) -> None:
    alice = await register(client, "alice")
    await homeserver.db.execute("DELETE FROM user_directory_terms")
    assert await found(client, alice, "alice") == []
    assert await homeserver.user_directory.backfill() == 1
    assert await found(client, alice, "alice") == [alice.user_id]


@pytest.mark.parametrize("body", [
    {}, {"search_term": 5}, {"search_term": None}, {"search_term": "x" * 257},
    {"search_term": "a", "limit": 51}, {"search_term": "a", "limit": -1},
    {"search_term": "a", "limit": "10"}, {"search_term": ["a"]},
])
async def test_bad_search_bodies(client: TestClient, body: dict[str, Any]) -> None:
    alice = await register(client, "alice")
    resp = await client.post(SEARCH, json=body, headers=alice.auth)
    assert resp.status == 400
    assert (await resp.json())["errcode"].startswith("M_")


async def test_search_needs_a_token(client: TestClient) -> None:
    resp = await client.post(SEARCH, json={"search_term": "a"})
    assert resp.status == 401


async def test_punctuation_only_finds_nobody(client: TestClient) -> None:
    alice = await register(client, "alice")
    assert await search(client, alice, "%_*'\"") == {"results": [], "limited": False}
