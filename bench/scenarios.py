"""The scenarios, each run the same way against every server through the standard API.

Every scenario returns a flat dict of named figures (milliseconds, counts,
rates) that the report lays side by side.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp

from bench.client import User
from bench.servers import Server

WAIT = 30.0


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else 0.0


def summary(prefix: str, seconds: list[float]) -> dict[str, float]:
    return {f"{prefix} p50 ms": pct(seconds, 0.5), f"{prefix} p95 ms": pct(seconds, 0.95),
            f"{prefix} p99 ms": pct(seconds, 0.99)}


@dataclass
class Pair:
    sender: User
    receiver: User
    room_id: str


class Bench:
    """One server under test and the client session that drives it."""

    def __init__(self, server: Server, session: aiohttp.ClientSession, ours: bool) -> None:
        self.server = server
        self.session = session
        self.ours = ours
        self.run_id = secrets.token_hex(3)
        self._users = 0

    async def user(self, password: bool = True) -> User:
        """A new user on the next worker in turn; ``password=False`` (ours only) skips
        hashing, for scenarios that need many users and never log in."""
        user = User(self.session, self.server.url_for(self._users))
        self._users += 1
        name = f"b{self.run_id}u{self._users}"
        await (user.register(name) if password else user.register(name, None))
        return user

    async def dm(self, a: User, b: User) -> str:
        """``a`` and ``b``'s DM room, joined by both: our DM endpoint, or Synapse's
        createRoom with is_direct."""
        room = await (a.resolve_dm(b.user_id) if self.ours else a.create_dm(b.user_id))
        await b.join(room)
        return room

    async def pairs(self, count: int) -> list[Pair]:
        """Sender and receiver are consecutive users, so on different workers."""
        made = []
        for _ in range(count):
            sender, receiver = await self.user(), await self.user()
            made.append(Pair(sender, receiver, await self.dm(sender, receiver)))
        return made


# An inbox must see every message: with the default timeline limit (10 on both
# servers) a receiver that falls more than 10 messages behind under load gets a
# limited timeline, and the messages before it only through /messages.
INBOX_FILTER = json.dumps({"room": {"timeline": {"limit": 1000}}})


class Inbox:
    """A receiver's /sync loop, resolving a future per expected message body."""

    def __init__(self, user: User) -> None:
        self.user = user
        self.expected: dict[str, asyncio.Future[float]] = {}
        self.typing: list[tuple[float, list[str]]] = []
        self.presence: list[tuple[float, str, str]] = []
        self.changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def expect(self, body: str) -> asyncio.Future[float]:
        future = asyncio.get_running_loop().create_future()
        self.expected[body] = future
        return future

    async def start(self) -> None:
        token = (await self.user.sync(None, 0))["next_batch"]
        self._task = asyncio.create_task(self._loop(token))

    async def _loop(self, token: str) -> None:
        while True:
            sync = await self.user.sync(token, sync_filter=INBOX_FILTER)
            now = time.perf_counter()
            token = sync["next_batch"]
            for room in sync.get("rooms", {}).get("join", {}).values():
                for event in room.get("timeline", {}).get("events", []):
                    body = event.get("content", {}).get("body")
                    future = self.expected.pop(body, None)
                    if future is not None and not future.done():
                        future.set_result(now)
                for event in room.get("ephemeral", {}).get("events", []):
                    if event["type"] == "m.typing":
                        self.typing.append((now, event["content"]["user_ids"]))
            for event in sync.get("presence", {}).get("events", []):
                self.presence.append((now, event["sender"], event["content"]["presence"]))
            self.changed.set()

    async def wait_for(self, check: Callable[[], bool]) -> float:
        while not check():
            self.changed.clear()
            await asyncio.wait_for(self.changed.wait(), WAIT)
        return time.perf_counter()

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()


class SocketInbox:
    """Our socket for a receiver, arrival time of each message body and typing frame.

    The DM socket with ``peer`` by default; with ``path`` another of ours (the
    general stream, whose messages come in sync frames).
    """

    def __init__(self, user: User, peer: str, path: str | None = None) -> None:
        self.user, self.peer = user, peer
        self.path = path or f"/ws/dm/{peer}"
        self.expected: dict[str, asyncio.Future[float]] = {}
        self.typing = asyncio.Queue[float]()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        url = self.user.base_url.replace("http", "ws", 1) + self.path
        self.ws = await self.user.session.ws_connect(url, headers=self.user.headers)
        first = await self.ws.receive_json()
        assert first["type"] in ("ready", "sync"), first
        self._task = asyncio.create_task(self._loop())

    def expect(self, body: str) -> asyncio.Future[float]:
        future = asyncio.get_running_loop().create_future()
        self.expected[body] = future
        return future

    def _arrived(self, event: dict, now: float) -> None:
        future = self.expected.pop(event.get("content", {}).get("body"), None)
        if future is not None and not future.done():
            future.set_result(now)

    async def _loop(self) -> None:
        async for msg in self.ws:
            now = time.perf_counter()
            frame = json.loads(msg.data)
            if frame["type"] == "message":
                self._arrived(frame["event"], now)
            elif frame["type"] == "sync":
                for room in frame.get("rooms", {}).get("join", {}).values():
                    for event in room.get("timeline", {}).get("events", []):
                        self._arrived(event, now)
            elif frame["type"] == "typing":
                self.typing.put_nowait(now)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        await self.ws.close()


