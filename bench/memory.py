"""Memory scenarios: resident memory after registrations and logins, and per idle socket.

The server's resident memory (VmRSS) is read from /proc; the sockets are the
load generator's, a separate process, so the client's memory is not counted.
Each socket kind is measured on a fresh server: memory freed by earlier work
would otherwise be reused by the sockets and hide part of their cost.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import aiohttp

from bench.client import User
from bench.scenarios import WAIT, Bench, SocketInbox, summary

STREAM_PATH = "/_matrix/client/unstable/ws"
SOCKET_KINDS = {"general-stream": STREAM_PATH, "DM": None}  # None: the DM socket's own path


async def registrations(bench: Bench, count: int, rss: Callable[[], float],
                        at_once: int = 8) -> dict[str, float]:
    """``count`` users register and log in, ``at_once`` at a time; each hashes a password."""
    gate = asyncio.Semaphore(at_once)

    async def one() -> None:
        async with gate:
            user = await bench.user()
            await user.login()

    await asyncio.gather(*(one() for _ in range(count)))
    return {f"resident MiB, after {count} registrations and logins": rss()}


async def idle_sockets(bench: Bench, kind: str, count: int, rss: Callable[[], float],
                       holders: int = 50, samples: int = 20) -> dict[str, float]:
    """``count`` idle sockets of ``kind`` held open; memory each, and delivery to one more."""
    peer = await bench.user()
    owners = [await bench.user() for _ in range(holders)]
    for owner in owners:
        room = await owner.create_dm(peer.user_id)
        await peer.join(room)
    path = SOCKET_KINDS[kind] or f"/ws/dm/{peer.user_id}"
    before = rss()
    sockets = await _open(owners, path, count)
    await asyncio.sleep(1.0)  # let the server settle before reading its memory
    per_socket_kib = (rss() - before) * 1024 / count
    (pair,) = await bench.pairs(1)
    inbox = SocketInbox(pair.receiver, pair.sender.user_id, SOCKET_KINDS[kind])
    await inbox.start()
    latencies = []
    for n in range(samples):
        body = f"idle-{bench.run_id}-{n}"
        arrived = inbox.expect(body)
        start = time.perf_counter()
        await pair.sender.send(pair.room_id, body)
        latencies.append(await asyncio.wait_for(arrived, WAIT) - start)
    await inbox.stop()
    await asyncio.gather(*(ws.close() for ws in sockets))
    return {"idle sockets": float(count), "server KiB per idle socket": per_socket_kib,
            **summary(f"DM send → its socket with {count} others open", latencies)}


async def _open(owners: list[User], path: str, count: int,
                at_once: int = 50) -> list[aiohttp.ClientWebSocketResponse]:
    gate = asyncio.Semaphore(at_once)
    sockets: list[aiohttp.ClientWebSocketResponse] = []

    async def open_one(index: int) -> None:
        owner = owners[index % len(owners)]
        url = owner.base_url.replace("http", "ws", 1) + path
        async with gate:
            ws = await owner.session.ws_connect(url, headers=owner.headers, heartbeat=None)
            await ws.receive_json()  # ready, or the first sync frame
        sockets.append(ws)

    await asyncio.gather(*(open_one(i) for i in range(count)))
    return sockets
