"""``python -m bench.write_path``: how long one write holds its room, on PostgreSQL.

Writes into different rooms no longer wait on each other; writes into one room
do, for as long as one write's transaction lasts (its room lock is held from
the first statement to the commit). This measures that critical section: our
core, in process, on a fresh PostgreSQL database on 127.0.0.1:5432, sends
``--messages`` messages one after another into one room through
``RoomService.send`` and reports the wall time per write (p50, p95) and the
process CPU per write. It also prints the statements one message runs.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import tempfile
import time
from typing import Any

import asyncpg

from homeserver.config import load_config
from homeserver.rooms.service import RoomSpec
from homeserver.services import build_homeserver
from homeserver.storage.postgres import PostgresConnection

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


async def measure(messages: int) -> dict[str, float]:
    name = f"hs_bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(ADMIN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        with tempfile.TemporaryDirectory() as data_dir:
            config = load_config(None, {
                "server_name": "bench.local", "data_dir": data_dir,
                "database": f"postgresql://postgres@127.0.0.1:5432/{name}",
                "rate_limits.enabled": False})
            server = await build_homeserver(config)
            try:
                return await _sends(server, messages)
            finally:
                await server.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def _sends(server: Any, messages: int) -> dict[str, float]:
    alice = await server.accounts.register("alice", None)
    room = await server.rooms.create_room(alice, RoomSpec())
    counted = _count_statements()
    await server.rooms.send(alice, "dev", room, "m.room.message", _body(0), "t0")
    statements = counted()
    walls = []
    cpu_start = time.process_time()
    for i in range(1, messages + 1):
        started = time.perf_counter()
        await server.rooms.send(alice, "dev", room, "m.room.message", _body(i), f"t{i}")
        walls.append(time.perf_counter() - started)
    cpu = time.process_time() - cpu_start
    walls.sort()
    return {"write wall ms p50": statistics.median(walls) * 1000,
            "write wall ms p95": walls[int(len(walls) * 0.95)] * 1000,
            "process CPU ms per write": cpu / messages * 1000,
            "statements per message (BEGIN and COMMIT included)": statements}


def _body(i: int) -> dict[str, Any]:
    return {"msgtype": "m.text", "body": f"message {i}"}


def _count_statements() -> Any:
    """Count statements on transaction connections until the returned call (2 for BEGIN
    and COMMIT, which asyncpg sends itself)."""
    seen = [0]
    original = PostgresConnection.fetch, PostgresConnection.execute

    async def fetch(self: Any, sql: str, *args: Any) -> Any:
        seen[0] += 1
        return await original[0](self, sql, *args)

    async def execute(self: Any, sql: str, *args: Any) -> Any:
        seen[0] += 1
        return await original[1](self, sql, *args)

    PostgresConnection.fetch, PostgresConnection.execute = fetch, execute  # type: ignore

    def done() -> float:
        PostgresConnection.fetch, PostgresConnection.execute = original  # type: ignore
        return float(seen[0] + 2)
    return done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=2000)
    args = parser.parse_args()
    for metric, value in asyncio.run(measure(args.messages)).items():
        print(f"{metric}: {value:.3f}")


if __name__ == "__main__":
    main()
