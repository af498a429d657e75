"""SQL for a user's push rules: their own rules, and their changes to the server's defaults."""

from __future__ import annotations

from homeserver.storage.database import Connection, Queries, Row


class PushRuleStore:
    async def rules_of(self, conn: Queries, user_id: str) -> list[Row]:
        """Every row of the user's, by kind and priority (lower first)."""
        return await conn.fetch(
            "SELECT kind, rule_id, priority, definition, enabled, actions FROM push_rules"
            " WHERE user_id = $1 ORDER BY kind, priority, rule_id",
            user_id,
        )

    async def put_rule(self, conn: Connection, user_id: str, kind: str, rule_id: str,
                       priority: int, definition: str | None, enabled: bool | None,
                       actions: str | None) -> None:
        await conn.execute(
            "INSERT INTO push_rules (user_id, kind, rule_id, priority, definition, enabled,"
            " actions) VALUES ($1, $2, $3, $4, $5, $6, $7)"
            " ON CONFLICT (user_id, kind, rule_id) DO UPDATE SET priority = excluded.priority,"
            " definition = excluded.definition, enabled = excluded.enabled,"
            " actions = excluded.actions",
            user_id, kind, rule_id, priority, definition, enabled, actions,
        )

    async def set_priority(self, conn: Connection, user_id: str, kind: str, rule_id: str,
                           priority: int) -> None:
        await conn.execute(
            "UPDATE push_rules SET priority = $4 WHERE user_id = $1 AND kind = $2"
            " AND rule_id = $3",
            user_id, kind, rule_id, priority,
        )

    async def delete_rule(self, conn: Connection, user_id: str, kind: str, rule_id: str) -> bool:
        deleted = await conn.execute(
            "DELETE FROM push_rules WHERE user_id = $1 AND kind = $2 AND rule_id = $3",
            user_id, kind, rule_id,
        )
        return deleted > 0
