"""The ``homeserver`` command: flags, config, start, and a clean stop on a signal.

Exit status 0 after SIGTERM/SIGINT, 2 when the config or a backing service
(database, Redis, the listening address) cannot be used; the reason is one
line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

from aiohttp import web

from homeserver.app import create_app
from homeserver.config import Config, ConfigError, load_config
from homeserver.services import build_homeserver
from homeserver.storage import StorageUnavailable

SHUTDOWN_GRACE_SECONDS = 10.0


class StartupError(Exception):
    """Something the server needs is not there; the message says what."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="homeserver", description="Matrix homeserver")
    p.add_argument("--config", help="YAML config file (see config.sample.yaml)")
    p.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port to listen on (default 8008)")
    p.add_argument("--server-name", help="the server name in user IDs (default localhost)")
    p.add_argument("--data-dir", help="where data and keys live (default ./data)")
    p.add_argument("--database", help="sqlite:///path/to.db or postgresql://user@host:port/db")
    p.add_argument("--redis", help="redis://host:port/N for several workers")
    return p.parse_args(argv)


def overrides_from(args: argparse.Namespace) -> dict[str, object]:
    return {
        "listen.host": args.host,
        "listen.port": args.port,
        "server_name": args.server_name,
        "data_dir": args.data_dir,
        "database": args.database,
        "redis": args.redis,
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        config = load_config(args.config, overrides_from(args))
        logging.basicConfig(
            level=config.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
        )
        asyncio.run(serve(config))
    except (ConfigError, StartupError) as exc:
        print(f"homeserver: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        pass


async def check_redis(url: str) -> None:
    import redis.asyncio as aioredis

    client = aioredis.from_url(url)
    try:
        await client.ping()
    except (OSError, aioredis.RedisError) as exc:
        raise StartupError(f"cannot reach Redis at {url}: {exc}") from None
    finally:
        await client.aclose()


async def serve(config: Config) -> None:
    try:
        Path(config.data_dir).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StartupError(f"cannot create data_dir {config.data_dir}: {exc}") from None
    if config.redis:
        await check_redis(config.redis)
    try:
        hs = await build_homeserver(config)
    except StorageUnavailable as exc:
        raise StartupError(str(exc)) from None
    except OSError as exc:
        raise StartupError(f"cannot use the signing key in {config.data_dir}: {exc}") from None
    stop = _stop_on_signals()
    runner = web.AppRunner(
        create_app(hs), access_log=None, handle_signals=False,
        shutdown_timeout=SHUTDOWN_GRACE_SECONDS,
    )
    await runner.setup()
    try:
        await web.TCPSite(runner, config.listen.host, config.listen.port).start()
    except OSError as exc:
        await runner.cleanup()
        where = f"{config.listen.host}:{config.listen.port}"
        raise StartupError(f"cannot listen on {where}: {exc}") from None
    host, port = runner.addresses[0][:2]
    print(
        f"homeserver: listening on http://{host}:{port} as {config.server_name}; "
        f"data in {Path(config.data_dir).resolve()}",
        flush=True,
    )
    await stop.wait()
    await runner.cleanup()


def _stop_on_signals() -> asyncio.Event:
    """Installed before the address is announced, so an early signal is not lost."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop
