"""Storage on both backends: migrations, transactions, placeholders, concurrency."""

from __future__ import annotations

import asyncio

import pytest

from homeserver.storage import connect
from homeserver.storage.migrations import migrations_for, upgrade


async def test_upgrade_applies_once_and_records_version(database_url: str) -> None:
    db = await connect(database_url)
    try:
        versions = [m.version for m in migrations_for(db.dialect)]
        assert await upgrade(db, 1) == versions[-1]
        assert await upgrade(db, 2) == versions[-1]
        rows = await db.fetch("SELECT version, applied_ts FROM schema_version ORDER BY version")
        # Each migration file once, in order.
        assert [r["version"] for r in rows] == [m.version for m in migrations_for(db.dialect)]
        assert all(r["applied_ts"] == 1 for r in rows)
    finally:
        await db.close()


async def test_workers_starting_together_apply_each_upgrade_once(database_url: str) -> None:
    dbs = [await connect(database_url) for _ in range(3)]
    try:
        results = await asyncio.gather(*(upgrade(db, 1) for db in dbs))
        assert len(set(results)) == 1
        count = await dbs[0].fetchval("SELECT COUNT(*) FROM schema_version")
        assert count == len(migrations_for(dbs[0].dialect))
    finally:
        for db in dbs:
            await db.close()


async def test_transaction_rolls_back_on_error(database_url: str) -> None:
    db = await connect(database_url)
    try:
        await upgrade(db, 1)
        with pytest.raises(RuntimeError):
            async with db.transaction() as conn:
                await conn.execute(
                    "INSERT INTO users (user_id, created_ts) VALUES ($1, $2)", "@a:x", 1
                )
                raise RuntimeError("abort")
        assert await db.fetchval("SELECT COUNT(*) FROM users") == 0
    finally:
        await db.close()


async def test_placeholders_reuse_and_rowcount(database_url: str) -> None:
    db = await connect(database_url)
    try:
        await upgrade(db, 1)
        insert = "INSERT INTO users (user_id, displayname, created_ts) VALUES ($1, $1, $2)"
        assert await db.execute(insert, "@a:x", 5) == 1
        row = await db.fetchrow("SELECT user_id, displayname FROM users WHERE created_ts = $1", 5)
        assert (row["user_id"], row["displayname"]) == ("@a:x", "@a:x")
        assert await db.execute("UPDATE users SET avatar_url = $1", "mxc://a") == 1
        assert await db.fetchrow("SELECT 1 FROM users WHERE user_id = $1", "@none:x") is None
    finally:
        await db.close()


async def test_reads_are_not_blocked_by_an_open_write(database_url: str) -> None:
    db = await connect(database_url)
    try:
        await upgrade(db, 1)
        await db.execute("INSERT INTO users (user_id, created_ts) VALUES ($1, $2)", "@a:x", 1)
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO users (user_id, created_ts) VALUES ($1, $2)", "@b:x", 1)
            # A reader sees the committed state at once, not the open write.
            seen = await asyncio.wait_for(db.fetchval("SELECT COUNT(*) FROM users"), 2)
            assert seen == 1
        assert await db.fetchval("SELECT COUNT(*) FROM users") == 2
    finally:
        await db.close()
