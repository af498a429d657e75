"""Changing a user's push rules: add, move, delete, enable, set actions.

Every change is one write under the user's lock, and rewrites the user's
``m.push_rules`` global account data in the same transaction, so /sync
(where clients such as matrix-js-sdk read the rules) shows it at once.
Bounds: rule IDs, patterns (each, and all of a user's together: they are matched
against every event the user receives, on the sender's write), conditions,
actions and rules per user.
"""

from __future__ import annotations

import json
from typing import Any

from homeserver.errors import Forbidden, InvalidParam, NotFound
from homeserver.ids import is_valid_user_id
from homeserver.push.conditions import MAX_PATTERN
from homeserver.push.defaults import KINDS
from homeserver.push.rules import Ruleset, Rulesets, find
from homeserver.rooms.transactions import Writes, WriteTxn
from homeserver.storage.push_rules import PushRuleStore
from homeserver.user_data import UserDataService

MAX_RULES_PER_USER = 100
MAX_RULE_ID = 255
# Below conditions.MAX_EVALUATED_PATTERN_CHARS, which leaves room for the defaults.
MAX_USER_PATTERN_CHARS = 8192
MAX_CONDITIONS = 16
MAX_CONDITION_BYTES = 1024
MAX_ACTIONS = 8
MAX_ACTION_BYTES = 256
SIMPLE_ACTIONS = {"notify", "dont_notify", "coalesce"}
PUSH_RULES_TYPE = "m.push_rules"


def check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise InvalidParam(f"Unknown push rule kind {kind!r}")


def check_actions(actions: Any) -> list[Any]:
    if not isinstance(actions, list) or len(actions) > MAX_ACTIONS:
        raise InvalidParam(f"actions must be a list of at most {MAX_ACTIONS}")
    for action in actions:
        if isinstance(action, str):
            if action not in SIMPLE_ACTIONS:
                raise InvalidParam(f"Unknown action {action[:32]!r}")
        elif not (isinstance(action, dict) and isinstance(action.get("set_tweak"), str)
                  and len(json.dumps(action)) <= MAX_ACTION_BYTES):
            raise InvalidParam("An action is a string or a small {set_tweak, value} object")
    return actions


def _check_conditions(conditions: Any) -> list[dict[str, Any]]:
    if not isinstance(conditions, list) or len(conditions) > MAX_CONDITIONS:
        raise InvalidParam(f"conditions must be a list of at most {MAX_CONDITIONS}")
    for condition in conditions:
        if not isinstance(condition, dict) or not isinstance(condition.get("kind"), str):
            raise InvalidParam("Each condition is an object with a kind")
        if len(json.dumps(condition)) > MAX_CONDITION_BYTES:
            raise InvalidParam(f"A condition may be at most {MAX_CONDITION_BYTES} bytes")
        for name in ("key", "pattern", "is"):
            if name in condition and not isinstance(condition[name], str):
                raise InvalidParam(f"A condition's {name} must be a string")
        if len(condition.get("pattern", "")) > MAX_PATTERN:
            raise InvalidParam(f"A pattern may be at most {MAX_PATTERN} characters")
    return conditions


def pattern_chars(rule: dict[str, Any]) -> int:
    """How many pattern characters a rule (stored form) makes every event match."""
    patterns = [rule.get("pattern")] + [c.get("pattern") for c in rule.get("conditions", [])
                                        if isinstance(c, dict)]
    return sum(len(p) for p in patterns if isinstance(p, str))


