"""SQL for the keys devices publish: device keys, one-time and fallback keys,
cross-signing keys and the signatures uploaded on them."""

from __future__ import annotations

import json
from typing import Any

from homeserver.storage.database import Connection, Database, Queries


class E2eKeyStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def set_device_keys(self, conn: Connection, user_id: str, device_id: str,
                              key_json: str) -> bool:
        """Store the device's keys; False when they were already exactly these."""
        changed = await conn.execute(
            "INSERT INTO e2e_device_keys (user_id, device_id, key_json) VALUES ($1, $2, $3)"
            " ON CONFLICT (user_id, device_id) DO UPDATE SET key_json = excluded.key_json"
            " WHERE e2e_device_keys.key_json <> excluded.key_json",
            user_id, device_id, key_json,
        )
        return changed == 1

    async def device_keys(self, conn: Queries, user_ids: list[str]) -> dict[str, dict[str, Any]]:
        """user -> device -> keys (with the device's display name), for these users."""
        if not user_ids:
            return {}
        marks = ", ".join(f"${i + 1}" for i in range(len(user_ids)))
        rows = await conn.fetch(
            "SELECT k.user_id, k.device_id, k.key_json, d.display_name FROM e2e_device_keys k"
            " JOIN devices d ON d.user_id = k.user_id AND d.device_id = k.device_id"
            f" WHERE k.user_id IN ({marks})",
            *user_ids,
        )
        found: dict[str, dict[str, Any]] = {}
        for row in rows:
            keys = json.loads(row["key_json"])
            if row["display_name"] is not None:
                keys["unsigned"] = {"device_display_name": row["display_name"]}
            found.setdefault(row["user_id"], {})[row["device_id"]] = keys
        return found

    async def add_one_time_keys(self, conn: Connection, user_id: str, device_id: str,
                                keys: list[tuple[str, str, str]]) -> None:
        """Add (algorithm, key ID, key JSON) triples; a key ID already held is kept."""
        for algorithm, key_id, key_json in keys:
            await conn.execute(
                "INSERT INTO e2e_one_time_keys (user_id, device_id, algorithm, key_id, key_json)"
                " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                user_id, device_id, algorithm, key_id, key_json,
            )

    async def one_time_key_counts(self, conn: Queries, user_id: str,
                                  device_id: str) -> dict[str, int]:
        rows = await conn.fetch(
            "SELECT algorithm, COUNT(*) AS n FROM e2e_one_time_keys"
            " WHERE user_id = $1 AND device_id = $2 GROUP BY algorithm",
            user_id, device_id,
        )
        # signed_curve25519 is always named, 0 included: an absent count reads to some
        # clients (matrix-rust-sdk) as "not known", and they never top the keys up.
        return {"signed_curve25519": 0, **{r["algorithm"]: int(r["n"]) for r in rows}}

    async def fallback_algorithm_count(self, conn: Queries, user_id: str,
                                       device_id: str) -> int:
        return int(await conn.fetchval(
            "SELECT COUNT(*) FROM e2e_fallback_keys WHERE user_id = $1 AND device_id = $2",
            user_id, device_id,
        ))

    async def take_one_time_key(self, conn: Connection, user_id: str, device_id: str,
                                algorithm: str) -> tuple[str, str] | None:
        """Remove and return one (key ID, key JSON); the caller holds the user's lock."""
        row = await conn.fetchrow(
            "SELECT key_id, key_json FROM e2e_one_time_keys WHERE user_id = $1"
            " AND device_id = $2 AND algorithm = $3 ORDER BY key_id LIMIT 1",
            user_id, device_id, algorithm,
        )
        if row is None:
            return None
        await conn.execute(
            "DELETE FROM e2e_one_time_keys WHERE user_id = $1 AND device_id = $2"
            " AND algorithm = $3 AND key_id = $4",
            user_id, device_id, algorithm, row["key_id"],
        )
        return row["key_id"], row["key_json"]

    async def set_fallback_key(self, conn: Connection, user_id: str, device_id: str,
                               algorithm: str, key_id: str, key_json: str) -> None:
        """Replace the algorithm's fallback key; the same key again keeps its used mark."""
        await conn.execute(
            "INSERT INTO e2e_fallback_keys (user_id, device_id, algorithm, key_id, key_json,"
            " used) VALUES ($1, $2, $3, $4, $5, FALSE) ON CONFLICT (user_id, device_id,"
            " algorithm) DO UPDATE SET key_id = excluded.key_id, key_json = excluded.key_json,"
            " used = FALSE WHERE e2e_fallback_keys.key_id <> excluded.key_id"
            " OR e2e_fallback_keys.key_json <> excluded.key_json",
            user_id, device_id, algorithm, key_id, key_json,
        )

    async def use_fallback_key(self, conn: Connection, user_id: str, device_id: str,
                               algorithm: str) -> tuple[str, str] | None:
        row = await conn.fetchrow(
            "UPDATE e2e_fallback_keys SET used = TRUE WHERE user_id = $1 AND device_id = $2"
            " AND algorithm = $3 RETURNING key_id, key_json",
            user_id, device_id, algorithm,
        )
        return None if row is None else (row["key_id"], row["key_json"])

    async def unused_fallback_types(self, conn: Queries, user_id: str,
                                    device_id: str) -> list[str]:
        rows = await conn.fetch(
            "SELECT algorithm FROM e2e_fallback_keys WHERE user_id = $1 AND device_id = $2"
            " AND NOT used ORDER BY algorithm",
            user_id, device_id,
        )
        return [r["algorithm"] for r in rows]

    async def forget_devices(self, conn: Connection, user_id: str,
                             device_ids: list[str]) -> None:
        """Every key of these devices, and the signatures made on them."""
        for device_id in device_ids:
            for table in ("e2e_device_keys", "e2e_one_time_keys", "e2e_fallback_keys"):
                await conn.execute(
                    f"DELETE FROM {table} WHERE user_id = $1 AND device_id = $2",
                    user_id, device_id,
                )
            await conn.execute(
                "DELETE FROM e2e_signatures WHERE target_user = $1 AND target_key_id = $2",
                user_id, device_id,
            )

    async def cross_signing_keys(self, conn: Queries,
                                 user_ids: list[str]) -> dict[str, dict[str, dict[str, Any]]]:
        """user -> key type -> key object."""
        if not user_ids:
            return {}
        marks = ", ".join(f"${i + 1}" for i in range(len(user_ids)))
        rows = await conn.fetch(
            "SELECT user_id, key_type, key_json FROM e2e_cross_signing_keys"
            f" WHERE user_id IN ({marks})",
            *user_ids,
        )
        found: dict[str, dict[str, dict[str, Any]]] = {}
        for row in rows:
            found.setdefault(row["user_id"], {})[row["key_type"]] = json.loads(row["key_json"])
        return found

    async def set_cross_signing_key(self, conn: Connection, user_id: str, key_type: str,
                                    public_key: str, key_json: str) -> None:
        await conn.execute(
            "INSERT INTO e2e_cross_signing_keys (user_id, key_type, public_key, key_json)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, key_type) DO UPDATE"
            " SET public_key = excluded.public_key, key_json = excluded.key_json",
            user_id, key_type, public_key, key_json,
        )

    async def add_signature(self, conn: Connection, target_user: str, target_key_id: str,
                            signer_user: str, signer_key_id: str, signature: str) -> None:
        await conn.execute(
            "INSERT INTO e2e_signatures (target_user, target_key_id, signer_user,"
            " signer_key_id, signature) VALUES ($1, $2, $3, $4, $5)"
            " ON CONFLICT (target_user, target_key_id, signer_user, signer_key_id)"
            " DO UPDATE SET signature = excluded.signature",
            target_user, target_key_id, signer_user, signer_key_id, signature,
        )

    async def signatures(self, conn: Queries, user_ids: list[str],
                         viewer: str) -> list[Any]:
        """Signatures on these users' keys that ``viewer`` may see: each user's own, and
        the viewer's (another user's signature on someone is that signer's business)."""
        if not user_ids:
            return []
        marks = ", ".join(f"${i + 2}" for i in range(len(user_ids)))
        return await conn.fetch(
            "SELECT target_user, target_key_id, signer_user, signer_key_id, signature"
            f" FROM e2e_signatures WHERE target_user IN ({marks})"
            " AND (signer_user = target_user OR signer_user = $1)",
            viewer, *user_ids,
        )
