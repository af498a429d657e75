"""Room aliases and the public room directory, on both backends."""

from __future__ import annotations

from urllib.parse import quote

from tests.conftest import Api, register

V3 = "/_matrix/client/v3"


def alias_path(alias: str) -> str:
    return f"{V3}/directory/room/{quote(alias)}"


async def test_alias_put_get_delete_and_join(api: Api) -> None:
    alice = await register(api.client, "alice")
    bob = await register(api.client, "bob")
    room = await api.create_room(alice, preset="public_chat")
    await api.call("PUT", alias_path("#lobby:test.local"), alice, {"room_id": room})
    found = await api.call("GET", alias_path("#lobby:test.local"))
    assert found == {"room_id": room, "servers": ["test.local"]}
    assert (await api.call("GET", f"{V3}/rooms/{room}/aliases", alice)) == {
        "aliases": ["#lobby:test.local"]}
    joined = await api.call("POST", f"{V3}/join/{quote('#lobby:test.local')}", bob, {})
    assert joined == {"room_id": room}
    members = await api.call("GET", f"{V3}/rooms/{room}/joined_members", bob)
    assert bob.user_id in members["joined"]
    taken = await api.call("PUT", alias_path("#lobby:test.local"), bob, {"room_id": room},
                           status=409)
    assert taken["errcode"] == "M_UNKNOWN"
    await api.call("DELETE", alias_path("#lobby:test.local"), alice)
    gone = await api.call("GET", alias_path("#lobby:test.local"), status=404)
    assert gone["errcode"] == "M_NOT_FOUND"
    gone = await api.call("POST", f"{V3}/join/{quote('#lobby:test.local')}", bob, {},
                          status=404)
    assert gone["errcode"] == "M_NOT_FOUND"


async def test_non_admin_cannot_delete_an_alias(api: Api) -> None:
    """The attack: a plain member deletes the room's alias to take it for their own room."""
    alice = await register(api.client, "alice")
    mallory = await register(api.client, "mallory")
    room = await api.create_room(alice, preset="public_chat", room_alias_name="town")
    await api.join(mallory, room)
    data = await api.call("DELETE", alias_path("#town:test.local"), mallory, status=403)
    assert data["errcode"] == "M_FORBIDDEN"
    assert (await api.call("GET", alias_path("#town:test.local")))["room_id"] == room
    # An outsider cannot point an alias at a room they are not in, either.
    stranger = await register(api.client, "stranger")
    data = await api.call("PUT", alias_path("#fake:test.local"), stranger, {"room_id": room},
                          status=403)
    assert data["errcode"] == "M_FORBIDDEN"
    # Who made an alias may delete it even without being an admin; so may the admin.
    await api.call("PUT", alias_path("#mine:test.local"), mallory, {"room_id": room})
    await api.call("DELETE", alias_path("#mine:test.local"), mallory)
    await api.call("PUT", alias_path("#again:test.local"), mallory, {"room_id": room})
    await api.call("DELETE", alias_path("#again:test.local"), alice)


async def test_create_room_with_alias_sets_canonical_alias(api: Api) -> None:
    alice = await register(api.client, "alice")
    room = await api.create_room(alice, room_alias_name="team")
    state = await api.call("GET", f"{V3}/rooms/{room}/state/m.room.canonical_alias", alice)
    assert state == {"alias": "#team:test.local"}
    assert (await api.call("GET", alias_path("#team:test.local")))["room_id"] == room
    data = await api.call("POST", f"{V3}/createRoom", alice, {"room_alias_name": "team"},
                          status=400)
    assert data["errcode"] == "M_ROOM_IN_USE"
    rooms = await api.call("GET", f"{V3}/joined_rooms", alice)
    assert rooms["joined_rooms"] == [room]  # the refused one made no room
    for bad in ("a:b", "has space", "", "x" * 300, 5):
        data = await api.call("POST", f"{V3}/createRoom", alice, {"room_alias_name": bad},
                              status=400)
        assert data["errcode"] in ("M_INVALID_PARAM", "M_BAD_JSON"), bad


async def test_alias_bad_input(api: Api) -> None:
    alice = await register(api.client, "alice")
    room = await api.create_room(alice)
    for alias in ("lobby", "#lobby", "#lobby:other.server", "#:test.local",
                  "#" + "a" * 300 + ":test.local", "#a b:test.local"):
        data = await api.call("PUT", alias_path(alias), alice, {"room_id": room}, status=400)
        assert data["errcode"] == "M_INVALID_PARAM", alias
        too_long = len(alias) > 255
        data = await api.call("GET", alias_path(alias), status=400 if too_long else 404)
        assert data["errcode"] == ("M_INVALID_PARAM" if too_long else "M_NOT_FOUND")
    for body in ({}, {"room_id": 5}, {"room_id": "x" * 300}, []):
        data = await api.call("PUT", alias_path("#ok:test.local"), alice, body, status=400)
        assert data["errcode"] == "M_BAD_JSON", body
    data = await api.call("PUT", alias_path("#ok:test.local"), alice,
                          {"room_id": "!nope:test.local"}, status=404)
    assert data["errcode"] == "M_NOT_FOUND"
    data = await api.call("DELETE", alias_path("#never:test.local"), alice, status=404)
    assert data["errcode"] == "M_NOT_FOUND"
    data = await api.call("PUT", alias_path("#ok:test.local"), None, {"room_id": room},
                          status=401)
    assert data["errcode"] == "M_MISSING_TOKEN"
    other = await register(api.client, "other")
    data = await api.call("GET", f"{V3}/rooms/{room}/aliases", other, status=403)
    assert data["errcode"] == "M_FORBIDDEN"


