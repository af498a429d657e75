"""A user's push ruleset: the server's defaults merged with the user's own rows, cached.

The write path asks for the rulesets of every receiver of every event, so they
are kept per user in a bounded LRU. A change made on this worker drops its
entry at once; another worker's copy lives at most ``TTL_SECONDS`` (a change
takes effect on the other workers within that time).
"""

from __future__ import annotations

import json
from typing import Any

from homeserver.clock import Clock
from homeserver.lru import LruDict
from homeserver.push.defaults import KINDS, default_rules
from homeserver.storage.database import Database, Queries, Row
from homeserver.storage.push_rules import PushRuleStore

Ruleset = dict[str, list[dict[str, Any]]]
TTL_SECONDS = 10.0
MAX_CACHED = 4096


class Rulesets:
    def __init__(self, store: PushRuleStore, db: Database, clock: Clock,
                 max_cached: int = MAX_CACHED) -> None:
        self.store = store
        self.db = db
        self.clock = clock
        self._cache: LruDict[str, tuple[float, Ruleset]] = LruDict(max_cached)

    async def of(self, user_id: str, conn: Queries | None = None) -> Ruleset:
        """The user's whole ruleset, kind by kind in priority order (spec JSON form)."""
        cached = self._cache.get(user_id)
        if cached is not None and self.clock.monotonic() < cached[0]:
            return cached[1]
        ruleset = merge(user_id, await self.store.rules_of(conn or self.db, user_id))
        self._cache.put(user_id, (self.clock.monotonic() + TTL_SECONDS, ruleset))
        return ruleset

    async def fresh(self, user_id: str, conn: Queries) -> Ruleset:
        """The ruleset as ``conn`` sees it now (inside a change), never from the cache."""
        return merge(user_id, await self.store.rules_of(conn, user_id))

    def forget(self, user_id: str) -> None:
        self._cache.pop(user_id)


def merge(user_id: str, rows: list[Row]) -> Ruleset:
    """Defaults with the user's changes applied; user rules go before the defaults of
    their kind (the spec: user-defined rules outrank server defaults, except that
    underride defaults come after user underrides and override's master comes first)."""
    defaults = default_rules(user_id)
    changes = {(r["kind"], r["rule_id"]): r for r in rows if r["definition"] is None}
    ruleset: Ruleset = {}
    for kind in KINDS:
        own = [_user_rule(r) for r in rows if r["kind"] == kind and r["definition"] is not None]
        merged = [_changed(rule, changes.get((kind, rule["rule_id"])))
                  for rule in defaults[kind]]
        if kind == "override" and merged and merged[0]["rule_id"] == ".m.rule.master":
            ruleset[kind] = [merged[0], *own, *merged[1:]]
        else:
            ruleset[kind] = [*own, *merged]
    return ruleset


def find(ruleset: Ruleset, kind: str, rule_id: str) -> dict[str, Any] | None:
    return next((r for r in ruleset.get(kind, []) if r["rule_id"] == rule_id), None)


def _user_rule(row: Row) -> dict[str, Any]:
    rule = {"rule_id": row["rule_id"], "default": False,
            "enabled": True if row["enabled"] is None else bool(row["enabled"]),
            "actions": json.loads(row["actions"] or "[]")}
    rule.update(json.loads(row["definition"]))
    return rule


def _changed(rule: dict[str, Any], row: Row | None) -> dict[str, Any]:
    if row is None:
        return rule
    changed = dict(rule)
    if row["enabled"] is not None:
        changed["enabled"] = bool(row["enabled"])
    if row["actions"] is not None:
        changed["actions"] = json.loads(row["actions"])
    return changed
