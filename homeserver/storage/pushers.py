"""SQL for pushers: where a user's notifications are pushed (a push gateway per device)."""

from __future__ import annotations

from collections.abc import Iterable

from homeserver.storage.database import Connection, Queries, Row

PUSHER_COLUMNS = ("user_id, app_id, pushkey, kind, app_display_name, device_display_name,"
                  " profile_tag, lang, data, pushkey_ts, device_id")


class PusherStore:
    async def put(self, conn: Connection, user_id: str, app_id: str, pushkey: str, kind: str,
                  app_display_name: str, device_display_name: str, profile_tag: str | None,
                  lang: str, data: str, pushkey_ts: int, device_id: str | None) -> None:
        """Create or update; the pusher then belongs to ``device_id`` (who set it last)."""
        await conn.execute(
            f"INSERT INTO pushers ({PUSHER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8,"
            " $9, $10, $11) ON CONFLICT (app_id, pushkey, user_id) DO UPDATE SET"
            " kind = excluded.kind, app_display_name = excluded.app_display_name,"
            " device_display_name = excluded.device_display_name,"
            " profile_tag = excluded.profile_tag, lang = excluded.lang, data = excluded.data,"
            " device_id = excluded.device_id",
            user_id, app_id, pushkey, kind, app_display_name, device_display_name, profile_tag,
            lang, data, pushkey_ts, device_id,
        )

    async def delete(self, conn: Connection, app_id: str, pushkey: str,
                     user_id: str | None = None) -> int:
        """Remove the pusher of ``user_id`` (or, with None, every user's with that key)."""
        if user_id is None:
            return await conn.execute(
                "DELETE FROM pushers WHERE app_id = $1 AND pushkey = $2", app_id, pushkey)
        return await conn.execute(
            "DELETE FROM pushers WHERE app_id = $1 AND pushkey = $2 AND user_id = $3",
            app_id, pushkey, user_id)

    async def delete_for_others(self, conn: Connection, app_id: str, pushkey: str,
                                user_id: str) -> None:
        await conn.execute(
            "DELETE FROM pushers WHERE app_id = $1 AND pushkey = $2 AND user_id != $3",
            app_id, pushkey, user_id)

    async def delete_of_devices(self, conn: Connection, user_id: str,
                                device_ids: list[str]) -> int:
        """Remove the pushers these devices set, and every pusher of the user if no
        device of theirs is left (pushers set before devices were recorded included)."""
        deleted = 0
        for device_id in device_ids:
            deleted += await conn.execute(
                "DELETE FROM pushers WHERE user_id = $1 AND device_id = $2", user_id, device_id)
        return deleted + await conn.execute(
            "DELETE FROM pushers WHERE user_id = $1"
            " AND NOT EXISTS (SELECT 1 FROM devices WHERE user_id = $1)", user_id)

    async def exists(self, conn: Queries, app_id: str, pushkey: str, user_id: str) -> bool:
        return await conn.fetchval(
            "SELECT COUNT(*) FROM pushers WHERE app_id = $1 AND pushkey = $2 AND user_id = $3",
            app_id, pushkey, user_id) > 0

    async def count_of(self, conn: Queries, user_id: str) -> int:
        return await conn.fetchval("SELECT COUNT(*) FROM pushers WHERE user_id = $1", user_id)

    async def of_users(self, conn: Queries, user_ids: Iterable[str]) -> list[Row]:
        ids = list(user_ids)
        if not ids:
            return []
        marks = ", ".join(f"${i + 1}" for i in range(len(ids)))
        return await conn.fetch(
            f"SELECT {PUSHER_COLUMNS} FROM pushers WHERE user_id IN ({marks})"
            " ORDER BY user_id, app_id, pushkey", *ids)