async def dm_latency(bench: Bench, pairs: int, messages: int) -> dict[str, float]:
    """Send-request latency and send → receiver's waiting /sync (and our socket)."""
    made = await bench.pairs(pairs)
    send, e2e, socket = [], [], []

    async def converse(index: int, pair: Pair) -> None:
        inbox = Inbox(pair.receiver)
        await inbox.start()
        sock = SocketInbox(pair.receiver, pair.sender.user_id) if bench.ours else None
        if sock:
            await sock.start()
        for n in range(messages):
            body = f"lat-{bench.run_id}-{index}-{n}"
            arrived = inbox.expect(body)
            over_socket = sock.expect(body) if sock else None
            start = time.perf_counter()
            send.append(await pair.sender.send(pair.room_id, body))
            e2e.append(await asyncio.wait_for(arrived, WAIT) - start)
            if over_socket is not None:
                socket.append(await asyncio.wait_for(over_socket, WAIT) - start)
        inbox.stop()
        if sock:
            await sock.stop()

    await asyncio.gather(*(converse(i, p) for i, p in enumerate(made)))
    result = {**summary("send request", send), **summary("send → /sync", e2e)}
    if socket:
        result.update(summary("send → DM socket", socket))
    return result


async def typing_and_presence(bench: Bench, rounds: int) -> dict[str, float]:
    """PUT typing / presence → the other side sees it (waiting /sync, our socket)."""
    (pair,) = await bench.pairs(1)
    inbox = Inbox(pair.receiver)
    await inbox.start()
    sock = SocketInbox(pair.receiver, pair.sender.user_id) if bench.ours else None
    if sock:
        await sock.start()
    typing, typing_socket, presence = [], [], []
    me = pair.sender.user_id
    for n in range(rounds):
        on = n % 2 == 0
        seen = len(inbox.typing)
        start = time.perf_counter()
        await pair.sender.typing(pair.room_id, on)
        done = await inbox.wait_for(lambda seen=seen, on=on: any(
            (me in ids) == on for _, ids in inbox.typing[seen:]))
        typing.append(done - start)
        if sock:
            typing_socket.append(await asyncio.wait_for(sock.typing.get(), WAIT) - start)
    for n in range(rounds):
        state = "unavailable" if n % 2 == 0 else "online"
        seen = len(inbox.presence)
        start = time.perf_counter()
        await pair.sender.presence(state)
        done = await inbox.wait_for(lambda seen=seen, state=state: any(
            who == me and p == state for _, who, p in inbox.presence[seen:]))
        presence.append(done - start)
    inbox.stop()
    if sock:
        await sock.stop()
    result = {**summary("typing → /sync", typing), **summary("presence → /sync", presence)}
    if typing_socket:
        result.update(summary("typing → DM socket", typing_socket))
    return result


async def throughput(bench: Bench, pairs: int, messages: int,
                     measure_cpu: Callable[[], float]) -> dict[str, float]:
    """All pairs send at once, one request in flight per room."""
    made = await bench.pairs(pairs)
    inboxes = [Inbox(p.receiver) for p in made]
    await asyncio.gather(*(i.start() for i in inboxes))
    latencies: list[float] = []
    sent_at: list[float] = []
    cpu_before = measure_cpu()
    start = time.perf_counter()

    async def flood(index: int, pair: Pair, inbox: Inbox) -> list[Awaitable[float]]:
        waits = []
        for n in range(messages):
            body = f"tp-{bench.run_id}-{index}-{n}"
            arrived = inbox.expect(body)
            t0 = time.perf_counter()
            await pair.sender.send(pair.room_id, body)
            sent_at.append(time.perf_counter())
            waits.append(_latency(arrived, t0, latencies))
        return waits

    waits = await asyncio.gather(*(flood(i, p, b) for i, (p, b) in
                                   enumerate(zip(made, inboxes, strict=True))))
    accepted_at = max(sent_at)
    await asyncio.gather(*(w for group in waits for w in group))
    delivered_at = time.perf_counter()
    cpu = measure_cpu() - cpu_before
    for inbox in inboxes:
        inbox.stop()
    total = pairs * messages
    return {"accepted msg/s": total / (accepted_at - start),
            "delivered msg/s": total / (delivered_at - start),
            **summary("under load send → /sync", latencies),
            "server CPU ms per message": cpu * 1000 / total}


async def _latency(arrived: asyncio.Future[float], t0: float, out: list[float]) -> float:
    value = await asyncio.wait_for(arrived, WAIT * 4) - t0
    out.append(value)
    return value


async def sync_cost(bench: Bench, milestones: list[int]) -> dict[str, float]:
    """Incremental /sync time as the user's room count grows (nothing new each time)."""
    user = await bench.user()
    token = (await user.sync(None, 0))["next_batch"]
    result: dict[str, float] = {}
    have = 0
    for target in milestones:
        while have < target:
            batch = min(8, target - have)
            await asyncio.gather(*(user.create_room() for _ in range(batch)))
            have += batch
        token = (await user.sync(token, 0))["next_batch"]
        times = []
        for _ in range(5):
            start = time.perf_counter()
            token = (await user.sync(token, 0))["next_batch"]
            times.append(time.perf_counter() - start)
        result[f"incremental /sync ms, {target} rooms"] = statistics.median(times) * 1000
    return result
