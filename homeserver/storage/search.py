"""SQL for server-side search: the full-text index of message bodies, room names and topics.

One interface, two dialects: SQLite's FTS5 table (Porter stemmer, ranked by
bm25) and PostgreSQL's tsvector with a GIN index ('english', ranked by
ts_rank_cd). Callers hand over plain words (letters and digits only); each
dialect turns them into its own query syntax here, each word matching as a
prefix and every word required. Results come only from rooms the searcher is
joined to now (a join on memberships in the same query), never redacted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from homeserver.models import StoredEvent
from homeserver.storage.database import Connection, Database, Queries

# An approximate count is all the spec asks for; counting stops here.
COUNT_CAP = 1000


@dataclass(frozen=True)
class SearchQuery:
    """What to look for and where; the lists are already bounded by the caller."""

    words: list[str]
    user_id: str
    keys: list[str]
    rooms: list[str] | None = None
    not_rooms: list[str] = field(default_factory=list)
    senders: list[str] | None = None
    not_senders: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Hit:
    event: StoredEvent
    rank: float


class SearchStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def index(self, conn: Connection, event_id: str, room_id: str, key: str,
                    stream_ordering: int, text: str) -> None:
        if conn.dialect == "postgres":
            await conn.execute(
                "INSERT INTO event_search (event_id, room_id, key, stream_ordering, vector)"
                " VALUES ($1, $2, $3, $4, to_tsvector('english', $5)) ON CONFLICT DO NOTHING",
                event_id, room_id, key, stream_ordering, text)
        else:
            await conn.execute(
                "INSERT INTO event_search (value, event_id, room_id, key, stream_ordering)"
                " VALUES ($1, $2, $3, $4, $5)", text, event_id, room_id, key, stream_ordering)

    async def forget(self, conn: Connection, event_id: str) -> None:
        """The event was redacted: its text leaves the index."""
        await conn.execute("DELETE FROM event_search WHERE event_id = $1", event_id)

    async def search(self, conn: Queries, query: SearchQuery, *, by_rank: bool, offset: int,
                     before: int | None, limit: int) -> list[Hit]:
        """A page of hits: by rank (then newest) from ``offset``, or newest first from
        below position ``before``."""
        sql, args = self._matching(conn.dialect, query)
        if before is not None:
            args.append(before)
            sql += f" AND e.stream_ordering < ${len(args)}"
        order = "rank DESC, e.stream_ordering DESC" if by_rank else "e.stream_ordering DESC"
        args += [limit, offset]
        rows = await conn.fetch(
            f"SELECT e.stream_ordering, e.event_id, e.pdu, e.redacted_by, {self._rank(conn)}"
            f" AS rank {sql} ORDER BY {order} LIMIT ${len(args) - 1} OFFSET ${len(args)}",
            *args)
        return [Hit(StoredEvent(r["stream_ordering"], r["event_id"], json.loads(r["pdu"]),
                                r["redacted_by"]), float(r["rank"])) for r in rows]

    async def count(self, conn: Queries, query: SearchQuery) -> int:
        sql, args = self._matching(conn.dialect, query)
        return int(await conn.fetchval(
            f"SELECT COUNT(*) FROM (SELECT 1 {sql} LIMIT {COUNT_CAP}) AS hits", *args))

    @staticmethod
    def _rank(conn: Queries) -> str:
        if conn.dialect == "postgres":
            return "ts_rank_cd(s.vector, to_tsquery('english', $1))"
        return "-bm25(event_search)"  # bm25: lower is better

    @staticmethod
    def _matching(dialect: str, query: SearchQuery) -> tuple[str, list[Any]]:
        """FROM ... WHERE ... for the query's hits, and its arguments."""
        if dialect == "postgres":
            text = " & ".join(f"{word}:*" for word in query.words)
            match = "s.vector @@ to_tsquery('english', $1)"
        else:
            text = " ".join(f'"{word}"*' for word in query.words)
            match = "s.value MATCH $1"
        args: list[Any] = [text, query.user_id]
        sql = ("FROM event_search s JOIN events e ON e.event_id = s.event_id"
               " JOIN memberships m ON m.room_id = s.room_id AND m.user_id = $2"
               f" AND m.membership = 'join' WHERE {match} AND e.redacted_by IS NULL")
        for column, values, negate in [
                ("s.key", query.keys, False), ("s.room_id", query.rooms, False),
                ("s.room_id", query.not_rooms, True), ("e.sender", query.senders, False),
                ("e.sender", query.not_senders, True)]:
            if values is None or (negate and not values):
                continue
            if not values:
                return sql + " AND FALSE", args
            marks = ", ".join(f"${len(args) + i + 1}" for i in range(len(values)))
            args.extend(values)
            sql += f" AND {column} {'NOT IN' if negate else 'IN'} ({marks})"
        return sql, args
