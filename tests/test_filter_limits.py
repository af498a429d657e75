"""A filter's cost is bounded: over-limit filters get 400, the largest allowed one is cheap.

The attack: one account stores an 850 KB filter of wildcard types and syncs
with it; every event was matched against each pattern, compiled anew, and
the whole server (``/versions`` included) waited 34 s.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
from fnmatch import fnmatchcase
from typing import Any

import pytest

from homeserver.services import Homeserver
from homeserver.sync.filters import (
    MAX_ENTRY_LENGTH,
    MAX_FILTER_BYTES,
    MAX_LIST_ENTRIES,
    MAX_WILDCARDS,
    TypePatterns,
)
from tests.conftest import Account, Api, register

V3 = "/_matrix/client/v3"


def wildcards(count: int, tag: str = "") -> list[str]:
    """Long patterns with several stars, none of which matches a real event type."""
    return [f"{tag}{i:03d}.{'x' * 60}*{'y' * 60}*{'z' * 60}*{'w' * 60}"[:MAX_ENTRY_LENGTH]
            for i in range(count)]


def largest_allowed_filter() -> dict[str, Any]:
    event_filter = {
        "types": ["m.room.message", *wildcards(MAX_WILDCARDS, "t")],
        "not_types": ["m.room.message.*", *wildcards(MAX_WILDCARDS - 1, "n")],
        "not_senders": [f"@u{i}:test.local" for i in range(300)],
    }
    room_filter = {"not_rooms": [f"!r{i}:test.local" for i in range(300)],
                   "timeline": event_filter, "state": event_filter}
    data = {"room": room_filter, "presence": event_filter, "account_data": event_filter}
    data["padding"] = "p" * (MAX_FILTER_BYTES - len(json.dumps(data)) - 20)
    return data


async def post_filter(api: Api, who: Account, data: Any) -> Any:
    return await api.client.post(f"{V3}/user/{who.user_id}/filter", data=json.dumps(data),
                                 headers=who.auth)


OVER_LIMIT = {
    "850 KB of wildcards": {"room": {"timeline": {"not_types": [
        f"x{i}*y*z*" for i in range(60_000)]}}},
    "too many entries": {"room": {"rooms": [f"!r{i}:x" for i in range(MAX_LIST_ENTRIES + 1)]}},
    "too many wildcards": {"room": {"state": {"types": wildcards(MAX_WILDCARDS + 1)}}},
    "too long an entry": {"presence": {"senders": ["@" + "a" * MAX_ENTRY_LENGTH]}},
    "too big in all": {"event_fields": ["a" * 200] * (MAX_FILTER_BYTES // 200)},
    "too big in unknown keys": {"junk": "j" * MAX_FILTER_BYTES},
}


@pytest.mark.parametrize("case", OVER_LIMIT)
async def test_over_limit_filters_are_refused_stored_and_inline(api: Api, case: str) -> None:
    alice = await register(api.client, "alice")
    stored = await post_filter(api, alice, OVER_LIMIT[case])
    assert (stored.status, (await stored.json())["errcode"]) == (400, "M_BAD_JSON")
    inline = json.dumps(OVER_LIMIT[case])
    if len(inline) < 4000:  # longer ones do not fit in a URL at all
        resp = await api.client.get(f"{V3}/sync", params={"filter": inline}, headers=alice.auth)
        assert (resp.status, (await resp.json())["errcode"]) == (400, "M_BAD_JSON")


async def test_a_huge_filter_stored_before_the_limits_is_refused_at_sync(
    api: Api, homeserver: Homeserver
) -> None:
    alice = await register(api.client, "alice")
    huge = json.dumps(OVER_LIMIT["850 KB of wildcards"])
    filter_id = await homeserver.user_data.store.add_filter(alice.user_id, huge)
    resp = await api.client.get(f"{V3}/sync", params={"filter": filter_id}, headers=alice.auth)
    assert (resp.status, (await resp.json())["errcode"]) == (400, "M_BAD_JSON")


async def test_the_largest_allowed_filter_syncs_while_others_are_served(api: Api) -> None:
    alice = await register(api.client, "alice")
    room = await api.create_room(alice, name="busy")
    for i in range(20):
        await api.send(alice, room, f"message {i}")
    data = largest_allowed_filter()
    assert MAX_FILTER_BYTES - 100 < len(json.dumps(data)) <= MAX_FILTER_BYTES
    stored = await post_filter(api, alice, data)
    assert stored.status == 200, await stored.text()
    filter_id = (await stored.json())["filter_id"]

    sync, versions = await asyncio.gather(
        api.client.get(f"{V3}/sync", params={"filter": filter_id}, headers=alice.auth),
        api.client.get("/_matrix/client/versions"),
    )
    assert versions.status == 200
    assert sync.status == 200, await sync.text()
    joined = (await sync.json())["rooms"]["join"][room]
    assert [e["type"] for e in joined["timeline"]["events"]] == ["m.room.message"] * 10
    assert joined["state"]["events"] == []  # no state event is of type m.room.message


async def test_wildcards_match_as_the_spec_says(api: Api) -> None:
    alice = await register(api.client, "alice")
    room = await api.create_room(alice, name="kinds")
    await api.send(alice, room, "hello")
    only = json.dumps({"room": {"timeline": {"types": ["m.room.na*", "*.mess?ge"]},
                                "state": {"types": ["*"], "not_types": ["m.*.power*"]}}})
    synced = await api.sync(alice, filter=only)
    joined = synced["rooms"]["join"][room]
    assert [e["type"] for e in joined["timeline"]["events"]] == ["m.room.name"]  # ? is literal
    state_types = {e["type"] for e in joined["state"]["events"]}
    assert "m.room.create" in state_types and "m.room.power_levels" not in state_types


def test_compiled_patterns_agree_with_a_plain_glob() -> None:
    """``*`` is the only wildcard; everything else, ``?`` and ``[`` included, is literal."""
    rng = random.Random(12)
    for _ in range(5000):
        glob = "".join(rng.choice("ab*?[.") for _ in range(rng.randint(0, 7)))
        value = "".join(rng.choice("ab?[.") for _ in range(rng.randint(0, 8)))
        literal = re.sub(r"([?\[])", r"[\1]", glob)
        assert TypePatterns([glob]).matches(value) == fnmatchcase(value, literal), (glob, value)
