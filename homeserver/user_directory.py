"""The user directory: which local users a search finds, and keeping their terms current.

A user's terms are the lower-cased words of their localpart and display name;
a search term's words must each start one of them. Terms are rewritten after a
user registers or changes their display name, from the profile as it then is;
users without terms (from before the directory) are indexed at start.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from homeserver.errors import InvalidParam
from homeserver.storage.database import Connection
from homeserver.storage.user_directory import UserDirectoryStore

MAX_SEARCH_TERM = 256
MAX_LIMIT = 50
MAX_SEARCH_WORDS = 8
MAX_TERM_LENGTH = 64  # a longer word is indexed by its first 64 characters
_WORD = re.compile(r"[^\W_]+")  # letters and digits of any script; _ . - = / + split words
BACKFILL_BATCH = 500


@dataclass(frozen=True)
class DirectoryHit:
    user_id: str
    display_name: str | None
    avatar_url: str | None


def words(text: str) -> list[str]:
    """The distinct lower-cased words of ``text``, each cut to the term length."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(text.casefold()):
        seen.setdefault(word[:MAX_TERM_LENGTH], None)
    return list(seen)


def terms_of(user_id: str, displayname: str | None) -> list[str]:
    localpart = user_id[1:].partition(":")[0]
    found = dict.fromkeys(words(localpart) + words(displayname or ""))
    whole = localpart.casefold()[:MAX_TERM_LENGTH]
    found.setdefault(whole, None)  # "alice.smith" is found by "alice.sm" too
    return list(found)


def search_words(term: str) -> list[str]:
    """The words a search must match; a full user ID counts by its localpart."""
    term = term.strip()
    if term.startswith("@") and ":" in term:
        term = term[1:].partition(":")[0]
    return words(term)[:MAX_SEARCH_WORDS]


class UserDirectory:
    def __init__(self, store: UserDirectoryStore, search_all_users: bool) -> None:
        self.store = store
        self.search_all_users = search_all_users

    async def index(self, conn: Connection, user_id: str, displayname: str | None) -> None:
        await self.store.replace_terms(conn, user_id, terms_of(user_id, displayname))

    async def reindex(self, user_id: str) -> None:
        """Rewrite the user's terms from their profile as committed: under the user's lock,
        so of two changes at once the later reindex, which reads the later name, wins."""
        async with self.store.db.transaction() as conn:
            row = await self.store.locked_profile(conn, user_id)
            if row is not None:
                await self.index(conn, user_id, row["displayname"])

    async def backfill(self) -> int:
        """Index the users who have no terms yet (registered before the directory)."""
        done = 0
        while True:
            rows = await self.store.unindexed_users(self.store.db, BACKFILL_BATCH)
            if not rows:
                return done
            async with self.store.db.transaction() as conn:
                for row in rows:
                    await self.index(conn, row["user_id"], row["displayname"])
            done += len(rows)

    async def search(self, searcher: str, term: str, limit: int) -> tuple[list[DirectoryHit],
                                                                          bool]:
        """Up to ``limit`` users the term finds, and whether there were more."""
        if len(term) > MAX_SEARCH_TERM:
            raise InvalidParam(f"search_term may be at most {MAX_SEARCH_TERM} characters")
        if not 0 <= limit <= MAX_LIMIT:
            raise InvalidParam(f"limit must be between 0 and {MAX_LIMIT}")
        prefixes = search_words(term)
        if not prefixes or limit == 0:
            return [], False
        rows = await self.store.search(self.store.db, searcher, prefixes,
                                       self.search_all_users, limit + 1)
        hits = [DirectoryHit(r["user_id"], r["displayname"], r["avatar_url"]) for r in rows]
        return hits[:limit], len(hits) > limit