def definition_of(kind: str, rule_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """The stored form of a user rule from a PUT body, checked and bounded."""
    if rule_id.startswith(".") or "\\" in rule_id or "/" in rule_id or not rule_id:
        raise InvalidParam("Rule IDs may not start with '.' or hold '/' or '\\'")
    if len(rule_id) > MAX_RULE_ID:
        raise InvalidParam(f"Rule IDs are at most {MAX_RULE_ID} characters")
    if kind == "content":
        pattern = body.get("pattern")
        if not isinstance(pattern, str) or not pattern or len(pattern) > MAX_PATTERN:
            raise InvalidParam(f"A content rule needs a pattern of 1-{MAX_PATTERN} characters")
        return {"pattern": pattern}
    if kind == "room":
        if not rule_id.startswith("!"):
            raise InvalidParam("A room rule's ID is a room ID")
        return {}
    if kind == "sender":
        if not is_valid_user_id(rule_id):
            raise InvalidParam("A sender rule's ID is a user ID")
        return {}
    return {"conditions": _check_conditions(body.get("conditions", []))}


class PushRuleService:
    def __init__(self, store: PushRuleStore, rulesets: Rulesets, writes: Writes,
                 user_data: UserDataService) -> None:
        self.store = store
        self.rulesets = rulesets
        self.writes = writes
        self.user_data = user_data

    async def ruleset(self, user_id: str) -> Ruleset:
        return await self.rulesets.of(user_id)

    async def rule(self, user_id: str, kind: str, rule_id: str) -> dict[str, Any]:
        check_kind(kind)
        found = find(await self.rulesets.of(user_id), kind, rule_id)
        if found is None:
            raise NotFound("Unknown push rule")
        return found

    async def add(self, user_id: str, kind: str, rule_id: str, body: dict[str, Any],
                  before: str | None, after: str | None) -> None:
        """Add or replace a user rule, placed before/after another user rule or first."""
        check_kind(kind)
        actions = check_actions(body.get("actions"))
        definition = definition_of(kind, rule_id, body)
        async with self.writes.transaction() as txn:
            await txn.lock_user(user_id)
            ruleset = await self.rulesets.fresh(user_id, txn.conn)
            own = [r["rule_id"] for r in ruleset[kind] if not r["default"]]
            existing = find(ruleset, kind, rule_id)
            if existing is None and sum(
                    1 for k in KINDS for r in ruleset[k] if not r["default"]) >= MAX_RULES_PER_USER:
                raise Forbidden(f"At most {MAX_RULES_PER_USER} push rules per user")
            _check_pattern_budget(ruleset, kind, rule_id, definition)
            order = _placed([r for r in own if r != rule_id], rule_id, before, after)
            enabled = existing["enabled"] if existing else True
            for priority, other in enumerate(order):
                if other == rule_id:
                    await self.store.put_rule(txn.conn, user_id, kind, rule_id, priority,
                                              json.dumps(definition), enabled,
                                              json.dumps(actions))
                else:
                    await self.store.set_priority(txn.conn, user_id, kind, other, priority)
            await self._publish(txn, user_id)

    async def delete(self, user_id: str, kind: str, rule_id: str) -> None:
        check_kind(kind)
        async with self.writes.transaction() as txn:
            await txn.lock_user(user_id)
            found = find(await self.rulesets.fresh(user_id, txn.conn), kind, rule_id)
            if found is None:
                raise NotFound("Unknown push rule")
            if found["default"]:
                raise Forbidden("The server's default rules cannot be deleted")
            await self.store.delete_rule(txn.conn, user_id, kind, rule_id)
            await self._publish(txn, user_id)

    async def set_enabled(self, user_id: str, kind: str, rule_id: str, enabled: bool) -> None:
        await self._change(user_id, kind, rule_id, "enabled", enabled)

    async def set_actions(self, user_id: str, kind: str, rule_id: str, actions: Any) -> None:
        await self._change(user_id, kind, rule_id, "actions", check_actions(actions))

    async def _change(self, user_id: str, kind: str, rule_id: str, what: str,
                      value: Any) -> None:
        check_kind(kind)
        async with self.writes.transaction() as txn:
            await txn.lock_user(user_id)
            ruleset = await self.rulesets.fresh(user_id, txn.conn)
            found = find(ruleset, kind, rule_id)
            if found is None:
                raise NotFound("Unknown push rule")
            rule = {**found, what: value}
            own = [r["rule_id"] for r in ruleset[kind] if not r["default"]]
            definition = None if rule["default"] else json.dumps(
                {k: rule[k] for k in ("conditions", "pattern") if k in rule})
            await self.store.put_rule(
                txn.conn, user_id, kind, rule_id,
                own.index(rule_id) if rule_id in own else 0, definition,
                rule["enabled"], json.dumps(rule["actions"]))
            await self._publish(txn, user_id)

    async def _publish(self, txn: WriteTxn, user_id: str) -> None:
        ruleset = await self.rulesets.fresh(user_id, txn.conn)
        await self.user_data.put_in(txn, user_id, PUSH_RULES_TYPE, {"global": ruleset})
        txn.on_commit(lambda: self.rulesets.forget(user_id))


def _check_pattern_budget(ruleset: Ruleset, kind: str, rule_id: str,
                          definition: dict[str, Any]) -> None:
    """Forbidden if the user's own rules, with this one added or replaced, hold more
    than ``MAX_USER_PATTERN_CHARS`` of patterns."""
    others = sum(pattern_chars(r) for k in KINDS for r in ruleset[k]
                 if not r["default"] and (k, r["rule_id"]) != (kind, rule_id))
    if others + pattern_chars(definition) > MAX_USER_PATTERN_CHARS:
        raise InvalidParam(
            f"A user's push rules may hold at most {MAX_USER_PATTERN_CHARS} pattern characters")


def _placed(order: list[str], rule_id: str, before: str | None, after: str | None) -> list[str]:
    anchor = before or after
    if anchor is None:
        return [rule_id, *order]
    if anchor not in order:
        if anchor.startswith("."):
            raise InvalidParam("Rules cannot be placed relative to a server default rule")
        raise NotFound(f"No push rule {anchor[:64]!r} of this kind to place it by")
    index = order.index(anchor) + (0 if before else 1)
    return [*order[:index], rule_id, *order[index:]]
