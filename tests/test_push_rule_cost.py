"""Attack: push rules that stall the event loop. Rules are evaluated on the sender's
write, for every receiver, against bodies up to 64 KB; a ruleset of long ``?``-globs
once cost about a minute per event. The write path refuses such rulesets, and what
one evaluation matches is bounded whatever is stored. The cost is counted in glob
steps (text length x pattern length reaching the matcher), not timed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from homeserver.push import conditions
from homeserver.push.conditions import (
    MAX_EVALUATED_PATTERN_CHARS,
    MAX_MATCHED_CHARS,
    RoomFacts,
    evaluate,
)
from homeserver.push.editing import MAX_USER_PATTERN_CHARS
from homeserver.services import Homeserver
from tests.conftest import Api, register

RULES = "/_matrix/client/v3/pushrules/global"
HOSTILE = "*" + "?" * 253 + "b"  # 255 characters: the longest pattern allowed
WORST_BODY = "a" * 63_000 + "b"


def hostile_conditions(count: int = 16) -> list[dict[str, Any]]:
    return [{"kind": "event_match", "key": "content.body", "pattern": HOSTILE}] * count


def message(body: str) -> dict[str, Any]:
    return {"type": "m.room.message", "sender": "@mallory:test.local",
            "room_id": "!r:test.local", "content": {"msgtype": "m.text", "body": body}}


@pytest.fixture
def glob_steps(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Counts the steps of every glob reaching the matchers: the length of the text
    searched times the length of the pattern searched for (the matcher's worst case)."""
    steps: list[int] = []

    def counted(matcher: Any) -> Any:
        def run(segments: tuple[Any, ...], text: str) -> bool:
            steps.append(len(text) * sum(len(s.pattern) for s in segments))
            return matcher(segments, text)
        return run

    def counted_words(literal: str, text: str) -> bool:
        steps.append(min(len(text), MAX_MATCHED_CHARS) * len(literal))
        return find_words(literal, text)

    find_words = conditions._find_words
    monkeypatch.setattr(conditions, "_whole", counted(conditions._whole))
    monkeypatch.setattr(conditions, "_within_words", counted(conditions._within_words))
    monkeypatch.setattr(conditions, "_find_words", counted_words)
    yield steps


# A generous bound on one receiver's evaluation: every pattern character the budget
# allows, against the longest text matched (segment patterns are regex-escaped, so
# count each character as up to two).
MAX_STEPS = 2 * MAX_EVALUATED_PATTERN_CHARS * MAX_MATCHED_CHARS


@pytest.mark.parametrize("kind", ["override", "underride"])
async def test_a_long_condition_pattern_is_refused(api: Api, kind: str) -> None:
    alice = await register(api.client, "alice")
    body = {"actions": ["notify"], "conditions": [
        {"kind": "event_match", "key": "content.body", "pattern": "?" * 256}]}
    error = await api.call("PUT", f"{RULES}/{kind}/long", alice, body, status=400)
    assert error["errcode"] == "M_INVALID_PARAM"
    await api.call("GET", f"{RULES}/{kind}/long", alice, status=404)


async def test_a_users_patterns_are_bounded_in_total(api: Api) -> None:
    """Attack: many rules of many long conditions, each within its own bounds."""
    mallory = await register(api.client, "mallory")
    per_rule = 16 * len(HOSTILE)
    fits = MAX_USER_PATTERN_CHARS // per_rule
    for i in range(fits):
        await api.call("PUT", f"{RULES}/override/slow{i}", mallory,
                       {"actions": ["notify"], "conditions": hostile_conditions()})
    error = await api.call("PUT", f"{RULES}/override/slow{fits}", mallory,
                           {"actions": ["notify"], "conditions": hostile_conditions()},
                           status=400)
    assert error["errcode"] == "M_INVALID_PARAM"
    error = await api.call("PUT", f"{RULES}/content/slow", mallory,
                           {"actions": ["notify"], "pattern": HOSTILE}, status=400)
    assert error["errcode"] == "M_INVALID_PARAM"
    # replacing a rule counts its new patterns instead of its old ones
    await api.call("PUT", f"{RULES}/override/slow0", mallory,
                   {"actions": ["notify"], "conditions": hostile_conditions()})
    await api.call("PUT", f"{RULES}/override/slow0", mallory,
                   {"actions": ["notify"], "conditions": hostile_conditions(1)})
    await api.call("PUT", f"{RULES}/content/slow", mallory,
                   {"actions": ["notify"], "pattern": HOSTILE})


async def test_the_worst_allowed_ruleset_matches_a_long_body_in_bounded_steps(
        homeserver: Homeserver, api: Api, glob_steps: list[int]) -> None:
    mallory = await register(api.client, "mallory")
    for i in range(MAX_USER_PATTERN_CHARS // (16 * len(HOSTILE))):
        await api.call("PUT", f"{RULES}/underride/slow{i}", mallory,
                       {"actions": ["notify"], "conditions": hostile_conditions()})
    ruleset = await homeserver.push_rules.ruleset(mallory.user_id)
    facts = RoomFacts(3, display_names={mallory.user_id: "mallory"})
    result = evaluate(ruleset, message(WORST_BODY), mallory.user_id, facts)
    assert result is not None  # the default underride for messages, after the slow rules
    assert sum(glob_steps) <= MAX_STEPS
    assert max(glob_steps) <= 2 * len(HOSTILE) * MAX_MATCHED_CHARS


def test_rules_stored_before_the_bounds_are_cut_off_by_the_budget(
        glob_steps: list[int]) -> None:
    """100 rules x 16 conditions of hostile patterns, as a database written before the
    write-time bounds could hold: one evaluation still stops within the budget."""
    rules = [{"rule_id": f"slow{i}", "default": False, "enabled": True,
              "actions": ["notify"], "conditions": hostile_conditions()} for i in range(100)]
    result = evaluate({"override": rules}, message(WORST_BODY), "@bob:test.local",
                      RoomFacts(3))
    assert result is None
    assert sum(glob_steps) <= MAX_STEPS
    assert len(glob_steps) <= MAX_EVALUATED_PATTERN_CHARS // len(HOSTILE)


def test_only_the_start_of_a_long_value_is_matched() -> None:
    rule = {"rule_id": "deploy", "default": False, "enabled": True, "actions": ["notify"],
            "pattern": "deploy"}
    early = " ".join(["word"] * 10 + ["deploy"] + ["word"] * 5000)
    late = " ".join(["word"] * 5000 + ["deploy"])
    assert evaluate({"content": [rule]}, message(early), "@b:x", RoomFacts(2)) is not None
    assert evaluate({"content": [rule]}, message(late), "@b:x", RoomFacts(2)) is None


def test_an_overlong_stored_pattern_never_matches() -> None:
    long_pattern = "x" * 300
    rule = {"rule_id": "long", "default": False, "enabled": True, "actions": ["notify"],
            "conditions": [{"kind": "event_match", "key": "content.body",
                            "pattern": long_pattern}]}
    assert evaluate({"override": [rule]}, message(long_pattern), "@b:x", RoomFacts(2)) is None
    rule["conditions"][0]["pattern"] = "x" * 255
    assert evaluate({"override": [rule]}, message("x" * 255), "@b:x", RoomFacts(2)) is not None
