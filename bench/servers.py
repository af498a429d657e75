"""Starting and stopping the servers under test, each as its own process group.

Synapse is installed from PyPI into a virtualenv of its own (outside the
repository), configured for SQLite, one process, a client listener on
127.0.0.1, open registration, rate limits and federation off, presence on.
Ours runs on the embedded default (SQLite), as one process on PostgreSQL with
the in-process notifier, or as two workers on PostgreSQL + Redis. Each
PostgreSQL run gets a fresh database, dropped when the server stops. Redis is
``HS_BENCH_REDIS_URL`` (default 127.0.0.1:6379, database 0); its ``hs:*`` keys
are cleared before the workers start.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import asyncpg
import redis.asyncio as aioredis
import yaml

SYNAPSE_VENV = Path.home() / ".cache" / "hs-bench-synapse"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_URL = os.environ.get("HS_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
UNLIMITED = {"per_second": 100_000, "burst_count": 100_000}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    name: str
    urls: list[str]
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    cleanup: list[str] = field(default_factory=list)  # PostgreSQL databases to drop

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def url_for(self, index: int) -> str:
        """Round-robin over the workers: user ``index`` talks to this one, so consecutive
        users (a pair's sender and receiver) sit on different workers."""
        return self.urls[index % len(self.urls)]

    async def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        for database in self.cleanup:
            admin = await asyncpg.connect(PG_ADMIN)
            await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            await admin.close()


def _spawn(args: list[str], cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    handle = log.open("wb")
    return subprocess.Popen(args, cwd=cwd, stdout=handle, stderr=subprocess.STDOUT,
                            start_new_session=True)


async def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(600):
            if proc.poll() is not None:
                raise RuntimeError(f"server exited; see {log}:\n{log.read_text()[-2000:]}")
            try:
                async with session.get(url + "/_matrix/client/versions") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"server at {url} did not start; see {log}")


def install_synapse() -> Path:
    python = SYNAPSE_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(SYNAPSE_VENV)], check=True)
    probe = subprocess.run([str(python), "-c", "import synapse"], capture_output=True)
    if probe.returncode != 0:
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "matrix-synapse"],
                       check=True)
    return python


async def start_synapse(bcrypt_rounds: int | None = None) -> Server:
    """``bcrypt_rounds`` below Synapse's 12 makes registering many users a quick setup
    step; no scenario times registration."""
    python = install_synapse()
    workdir = Path(tempfile.mkdtemp(prefix="bench-synapse-"))
    config_path = workdir / "homeserver.yaml"
    subprocess.run([str(python), "-m", "synapse.app.homeserver", "--server-name", "bench.local",
                    "--config-path", str(config_path), "--generate-config",
                    "--report-stats=no"], cwd=workdir, check=True, capture_output=True)
    port = free_port()
    config = yaml.safe_load(config_path.read_text())
    config.update({
        "listeners": [{"port": port, "bind_addresses": ["127.0.0.1"], "type": "http",
                       "tls": False, "x_forwarded": False,
                       "resources": [{"names": ["client"], "compress": False}]}],
        "enable_registration": True,
        "enable_registration_without_verification": True,
        "federation_domain_whitelist": [],
        "trusted_key_servers": [],
        "presence": {"enabled": True},
        "rc_message": UNLIMITED, "rc_registration": UNLIMITED, "rc_login": {
            "address": UNLIMITED, "account": UNLIMITED, "failed_attempts": UNLIMITED},
        "rc_joins": {"local": UNLIMITED, "remote": UNLIMITED},
        "rc_invites": {"per_room": UNLIMITED, "per_user": UNLIMITED,
                       "per_issuer": UNLIMITED},
        "rc_presence": {"per_user": UNLIMITED},
        "rc_delayed_event_mgmt": UNLIMITED, "rc_room_creation": UNLIMITED,
        "rc_joins_per_room": UNLIMITED, "rc_profile": UNLIMITED,
        "log_config": None,
    })
    if bcrypt_rounds is not None:
        config["bcrypt_rounds"] = bcrypt_rounds
    config.pop("log_config")
    config_path.write_text(yaml.safe_dump(config))
    log = workdir / "synapse.log"
    proc = _spawn([str(python), "-m", "synapse.app.homeserver", "-c", str(config_path)],
                  workdir, log)
    url = f"http://127.0.0.1:{port}"
    server = Server("Synapse", [url], [proc])
    try:
        await _wait_ready(url, proc, log)
    except BaseException:
        await server.stop()
        raise
    return server


def _our_command(data_dir: Path, port: int, extra: list[str]) -> list[str]:
    config = data_dir / "bench.yaml"
    config.write_text(yaml.safe_dump({"rate_limits": {"enabled": False},
                                      "log_level": "warning"}))
    return [sys.executable, "-c", "from homeserver.cli import main; main()",
            "--config", str(config), "--server-name", "bench.local",
            "--data-dir", str(data_dir), "--port", str(port), *extra]


async def start_ours() -> Server:
    data_dir = Path(tempfile.mkdtemp(prefix="bench-ours-"))
    port = free_port()
    return await start_process("ours (SQLite, 1 process)", _our_command(data_dir, port, []),
                               data_dir, port)


async def start_process(name: str, command: list[str], data_dir: Path, port: int) -> Server:
    """One server process from ``command``, once it answers on ``port``."""
    log = data_dir / "server.log"
    proc = _spawn(command, data_dir, log)
    server = Server(name, [f"http://127.0.0.1:{port}"], [proc])
    try:
        await _wait_ready(server.urls[0], proc, log)
    except BaseException:
        await server.stop()
        raise
    return server


async def start_ours_pg() -> Server:
    """One process on a fresh PostgreSQL database, with the in-process notifier."""
    database = await _create_database()
    data_dir = Path(tempfile.mkdtemp(prefix="bench-pg-"))
    port = free_port()
    log = data_dir / "server.log"
    server = Server("ours (PostgreSQL, 1 process)", [f"http://127.0.0.1:{port}"], [],
                    [database])
    try:
        server.procs.append(_spawn(_our_command(data_dir, port, ["--database",
                                                                 _database_url(database)]),
                                   data_dir, log))
        await _wait_ready(server.urls[0], server.procs[0], log)
    except BaseException:
        await server.stop()
        raise
    return server


async def _create_database() -> str:
    database = f"hs_bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(PG_ADMIN)
    await admin.execute(f'CREATE DATABASE "{database}"')
    await admin.close()
    return database


def _database_url(database: str) -> str:
    return f"postgresql://postgres@127.0.0.1:5432/{database}"


async def start_ours_workers(count: int = 2) -> Server:
    """``count`` workers sharing a fresh PostgreSQL database and Redis."""
    client = aioredis.from_url(REDIS_URL)
    async for key in client.scan_iter("hs:*"):
        await client.delete(key)
    await client.aclose()
    database = await _create_database()
    data_dir = Path(tempfile.mkdtemp(prefix="bench-workers-"))
    url = _database_url(database)
    server = Server(f"ours (PostgreSQL + Redis, {count} workers)", [], [], [database])
    try:
        for index in range(count):
            port = free_port()
            log = data_dir / f"worker{index}.log"
            proc = _spawn(_our_command(data_dir, port, ["--database", url, "--redis",
                                                         REDIS_URL]), data_dir, log)
            server.procs.append(proc)
            server.urls.append(f"http://127.0.0.1:{port}")
            await _wait_ready(server.urls[-1], proc, log)
    except BaseException:
        await server.stop()
        raise
    return server
