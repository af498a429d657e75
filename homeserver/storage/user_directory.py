"""SQL for the user directory: each user's search terms, and the search itself."""

from __future__ import annotations

from collections.abc import Sequence

from homeserver.storage.database import Connection, Database, Queries, Row
from homeserver.storage.stream import lock_user

# Appended to a prefix, an upper bound for every term that starts with it: terms
# compare as bytes (collation "C" on PostgreSQL, BINARY on SQLite).
_TOP = "\U0010ffff"


class UserDirectoryStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def replace_terms(self, conn: Connection, user_id: str, terms: Sequence[str]) -> None:
        await conn.execute("DELETE FROM user_directory_terms WHERE user_id = $1", user_id)
        for term in terms:
            await conn.execute(
                "INSERT INTO user_directory_terms (term, user_id) VALUES ($1, $2)"
                " ON CONFLICT (term, user_id) DO NOTHING", term, user_id)

    async def unindexed_users(self, conn: Queries, limit: int) -> list[Row]:
        """Users without terms yet (those from before the directory existed)."""
        return await conn.fetch(
            "SELECT user_id, displayname FROM users u WHERE NOT EXISTS"
            " (SELECT 1 FROM user_directory_terms t WHERE t.user_id = u.user_id)"
            " ORDER BY user_id LIMIT $1", limit)

    async def locked_profile(self, conn: Connection, user_id: str) -> Row | None:
        """The user's display name, read under their lock (held until the commit)."""
        await lock_user(conn, user_id)
        return await conn.fetchrow("SELECT displayname FROM users WHERE user_id = $1", user_id)

    async def search(self, conn: Queries, searcher: str, prefixes: Sequence[str],
                     search_all: bool, limit: int) -> list[Row]:
        """Users with a term starting with each prefix, visible to ``searcher``: everyone if
        ``search_all``, else themselves and those joined to a room they are joined to."""
        args: list[object] = [searcher, search_all, limit]
        matches = []
        for prefix in prefixes:
            args += [prefix, prefix + _TOP]
            low, high = len(args) - 1, len(args)
            matches.append(f"u.user_id IN (SELECT user_id FROM user_directory_terms"
                           f" WHERE term >= ${low} AND term < ${high})")
        return await conn.fetch(
            "SELECT u.user_id, u.displayname, u.avatar_url FROM users u"
            f" WHERE {' AND '.join(matches)} AND NOT u.deactivated"
            " AND ($2 OR u.user_id = $1 OR EXISTS (SELECT 1 FROM memberships a"
            " JOIN memberships b ON a.room_id = b.room_id WHERE a.user_id = $1"
            " AND b.user_id = u.user_id AND a.membership = 'join' AND b.membership = 'join'))"
            " ORDER BY u.user_id LIMIT $3", *args)