async def test_public_rooms_lists_public_and_listed_rooms_only(api: Api) -> None:
    alice = await register(api.client, "alice")
    bob = await register(api.client, "bob")
    listed = await api.create_room(alice, visibility="public", name="General",
                                   topic="everyone", room_alias_name="general")
    await api.join(bob, listed)
    unlisted = await api.create_room(alice, preset="public_chat", name="Hidden")
    private_listed = await api.create_room(alice, visibility="public", preset="private_chat",
                                           name="Secret")
    dm = (await api.call("POST", f"/_matrix/client/unstable/dm/{bob.user_id}", alice))
    page = await api.call("GET", f"{V3}/publicRooms", bob)
    assert [r["room_id"] for r in page["chunk"]] == [listed]
    entry = page["chunk"][0]
    assert entry == {"room_id": listed, "num_joined_members": 2, "world_readable": False,
                     "guest_can_join": False, "join_rule": "public", "name": "General",
                     "topic": "everyone", "canonical_alias": "#general:test.local"}
    for room in (unlisted, private_listed, dm["room_id"]):
        assert room not in str(page)
    assert await api.call("GET", f"{V3}/directory/list/room/{listed}") == {
        "visibility": "public"}
    assert await api.call("GET", f"{V3}/directory/list/room/{unlisted}") == {
        "visibility": "private"}
    # The admin lists a room; a plain member cannot unlist it.
    await api.call("PUT", f"{V3}/directory/list/room/{unlisted}", alice,
                   {"visibility": "public"})
    data = await api.call("PUT", f"{V3}/directory/list/room/{listed}", bob,
                          {"visibility": "private"}, status=403)
    assert data["errcode"] == "M_FORBIDDEN"
    page = await api.call("POST", f"{V3}/publicRooms", bob, {})
    assert [r["room_id"] for r in page["chunk"]] == [listed, unlisted]  # most members first


async def test_public_rooms_paging_and_search(api: Api) -> None:
    alice = await register(api.client, "alice")
    rooms = sorted([await api.create_room(alice, visibility="public", name=f"Room {i}",
                                          topic="cats" if i % 2 else "dogs")
                    for i in range(5)])
    first = await api.call("POST", f"{V3}/publicRooms", alice, {"limit": 2})
    assert [r["room_id"] for r in first["chunk"]] == rooms[:2]
    assert first["total_room_count_estimate"] == 5 and "prev_batch" not in first
    second = await api.call("POST", f"{V3}/publicRooms", alice,
                            {"limit": 2, "since": first["next_batch"]})
    assert [r["room_id"] for r in second["chunk"]] == rooms[2:4]
    third = await api.call("GET", f"{V3}/publicRooms?limit=2&since={second['next_batch']}",
                           alice)
    assert [r["room_id"] for r in third["chunk"]] == rooms[4:]
    assert "next_batch" not in third and "prev_batch" in third
    cats = await api.call("POST", f"{V3}/publicRooms", alice,
                          {"filter": {"generic_search_term": "CAT"}})
    assert len(cats["chunk"]) == 2 and {r["topic"] for r in cats["chunk"]} == {"cats"}


async def test_public_rooms_bad_input(api: Api) -> None:
    alice = await register(api.client, "alice")
    for body in ({"limit": 0}, {"limit": 100_000}, {"limit": "5"}, {"since": 5},
                 {"filter": {"generic_search_term": "x" * 1000}}, {"filter": []},
                 {"since": "x" * 100}):
        data = await api.call("POST", f"{V3}/publicRooms", alice, body, status=400)
        assert data["errcode"] == "M_BAD_JSON", body
    for body in ({"since": "garbage"}, {"server": "elsewhere.example"}):
        data = await api.call("POST", f"{V3}/publicRooms", alice, body, status=400)
        assert data["errcode"] == "M_INVALID_PARAM", body
    for query in ("limit=abc", "limit=-1", "since=zzz", "server=other.example"):
        data = await api.call("GET", f"{V3}/publicRooms?{query}", alice, status=400)
        assert data["errcode"] == "M_INVALID_PARAM", query
    data = await api.call("GET", f"{V3}/publicRooms", None, status=401)
    assert data["errcode"] == "M_MISSING_TOKEN"
    room = await api.create_room(alice)
    for body in ({"visibility": "open"}, {}, {"visibility": 1}):
        data = await api.call("PUT", f"{V3}/directory/list/room/{room}", alice, body,
                              status=400)
        assert data["errcode"] == "M_BAD_JSON"
    data = await api.call("GET", f"{V3}/directory/list/room/!nope:test.local", status=404)
    assert data["errcode"] == "M_NOT_FOUND"
    data = await api.call("GET", f"{V3}/directory/list/room/nope", status=400)
    assert data["errcode"] == "M_INVALID_PARAM"
