"""Evaluating push rules against one event for one receiver: pure functions.

The first enabled rule (override, content, room, sender, underride) whose
conditions all hold gives the actions. Globs are matched without a
backtracking regex: a pattern is split at its ``*`` into fixed-length
segments found leftmost in order, so a hostile pattern costs at most
(value length x pattern length), never exponential time. That product is
bounded too: a value is matched on its first ``MAX_MATCHED_CHARS`` only, a
pattern longer than ``MAX_PATTERN`` never matches, and one evaluation matches
at most ``MAX_EVALUATED_PATTERN_CHARS`` of pattern (``GlobWork``), so one
receiver's rules cost at most the product of the two per event, whatever they
hold (``editing.py`` refuses rulesets beyond the budget when they are written).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from homeserver.push.defaults import KINDS, LEGACY_MENTION_RULES

_MEMBER_COUNT = re.compile(r"^(==|<=|>=|<|>)?([0-9]{1,9})$")
_MISSING = object()
# Only the start of a long string is matched (a mention 4 KB into a message is missed;
# a 64 KB body would otherwise cost 16x more for each pattern).
MAX_MATCHED_CHARS = 4096
MAX_PATTERN = 255
# A user's own patterns (at most editing.MAX_USER_PATTERN_CHARS) and the defaults' fit.
MAX_EVALUATED_PATTERN_CHARS = 10_240


class GlobWork:
    """The pattern characters one evaluation has matched so far; past the budget a
    glob no longer matches (only rules stored before the write-time bound get there)."""

    def __init__(self, budget: int = MAX_EVALUATED_PATTERN_CHARS) -> None:
        self.budget = budget
        self.pattern_chars = 0
        self.value_chars = 0  # of the values matched: at most MAX_MATCHED_CHARS each

    def charge(self, pattern: str, value: str, longest: int = MAX_PATTERN) -> bool:
        """Count a glob of ``pattern`` over ``value``; False if it is over the budget
        or longer than ``longest``."""
        if len(pattern) > longest or self.pattern_chars + len(pattern) > self.budget:
            return False
        self.pattern_chars += len(pattern)
        self.value_chars += min(len(value), MAX_MATCHED_CHARS)
        return True


@dataclass(frozen=True)
class RoomFacts:
    """What some conditions need beyond the event: read once per event."""

    member_count: int
    power_levels: Mapping[str, Any] = field(default_factory=dict)
    display_names: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    notify: bool
    highlight: bool
    actions: list[Any]


def evaluate(ruleset: Mapping[str, list[dict[str, Any]]], event: Mapping[str, Any],
             user_id: str, facts: RoomFacts, work: GlobWork | None = None) -> Outcome | None:
    """The actions of the first matching rule, or None if no rule matches."""
    work = work or GlobWork()
    has_mentions = isinstance(event.get("content"), dict) and "m.mentions" in event["content"]
    for kind in KINDS:
        for rule in ruleset.get(kind, []):
            if not rule.get("enabled", True):
                continue
            if has_mentions and rule["rule_id"] in LEGACY_MENTION_RULES:
                continue  # intentional mentions replace the legacy rules
            if _rule_matches(kind, rule, event, user_id, facts, work):
                return outcome(rule["actions"])
    return None


def outcome(actions: list[Any]) -> Outcome:
    notify = "notify" in actions
    highlight = any(isinstance(a, dict) and a.get("set_tweak") == "highlight"
                    and a.get("value", True) is True for a in actions)
    return Outcome(notify, highlight and notify, actions)


def _rule_matches(kind: str, rule: dict[str, Any], event: Mapping[str, Any], user_id: str,
                  facts: RoomFacts, work: GlobWork) -> bool:
    if kind == "content":
        body, pattern = value_at(event, "content.body"), rule.get("pattern", "")
        return (isinstance(body, str) and isinstance(pattern, str)
                and work.charge(pattern, body) and glob_matches(pattern, body, words=True))
    if kind == "room":
        return event.get("room_id") == rule["rule_id"]
    if kind == "sender":
        return event.get("sender") == rule["rule_id"]
    return all(condition_holds(c, event, user_id, facts, work)
               for c in rule.get("conditions", []))


def condition_holds(condition: Mapping[str, Any], event: Mapping[str, Any], user_id: str,
                    facts: RoomFacts, work: GlobWork | None = None) -> bool:
    work = work or GlobWork()
    kind = condition.get("kind")
    if kind == "event_match":
        value = value_at(event, condition.get("key", ""))
        pattern = condition.get("pattern")
        return (isinstance(value, str) and isinstance(pattern, str)
                and work.charge(pattern, value)
                and glob_matches(pattern, value, words=condition.get("key") == "content.body"))
    if kind == "event_property_is":
        return _same(value_at(event, condition.get("key", "")), condition.get("value", _MISSING))
    if kind == "event_property_contains":
        found = value_at(event, condition.get("key", ""))
        wanted = condition.get("value", _MISSING)
        return isinstance(found, list) and any(_same(item, wanted) for item in found)
    if kind == "contains_display_name":
        name = facts.display_names.get(user_id)
        body = value_at(event, "content.body")
        return (bool(name) and isinstance(body, str)
                and work.charge(name, body, MAX_MATCHED_CHARS) and _find_words(name, body))
    if kind == "room_member_count":
        return _member_count_is(str(condition.get("is", "")), facts.member_count)
    if kind == "sender_notification_permission":
        return _may_notify(facts.power_levels, str(event.get("sender")), condition.get("key"))
    return False  # the spec: an unknown condition never matches


def value_at(event: Mapping[str, Any], key: str) -> Any:
    """The value at a dotted key (``\\.`` a literal dot, ``\\\\`` a backslash)."""
    node: Any = event
    for part in split_key(key):
        if not isinstance(node, Mapping) or part not in node:
            return _MISSING
        node = node[part]
    return node


@functools.lru_cache(maxsize=4096)
def split_key(key: str) -> tuple[str, ...]:
    """Cached: every message is matched against the same few keys of every ruleset."""
    if "\\" not in key:
        return tuple(key.split("."))
    parts, current, escaped = [], [], False
    for char in key:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ".":
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return tuple(parts)


def _same(found: Any, wanted: Any) -> bool:
    # True == 1 in Python; the spec's values are typed.
    return (found is not _MISSING and wanted is not _MISSING
            and type(found) is type(wanted) and found == wanted)


def _member_count_is(spec: str, count: int) -> bool:
    match = _MEMBER_COUNT.match(spec)
    if match is None:
        return False
    op, number = match.group(1) or "==", int(match.group(2))
    return {"==": count == number, "<": count < number, ">": count > number,
            "<=": count <= number, ">=": count >= number}[op]


def _may_notify(power_levels: Mapping[str, Any], sender: str, key: Any) -> bool:
    if not isinstance(key, str):
        return False
    notifications = power_levels.get("notifications")
    needed = notifications.get(key, 50) if isinstance(notifications, dict) else 50
    users = power_levels.get("users")
    level = users.get(sender) if isinstance(users, dict) else None
    if level is None:
        level = power_levels.get("users_default", 0)
    return _int(level) >= _int(needed)


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


# --- globs --------------------------------------------------------------------------

def glob_matches(pattern: str, value: str, *, words: bool) -> bool:
    """``pattern`` (``*`` any run, ``?`` one character, case-insensitive) matches the
    whole of ``value``, or with ``words`` any part of it bounded by word boundaries;
    only the first ``MAX_MATCHED_CHARS`` of ``value`` count."""
    segments = _segments(pattern.lower())
    text = value[:MAX_MATCHED_CHARS].lower()
    if not words:
        return _whole(segments, text)
    return _within_words(segments, text)


@functools.lru_cache(maxsize=1024)
def _segments(pattern: str) -> tuple[re.Pattern[str], ...]:
    parts = pattern.split("*")
    return tuple(re.compile("".join("." if c == "?" else re.escape(c) for c in part), re.S)
                 for part in parts)


def _whole(segments: tuple[re.Pattern[str], ...], text: str) -> bool:
    if len(segments) == 1:
        return segments[0].fullmatch(text) is not None
    first, *middle, last = segments
    head = first.match(text)
    if head is None:
        return False
    pos = head.end()
    for segment in middle:
        found = segment.search(text, pos)
        if found is None:
            return False
        pos = found.end()
    # The last segment is anchored at the end; it must not overlap what came before.
    tail_len = _fixed_len(last)
    return len(text) - tail_len >= pos and last.fullmatch(text, len(text) - tail_len) is not None


def _within_words(segments: tuple[re.Pattern[str], ...], text: str) -> bool:
    first, *rest = segments
    for start in _starts(first, text):
        pos = start + _fixed_len(first)
        if not rest:
            if _at_word_end(text, pos):
                return True
            continue
        *middle, last = rest
        for segment in middle:
            found = segment.search(text, pos)
            if found is None:
                return False  # no later start can place this segment either
            pos = found.end()
        return _ends_at_word(last, text, pos)
    return False


def _starts(segment: re.Pattern[str], text: str) -> Iterator[int]:
    """Positions at a word start where ``segment`` matches, leftmost first (lazily)."""
    pos = 0
    while pos <= len(text):
        found = segment.search(text, pos)
        if found is None:
            return
        if _at_word_start(text, found.start()):
            yield found.start()
        pos = found.start() + 1


def _ends_at_word(segment: re.Pattern[str], text: str, pos: int) -> bool:
    length = _fixed_len(segment)
    search_from = pos
    while search_from <= len(text):
        found = segment.search(text, search_from)
        if found is None:
            return False
        if _at_word_end(text, found.start() + length):
            return True
        search_from = found.start() + 1
    return False


def _find_words(literal: str, text: str) -> bool:
    needle, haystack = literal.lower(), text[:MAX_MATCHED_CHARS].lower()
    segment = re.compile(re.escape(needle), re.S)
    return any(_at_word_end(haystack, s + len(needle)) for s in _starts(segment, haystack))


def _fixed_len(segment: re.Pattern[str]) -> int:
    return len(re.sub(r"\\(.)", r"\1", segment.pattern))


def _at_word_start(text: str, pos: int) -> bool:
    return pos == 0 or not _is_word(text[pos - 1])


def _at_word_end(text: str, pos: int) -> bool:
    return pos == len(text) or not _is_word(text[pos])


def _is_word(char: str) -> bool:
    return char.isalnum() or char == "_"
