"""Numbered schema upgrades, applied in order at start and recorded.

Each upgrade is a file ``migrations/NNN_name.sql`` written once for both
backends; where the dialects must differ, ``NNN_name.postgres.sql`` or
``NNN_name.sqlite.sql`` stands in its place for that backend. All pending
upgrades run in one transaction under a deployment-wide lock, so several
workers starting at once apply each upgrade exactly once.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from homeserver.storage.database import Connection, Database

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
MIGRATION_LOCK = 0x6D78_0001  # arbitrary, constant: the advisory lock key
_NAME = re.compile(r"^(\d{3})_(\w+?)(?:\.(sqlite|postgres))?\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path

    def statements(self) -> list[str]:
        text = self.path.read_text(encoding="utf-8")
        return [s.strip() for s in text.split(";\n") if _has_sql(s)]


def _has_sql(chunk: str) -> bool:
    return any(line.strip() and not line.strip().startswith("--") for line in chunk.splitlines())


def migrations_for(dialect: str) -> list[Migration]:
    chosen: dict[int, Migration] = {}
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match or match[3] not in (None, dialect):
            continue
        version = int(match[1])
        if version in chosen and match[3] is None:
            continue  # a dialect-specific file wins over the shared one
        chosen[version] = Migration(version, match[2], path)
    return [chosen[v] for v in sorted(chosen)]


async def upgrade(db: Database, now_ms: int) -> int:
    """Apply every pending upgrade; return the schema version reached."""
    async with db.advisory_lock(MIGRATION_LOCK) as conn:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version ("
            " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_ts BIGINT NOT NULL)"
        )
        current = await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_version")
        for migration in migrations_for(db.dialect):
            if migration.version > current:
                await _apply(conn, migration, now_ms)
                current = migration.version
        return current


async def _apply(conn: Connection, migration: Migration, now_ms: int) -> None:
    log.info("applying schema upgrade %03d_%s", migration.version, migration.name)
    for statement in migration.statements():
        await conn.execute(statement)
    await conn.execute(
        "INSERT INTO schema_version (version, name, applied_ts) VALUES ($1, $2, $3)",
        migration.version, migration.name, now_ms,
    )
