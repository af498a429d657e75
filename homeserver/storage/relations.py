"""SQL for relations between events: recorded on write, aggregated for bundles, paginated.

A relation counts only if its parent is in the same room (readers join on the
parent with the room). A redacted relation's row is deleted, so nothing below
needs to look for redactions of the children.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from homeserver.models import StoredEvent
from homeserver.storage.database import Connection, Database, Queries, Row

_EVENT = "e.stream_ordering, e.event_id, e.pdu, e.redacted_by"
# The latest valid edit (same sender and type as its parent, neither a state event, the
# parent neither redacted nor itself an edit) and the latest thread reply, per parent,
# with the thread's size and whether the viewer wrote in it: one query per page.
_BUNDLES = f"""
SELECT * FROM (
  SELECT r.parent_id, r.rel_type, {_EVENT},
    ROW_NUMBER() OVER (PARTITION BY r.parent_id, r.rel_type ORDER BY
      CASE WHEN r.rel_type = 'm.replace' THEN e.origin_server_ts ELSE e.stream_ordering END DESC,
      e.event_id DESC) AS place,
    COUNT(*) OVER (PARTITION BY r.parent_id, r.rel_type) AS total,
    MAX(CASE WHEN e.sender = $1 THEN 1 ELSE 0 END)
      OVER (PARTITION BY r.parent_id, r.rel_type) AS mine
  FROM event_relations r
  JOIN events e ON e.event_id = r.event_id
  JOIN events p ON p.event_id = r.parent_id AND p.room_id = r.room_id
  WHERE r.parent_id IN ({{marks}}) AND r.rel_type IN ('m.replace', 'm.thread')
  AND (r.rel_type = 'm.thread' OR (e.sender = p.sender AND e.type = p.type
       AND p.state_key IS NULL AND p.redacted_by IS NULL AND NOT EXISTS (
         SELECT 1 FROM event_relations pe WHERE pe.event_id = p.event_id
         AND pe.rel_type = 'm.replace')))
) AS ranked WHERE place = 1
"""
# The relations of a parent, and with depth > 1 theirs in turn (the spec's ``recurse``).
_TREE = """
WITH RECURSIVE tree (event_id, rel_type, depth) AS (
  SELECT event_id, rel_type, 1 FROM event_relations WHERE parent_id = $1 AND room_id = $2
  UNION ALL
  SELECT r.event_id, r.rel_type, t.depth + 1 FROM event_relations r
  JOIN tree t ON r.parent_id = t.event_id WHERE t.depth < $3 AND r.room_id = $2
)
"""


def _event(row: Row) -> StoredEvent:
    return StoredEvent(row["stream_ordering"], row["event_id"], json.loads(row["pdu"]),
                       row["redacted_by"])


class RelationStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def record(self, conn: Connection, event_id: str, room_id: str, sender: str,
                     rel_type: str, parent_id: str, key: str | None) -> bool:
        """Record a relation; False if it is a second identical annotation (not recorded)."""
        changed = await conn.execute(
            "INSERT INTO event_relations (event_id, room_id, parent_id, rel_type, sender,"
            " aggregation_key) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            event_id, room_id, parent_id, rel_type, sender, key)
        return changed > 0

    async def has_annotation(self, conn: Queries, parent_id: str, sender: str,
                             key: str) -> bool:
        row = await conn.fetchrow(
            "SELECT 1 FROM event_relations WHERE parent_id = $1 AND sender = $2"
            " AND aggregation_key = $3 AND rel_type = 'm.annotation'",
            parent_id, sender, key)
        return row is not None

    async def forget(self, conn: Connection, event_id: str) -> None:
        """The event was redacted: its content, and so its relation, is gone."""
        await conn.execute("DELETE FROM event_relations WHERE event_id = $1", event_id)

    async def bundles(self, conn: Queries, parent_ids: Iterable[str],
                      viewer: str) -> list[tuple[str, str, StoredEvent, int, bool]]:
        """(parent, rel_type, latest child, count, viewer wrote one) for edits and threads."""
        ids = list(dict.fromkeys(parent_ids))
        if not ids:
            return []
        marks = ", ".join(f"${i + 2}" for i in range(len(ids)))
        rows = await conn.fetch(_BUNDLES.format(marks=marks), viewer, *ids)
        return [(r["parent_id"], r["rel_type"], _event(r), int(r["total"]), bool(r["mine"]))
                for r in rows]

    async def children(self, conn: Queries, room_id: str, parent_id: str, *, depth: int,
                       rel_type: str | None, event_type: str | None, lower: int, upper: int,
                       newest_first: bool, limit: int) -> list[tuple[StoredEvent, int]]:
        """Related events with lower < stream_ordering <= upper, each with its depth."""
        args: list[Any] = [parent_id, room_id, depth, lower, upper, limit]
        where = ""
        if rel_type is not None:
            args.append(rel_type)
            where += f" AND t.rel_type = ${len(args)}"
        if event_type is not None:
            args.append(event_type)
            where += f" AND e.type = ${len(args)}"
        order = "DESC" if newest_first else "ASC"
        rows = await conn.fetch(
            _TREE + f"SELECT {_EVENT}, t.depth FROM tree t JOIN events e"
            " ON e.event_id = t.event_id WHERE e.room_id = $2"
            f" AND e.stream_ordering > $4 AND e.stream_ordering <= $5{where}"
            f" ORDER BY e.stream_ordering {order} LIMIT $6", *args)
        return [(_event(r), r["depth"]) for r in rows]

    async def thread_roots(self, conn: Queries, room_id: str, participant: str | None,
                           upper: int, limit: int) -> list[tuple[str, int]]:
        """(root, latest reply's position) of the room's threads active at or before
        ``upper``, most recently active first; with ``participant``, only the threads
        they started or replied in."""
        args: list[Any] = [room_id, upper, limit]
        having = ""
        if participant is not None:
            args.append(participant)
            having = (" AND (p.sender = $4 OR MAX(CASE WHEN e.sender = $4 THEN 1 ELSE 0 END)"
                      " = 1)")
        rows = await conn.fetch(
            "SELECT r.parent_id, MAX(e.stream_ordering) AS latest FROM event_relations r"
            " JOIN events e ON e.event_id = r.event_id"
            " JOIN events p ON p.event_id = r.parent_id AND p.room_id = r.room_id"
            " WHERE r.room_id = $1 AND r.rel_type = 'm.thread' GROUP BY r.parent_id, p.sender"
            f" HAVING MAX(e.stream_ordering) <= $2{having}"
            " ORDER BY latest DESC LIMIT $3", *args)
        return [(r["parent_id"], r["latest"]) for r in rows]
