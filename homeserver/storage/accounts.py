"""SQL for accounts: users, profiles, devices, access tokens, auth sessions."""

from __future__ import annotations

from dataclasses import dataclass

from homeserver.models import Device
from homeserver.storage.database import Database, Queries, Row


@dataclass(frozen=True)
class TokenOwner:
    user_id: str
    device_id: str


class AccountStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create_user(self, user_id: str, password_hash: str | None, now_ms: int,
                          displayname: str | None = None) -> bool:
        """Insert the user; False when the ID is taken (the UNIQUE key decides)."""
        changed = await self.db.execute(
            "INSERT INTO users (user_id, password_hash, created_ts, displayname)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT (user_id) DO NOTHING",
            user_id, password_hash, now_ms, displayname,
        )
        return changed == 1

    async def user_exists(self, user_id: str) -> bool:
        row = await self.db.fetchrow("SELECT 1 FROM users WHERE user_id = $1", user_id)
        return row is not None

    async def is_deactivated(self, user_id: str) -> bool:
        return bool(await self.db.fetchval(
            "SELECT deactivated FROM users WHERE user_id = $1", user_id))

    async def set_password_hash(self, user_id: str, password_hash: str) -> None:
        await self.db.execute("UPDATE users SET password_hash = $2 WHERE user_id = $1",
                              user_id, password_hash)

    async def deactivate(self, user_id: str) -> None:
        """Refuse the account from now on; its row stays, so its ID is never reused."""
        await self.db.execute(
            "UPDATE users SET deactivated = TRUE, password_hash = NULL WHERE user_id = $1",
            user_id)

    async def password_hash(self, user_id: str) -> str | None:
        return await self.db.fetchval(
            "SELECT password_hash FROM users WHERE user_id = $1 AND NOT deactivated", user_id
        )

    async def profile(self, conn: Queries, user_id: str) -> Row | None:
        return await conn.fetchrow(
            "SELECT displayname, avatar_url FROM users WHERE user_id = $1", user_id
        )

    async def set_profile_field(self, user_id: str, field: str, value: str | None) -> None:
        column = {"displayname": "displayname", "avatar_url": "avatar_url"}[field]
        await self.db.execute(f"UPDATE users SET {column} = $2 WHERE user_id = $1", user_id, value)

    async def add_session(
        self, user_id: str, device_id: str, display_name: str | None, token_hash: str, now_ms: int
    ) -> None:
        """Create or reuse the device and attach a new access token to it."""
        async with self.db.transaction() as conn:
            await conn.execute(
                "INSERT INTO devices (user_id, device_id, display_name, last_seen_ts)"
                " VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, device_id) DO UPDATE"
                " SET last_seen_ts = excluded.last_seen_ts,"
                " display_name = COALESCE(excluded.display_name, devices.display_name)",
                user_id, device_id, display_name, now_ms,
            )
            # Logging in again with a device ID replaces that device's old tokens.
            await conn.execute(
                "DELETE FROM access_tokens WHERE user_id = $1 AND device_id = $2",
                user_id, device_id,
            )
            await conn.execute(
                "INSERT INTO access_tokens (token_hash, user_id, device_id, created_ts)"
                " VALUES ($1, $2, $3, $4)",
                token_hash, user_id, device_id, now_ms,
            )

    async def token_owner(self, token_hash: str) -> TokenOwner | None:
        # A deactivated account's tokens are deleted; the join refuses one a racing
        # login might still have added.
        row = await self.db.fetchrow(
            "SELECT t.user_id, t.device_id FROM access_tokens t"
            " JOIN users u ON u.user_id = t.user_id"
            " WHERE t.token_hash = $1 AND NOT u.deactivated", token_hash
        )
        return TokenOwner(row["user_id"], row["device_id"]) if row else None

    async def delete_other_devices(self, user_id: str, keep_device: str) -> list[str]:
        """Remove every device of the user but one, with their tokens; return the hashes."""
        async with self.db.transaction() as conn:
            rows = await conn.fetch(
                "DELETE FROM access_tokens WHERE user_id = $1 AND device_id <> $2"
                " RETURNING token_hash", user_id, keep_device)
            await conn.execute("DELETE FROM devices WHERE user_id = $1 AND device_id <> $2",
                               user_id, keep_device)
        return [r["token_hash"] for r in rows]

    async def delete_devices(self, user_id: str, device_id: str | None = None) -> list[str]:
        """Remove one device (or all) with its tokens; return the token hashes removed."""
        async with self.db.transaction() as conn:
            if device_id is None:
                rows = await conn.fetch(
                    "DELETE FROM access_tokens WHERE user_id = $1 RETURNING token_hash", user_id
                )
                await conn.execute("DELETE FROM devices WHERE user_id = $1", user_id)
            else:
                rows = await conn.fetch(
                    "DELETE FROM access_tokens WHERE user_id = $1 AND device_id = $2"
                    " RETURNING token_hash",
                    user_id, device_id,
                )
                await conn.execute(
                    "DELETE FROM devices WHERE user_id = $1 AND device_id = $2", user_id, device_id
                )
        return [r["token_hash"] for r in rows]

    async def devices(self, user_id: str) -> list[Device]:
        rows = await self.db.fetch(
            "SELECT device_id, display_name, last_seen_ts, last_seen_ip FROM devices"
            " WHERE user_id = $1 ORDER BY device_id",
            user_id,
        )
        return [Device(**dict(r)) for r in rows]

    async def rename_device(self, user_id: str, device_id: str, name: str | None) -> bool:
        changed = await self.db.execute(
            "UPDATE devices SET display_name = $3 WHERE user_id = $1 AND device_id = $2",
            user_id, device_id, name,
        )
        return changed == 1

    async def create_auth_session(self, session_id: str, now_ms: int, user_id: str | None,
                                  expired_before_ms: int, keep_per_user: int,
                                  batch: int) -> None:
        """Start a session; first forget up to ``batch`` expired ones, and the user's
        oldest beyond their newest ``keep_per_user - 1`` (so with this one they keep
        ``keep_per_user``)."""
        async with self.db.transaction() as conn:
            await conn.execute(
                "DELETE FROM ui_auth_sessions WHERE session_id IN (SELECT session_id"
                " FROM ui_auth_sessions WHERE created_ts < $1 LIMIT $2)",
                expired_before_ms, batch,
            )
            if user_id is not None:
                await conn.execute(
                    "DELETE FROM ui_auth_sessions WHERE session_id IN (SELECT session_id"
                    " FROM ui_auth_sessions WHERE user_id = $1"
                    " ORDER BY created_ts DESC, session_id LIMIT $2 OFFSET $3)",
                    user_id, batch, keep_per_user - 1,
                )
            await conn.execute(
                "INSERT INTO ui_auth_sessions (session_id, created_ts, user_id)"
                " VALUES ($1, $2, $3)",
                session_id, now_ms, user_id,
            )

    async def auth_session_exists(self, session_id: str, not_before_ms: int) -> bool:
        row = await self.db.fetchrow(
            "SELECT 1 FROM ui_auth_sessions WHERE session_id = $1 AND created_ts >= $2",
            session_id, not_before_ms,
        )
        return row is not None

    async def delete_auth_session(self, session_id: str) -> None:
        await self.db.execute("DELETE FROM ui_auth_sessions WHERE session_id = $1", session_id)
