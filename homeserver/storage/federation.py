"""SQL for federation: our keys, remote keys, the outbound queue, inbound transactions."""

from __future__ import annotations

from homeserver.models import VerifyKey
from homeserver.storage.database import Connection, Database, Row


class FederationStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # our own keys ------------------------------------------------------------
    async def record_own_key(self, key_id: str, verify_key: str, now_ms: int) -> None:
        """Note the key in use; any other key of ours stops being current now."""
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE own_keys SET expired_ts = $2 WHERE key_id <> $1 AND expired_ts IS NULL",
                key_id, now_ms)
            await conn.execute(
                "INSERT INTO own_keys (key_id, verify_key, added_ts) VALUES ($1, $2, $3)"
                " ON CONFLICT (key_id) DO UPDATE SET expired_ts = NULL", key_id, verify_key,
                now_ms)

    async def old_own_keys(self) -> list[Row]:
        return await self.db.fetch(
            "SELECT key_id, verify_key, expired_ts FROM own_keys WHERE expired_ts IS NOT NULL")

    # remote keys -------------------------------------------------------------
    async def server_key(self, server_name: str, key_id: str) -> VerifyKey | None:
        row = await self.db.fetchrow(
            "SELECT key_id, verify_key, valid_until_ts, expired_ts FROM server_keys"
            " WHERE server_name = $1 AND key_id = $2", server_name, key_id)
        return None if row is None else VerifyKey(row["key_id"], row["verify_key"],
                                                  row["valid_until_ts"], row["expired_ts"])

    async def store_server_keys(self, server_name: str, keys: list[VerifyKey]) -> None:
        async with self.db.transaction() as conn:
            for key in keys:
                await conn.execute(
                    "INSERT INTO server_keys (server_name, key_id, verify_key, valid_until_ts,"
                    " expired_ts) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (server_name, key_id)"
                    " DO UPDATE SET verify_key = $3, valid_until_ts = $4, expired_ts = $5",
                    server_name, key.key_id, key.verify_key, key.valid_until_ts,
                    key.expired_ts)

    async def prune_server_keys(self, max_servers: int) -> None:
        """Keep the keys of at most ``max_servers`` servers: those valid the longest."""
        count = await self.db.fetchval("SELECT COUNT(DISTINCT server_name) FROM server_keys")
        if count <= max_servers:
            return
        rows = await self.db.fetch(
            "SELECT server_name FROM server_keys GROUP BY server_name"
            " ORDER BY MAX(valid_until_ts), server_name LIMIT $1", count - max_servers)
        async with self.db.transaction() as conn:
            for row in rows:
                await conn.execute("DELETE FROM server_keys WHERE server_name = $1",
                                   row["server_name"])

    # outbound queue ----------------------------------------------------------
    async def enqueue_pdu(self, conn: Connection, destinations: list[str],
                          stream_ordering: int, pdu_json: str) -> None:
        for destination in destinations:
            await conn.execute(
                "INSERT INTO federation_outbox (destination, stream_ordering, pdu)"
                " VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                destination, stream_ordering, pdu_json)

    async def due_destinations(self, now_ms: int) -> list[str]:
        rows = await self.db.fetch(
            "SELECT DISTINCT o.destination FROM federation_outbox o"
            " LEFT JOIN federation_destinations d ON d.destination = o.destination"
            " WHERE d.retry_at_ts IS NULL OR d.retry_at_ts <= $1", now_ms)
        return [r["destination"] for r in rows]

    async def next_retry_at(self) -> int | None:
        return await self.db.fetchval(
            "SELECT MIN(d.retry_at_ts) FROM federation_destinations d"
            " WHERE EXISTS (SELECT 1 FROM federation_outbox o"
            " WHERE o.destination = d.destination)")

    async def pending_pdus(self, destination: str, limit: int) -> list[Row]:
        return await self.db.fetch(
            "SELECT stream_ordering, pdu FROM federation_outbox WHERE destination = $1"
            " ORDER BY stream_ordering LIMIT $2", destination, limit)

    async def take_txn_number(self, destination: str) -> int:
        async with self.db.transaction() as conn:
            await conn.execute(
                "INSERT INTO federation_destinations (destination) VALUES ($1)"
                " ON CONFLICT DO NOTHING", destination)
            return await conn.fetchval(
                "UPDATE federation_destinations SET next_txn = next_txn + 1"
                " WHERE destination = $1 RETURNING next_txn - 1", destination)

    async def delivered(self, destination: str, upto_ordering: int) -> None:
        await self.db.execute(
            "DELETE FROM federation_outbox WHERE destination = $1 AND stream_ordering <= $2",
            destination, upto_ordering)
        await self.reset_backoff(destination)

    async def reset_backoff(self, destination: str) -> None:
        await self.db.execute(
            "UPDATE federation_destinations SET failures = 0, retry_at_ts = 0"
            " WHERE destination = $1", destination)

    async def delivery_failed(self, destination: str, retry_at_ms: int) -> int:
        """Record a failure; the number of failures in a row."""
        return await self.db.fetchval(
            "UPDATE federation_destinations SET failures = failures + 1, retry_at_ts = $2"
            " WHERE destination = $1 RETURNING failures", destination, retry_at_ms)

    async def failures(self, destination: str) -> int:
        value = await self.db.fetchval(
            "SELECT failures FROM federation_destinations WHERE destination = $1", destination)
        return value or 0

    # inbound transactions ----------------------------------------------------
    async def inbound_response(self, origin: str, txn_id: str) -> str | None:
        return await self.db.fetchval(
            "SELECT response FROM federation_inbound_txns WHERE origin = $1 AND txn_id = $2",
            origin, txn_id)

    async def record_inbound(self, origin: str, txn_id: str, response: str,
                             now_ms: int) -> None:
        await self.db.execute(
            "INSERT INTO federation_inbound_txns (origin, txn_id, response, received_ts)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING", origin, txn_id, response, now_ms)
