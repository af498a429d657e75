"""Push rule conditions as pure functions: globs, dotted keys, typed values, counts."""

from __future__ import annotations

import time

import pytest

from homeserver.push.conditions import RoomFacts, condition_holds, glob_matches, value_at


@pytest.mark.parametrize(("pattern", "value", "words", "matches"), [
    ("m.notice", "M.NOTICE", False, True),
    ("m.notice", "m.notices", False, False),
    ("f*o", "fxxo", False, True),
    ("f?o", "fo", False, False),
    ("a*a", "a", False, False),
    ("*", "", False, True),
    ("alice", "hi Alice!", True, True),
    ("alice", "hi alicebob", True, False),
    ("ali*", "hi alicebob there", True, True),
    ("@room", "ping @room now", True, True),
    ("de*ed", "it deployed fine", True, True),
    ("de*ed", "it deployedx fine", True, False),
])
def test_globs(pattern: str, value: str, words: bool, matches: bool) -> None:
    assert glob_matches(pattern, value, words=words) is matches


def test_a_hostile_glob_costs_linear_time() -> None:
    """Attack: a rule pattern that would make a backtracking regex take forever."""
    start = time.monotonic()
    for words in (True, False):
        assert not glob_matches("a*a*a*a*a*a*a*a*c", "a" * 65_000, words=words)
    assert time.monotonic() - start < 2


def test_keys_values_and_member_counts() -> None:
    event = {"sender": "@a:x", "content": {"m.mentions": {"room": True, "user_ids": ["@b:x"]},
                                           "n": 1}}
    assert value_at(event, "content.m\\.mentions.room") is True
    facts = RoomFacts(member_count=2)
    holds = lambda c: condition_holds(c, event, "@b:x", facts)  # noqa: E731
    assert holds({"kind": "event_property_is", "key": "content.m\\.mentions.room",
                  "value": True})
    assert not holds({"kind": "event_property_is", "key": "content.n", "value": True})
    assert holds({"kind": "event_property_contains", "key": "content.m\\.mentions.user_ids",
                  "value": "@b:x"})
    assert holds({"kind": "room_member_count", "is": "2"})
    assert holds({"kind": "room_member_count", "is": ">=2"})
    assert not holds({"kind": "room_member_count", "is": "<2"})
    assert not holds({"kind": "room_member_count", "is": "two"})
    assert not holds({"kind": "something_new"})
    assert not holds({"kind": "sender_notification_permission", "key": "room"})
