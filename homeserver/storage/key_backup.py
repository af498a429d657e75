"""SQL for server-side key backup: versions and the encrypted session keys in them."""

from __future__ import annotations

import json
from typing import Any

from homeserver.storage.database import Connection, Database, Queries, Row

SESSION_COLUMNS = "room_id, session_id, first_message_index, forwarded_count, is_verified, " \
                  "session_data"


class KeyBackupStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create_version(self, conn: Connection, user_id: str, algorithm: str,
                             auth_data: dict[str, Any]) -> int:
        """A new version, one past every version the user ever had (deleted ones too)."""
        latest = await conn.fetchval(
            "SELECT MAX(version) FROM room_key_backups WHERE user_id = $1", user_id)
        version = (latest or 0) + 1
        await conn.execute(
            "INSERT INTO room_key_backups (user_id, version, algorithm, auth_data, etag,"
            " deleted) VALUES ($1, $2, $3, $4, 0, FALSE)",
            user_id, version, algorithm, json.dumps(auth_data),
        )
        return version

    async def version(self, conn: Queries, user_id: str, version: int | None) -> Row | None:
        """That version (the current one if None), unless deleted."""
        if version is None:
            return await conn.fetchrow(
                "SELECT version, algorithm, auth_data, etag FROM room_key_backups"
                " WHERE user_id = $1 AND NOT deleted ORDER BY version DESC LIMIT 1",
                user_id,
            )
        return await conn.fetchrow(
            "SELECT version, algorithm, auth_data, etag FROM room_key_backups"
            " WHERE user_id = $1 AND version = $2 AND NOT deleted",
            user_id, version,
        )

    async def update_auth_data(self, conn: Connection, user_id: str, version: int,
                               auth_data: dict[str, Any]) -> None:
        await conn.execute(
            "UPDATE room_key_backups SET auth_data = $3 WHERE user_id = $1 AND version = $2",
            user_id, version, json.dumps(auth_data),
        )

    async def delete_version(self, conn: Connection, user_id: str, version: int) -> bool:
        changed = await conn.execute(
            "UPDATE room_key_backups SET deleted = TRUE WHERE user_id = $1 AND version = $2"
            " AND NOT deleted",
            user_id, version,
        )
        await conn.execute(
            "DELETE FROM room_key_backup_sessions WHERE user_id = $1 AND version = $2",
            user_id, version,
        )
        return changed == 1

    async def bump_etag(self, conn: Connection, user_id: str, version: int) -> None:
        await conn.execute(
            "UPDATE room_key_backups SET etag = etag + 1 WHERE user_id = $1 AND version = $2",
            user_id, version,
        )

    async def count(self, conn: Queries, user_id: str, version: int) -> int:
        return int(await conn.fetchval(
            "SELECT COUNT(*) FROM room_key_backup_sessions WHERE user_id = $1 AND version = $2",
            user_id, version,
        ))

    async def session(self, conn: Queries, user_id: str, version: int, room_id: str,
                      session_id: str) -> Row | None:
        return await conn.fetchrow(
            f"SELECT {SESSION_COLUMNS} FROM room_key_backup_sessions WHERE user_id = $1"
            " AND version = $2 AND room_id = $3 AND session_id = $4",
            user_id, version, room_id, session_id,
        )

    async def put_session(self, conn: Connection, user_id: str, version: int, room_id: str,
                          session_id: str, data: dict[str, Any]) -> None:
        await conn.execute(
            "INSERT INTO room_key_backup_sessions (user_id, version, room_id, session_id,"
            " first_message_index, forwarded_count, is_verified, session_data)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (user_id, version, room_id,"
            " session_id) DO UPDATE SET first_message_index = excluded.first_message_index,"
            " forwarded_count = excluded.forwarded_count, is_verified = excluded.is_verified,"
            " session_data = excluded.session_data",
            user_id, version, room_id, session_id, data["first_message_index"],
            data["forwarded_count"], data["is_verified"], json.dumps(data["session_data"]),
        )

    async def holds_at_least(self, conn: Queries, user_id: str, count: int) -> bool:
        """Whether the user's backups hold ``count`` sessions, all versions together;
        reads at most ``count`` index entries."""
        return await conn.fetchrow(
            "SELECT 1 FROM room_key_backup_sessions WHERE user_id = $1 LIMIT 1 OFFSET $2",
            user_id, count - 1,
        ) is not None

    async def sessions_page(self, conn: Queries, user_id: str, version: int,
                            room_id: str | None, after: tuple[str, str], limit: int
                            ) -> list[Row]:
        """The next ``limit`` sessions in (room ID, session ID) order past ``after``."""
        sql = (f"SELECT {SESSION_COLUMNS} FROM room_key_backup_sessions"
               " WHERE user_id = $1 AND version = $2 AND (room_id, session_id) > ($3, $4)")
        args: list[Any] = [user_id, version, *after]
        if room_id is not None:
            args.append(room_id)
            sql += f" AND room_id = ${len(args)}"
        args.append(limit)
        return await conn.fetch(sql + f" ORDER BY room_id, session_id LIMIT ${len(args)}",
                                *args)

    async def sessions(self, conn: Queries, user_id: str, version: int,
                       room_id: str | None = None, session_id: str | None = None) -> list[Row]:
        sql = (f"SELECT {SESSION_COLUMNS} FROM room_key_backup_sessions"
               " WHERE user_id = $1 AND version = $2")
        args: list[Any] = [user_id, version]
        if room_id is not None:
            args.append(room_id)
            sql += f" AND room_id = ${len(args)}"
        if session_id is not None:
            args.append(session_id)
            sql += f" AND session_id = ${len(args)}"
        return await conn.fetch(sql + " ORDER BY room_id, session_id", *args)

    async def delete_sessions(self, conn: Connection, user_id: str, version: int,
                              room_id: str | None = None, session_id: str | None = None) -> int:
        sql = "DELETE FROM room_key_backup_sessions WHERE user_id = $1 AND version = $2"
        args: list[Any] = [user_id, version]
        if room_id is not None:
            args.append(room_id)
            sql += f" AND room_id = ${len(args)}"
        if session_id is not None:
            args.append(session_id)
            sql += f" AND session_id = ${len(args)}"
        return await conn.execute(sql, *args)
