"""Presence at scale: users in a ring of DMs, N of them long-polling /sync, changes at a rate.

User i shares a DM with users i+1, i+2 and i+3 (mod the ring's size), so
everyone has six co-members. The ring is made once, for the largest N; each
phase then brings users 0..N-1 online (more of them each phase) and measures
with N users online, so a change reaches the six long-polls of its co-members
(fewer at the two ends of the online stretch while N is below the ring's size).
One ring for every N keeps Synapse's setup to minutes: it spends ~0.1 s of CPU
per DM made and joined. Every online user long-polls (timeout 30 s) with
``set_presence`` set to the state it last chose, online at first, as a client
does: a sync then never undoes the change just made, on either server. Random
online users (never one whose last change is still on its way) flip between
online and unavailable with PUT /presence/{userId}/status at a fixed rate.

Measured per phase, once the server is calm: the server processes'
user+system CPU from the first change until every change has reached every
online co-member, per change, as is and less the idle rate over that time; the
idle rate itself, CPU per second while everyone long-polls and nothing changes
(the part no change causes); and, for each change and co-member, the time from
the PUT being sent to the new state arriving in that co-member's /sync.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from bench.client import User
from bench.scenarios import Bench, pct

RING = (1, 2, 3)
AT_ONCE = 32  # setup requests in flight at once (Synapse makes DMs ~10% faster than at 8)
POLL_TIMEOUT_MS = 30_000
QUIET_S = 1.0  # no presence event for this long: the setup's own changes have landed
DRAIN_S = 15.0  # a change not seen by then counts as missed
BUSY = 0.5  # CPU seconds per second: the server is still busy with setup

T = TypeVar("T")
Seen = Callable[[int, str, str, float], None]  # observer, sender, presence, arrival


@dataclass
class Change:
    state: str
    sent: float
    waiting: set[int]  # co-members that have not seen it yet


class Poller:
    """One user's /sync long-poll loop, reporting every presence event it receives."""

    def __init__(self, index: int, user: User, seen: Seen) -> None:
        self.index, self.user, self.seen = index, user, seen
        self.state = "online"
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        token = (await self.user.sync(None, 0, self.state))["next_batch"]
        self.task = asyncio.create_task(self._loop(token))

    async def _loop(self, token: str) -> None:
        while True:
            sync = await self.user.sync(token, POLL_TIMEOUT_MS, self.state)
            now = time.perf_counter()
            token = sync["next_batch"]
            for event in sync.get("presence", {}).get("events", []):
                self.seen(self.index, event["sender"], event["content"].get("presence", ""),
                          now)


class _Steps:
    """Progress on stderr: the setup of 1 000 users takes minutes on Synapse."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    def done(self, what: str) -> None:
        now = time.perf_counter()
        print(f"bench:   {what} in {now - self.start:.1f} s", file=sys.stderr)
        self.start = now


def co_members(index: int, count: int) -> set[int]:
    return {(index + sign * step) % count for step in RING for sign in (1, -1)}


async def _limited(jobs: list[Callable[[], Awaitable[T]]]) -> list[T]:
    """Run the jobs ``AT_ONCE`` at a time, starting them in order; results in order."""
    gate = asyncio.Semaphore(AT_ONCE)

    async def one(job: Callable[[], Awaitable[T]]) -> T:
        async with gate:
            return await job()

    return await asyncio.gather(*(one(job) for job in jobs))


class Fanout:
    """The changes on their way, and the arrival of each at each online co-member."""

    def __init__(self, users: list[User]) -> None:
        self.ring = len(users)
        self.online = 0
        self.index_of = {u.user_id: i for i, u in enumerate(users)}
        self.pending: dict[int, Change] = {}
        self.latencies: list[float] = []
        self.last_event = time.perf_counter()
        self.drained = asyncio.Event()

    def begin(self, online: int) -> None:
        """A new phase: users 0..online-1 are long-polling."""
        self.online = online
        self.pending.clear()
        self.latencies = []

    def start(self, user: int, state: str) -> None:
        waiting = {m for m in co_members(user, self.ring) if m < self.online}
        if waiting:
            self.pending[user] = Change(state, time.perf_counter(), waiting)
            self.drained.clear()

    def seen(self, observer: int, sender: str, presence: str, now: float) -> None:
        self.last_event = now
        user = self.index_of.get(sender)
        change = self.pending.get(user) if user is not None else None
        if change is None or presence != change.state or observer not in change.waiting:
            return
        change.waiting.discard(observer)
        self.latencies.append(now - change.sent)
        if not change.waiting:
            del self.pending[user]
            if not self.pending:
                self.drained.set()

    async def quiet(self, at_most: float = 30.0) -> None:
        """Until no presence event has arrived for ``QUIET_S``."""
        deadline = time.perf_counter() + at_most
        while (now := time.perf_counter()) - self.last_event < QUIET_S and now < deadline:
            await asyncio.sleep(0.1)

    async def drain(self) -> int:
        """Wait for the changes still on their way; how many arrivals never came."""
        if self.pending:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.drained.wait(), DRAIN_S)
        return sum(len(change.waiting) for change in self.pending.values())


@dataclass(frozen=True)
class Phase:
    rate: float  # changes per second
    seconds: float
    idle_seconds: float


async def presence_fanout(bench: Bench, online: list[int], phase: Phase,
                          measure_cpu: Callable[[], float]) -> dict[str, float]:
    """A ring of max(``online``) users; the figures with each count of them online."""
    ring = max(online)
    assert ring > 2 * len(RING), "the ring needs distinct co-members"
    progress = _Steps()
    # Ours registers without a password: hashing 1 000 of them would be most of the run.
    users = await _limited([lambda: bench.user(password=not bench.ours)] * ring)
    progress.done(f"{ring} users registered")
    await _limited([lambda a=a, b=b: bench.dm(users[a], users[b]) for a in range(ring)
                    for b in ((a + d) % ring for d in RING)])
    progress.done(f"{ring * len(RING)} DMs made and joined")
    fanout = Fanout(users)
    pollers = [Poller(i, user, fanout.seen) for i, user in enumerate(users)]
    figures: dict[str, float] = {}
    try:
        for count in sorted(online):
            await _limited([p.start for p in pollers[:count] if p.task is None])
            progress.done(f"{count} users long-polling")
            figures.update(await _phase(users, pollers, fanout, count, phase, measure_cpu))
            progress.done(f"changes with {count} online made and fanned out")
    finally:
        tasks = [p.task for p in pollers if p.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return figures


async def _phase(users: list[User], pollers: list[Poller], fanout: Fanout, online: int,
                 phase: Phase, measure_cpu: Callable[[], float]) -> dict[str, float]:
    await fanout.quiet()
    print(f"bench:   server calm after {await _settle(measure_cpu):.0f} s", file=sys.stderr)
    fanout.begin(online)
    cpu_before = measure_cpu()
    await asyncio.sleep(phase.idle_seconds)
    idle = (measure_cpu() - cpu_before) / phase.idle_seconds
    total = max(1, round(phase.rate * phase.seconds))
    cpu_before, started = measure_cpu(), time.perf_counter()
    await _change(users, pollers, fanout, phase.rate, total)
    missed = await fanout.drain()
    cpu, took = measure_cpu() - cpu_before, time.perf_counter() - started
    for poller in pollers:
        if poller.task is not None and poller.task.done():
            poller.task.result()  # a failed long-poll fails the scenario
    label = f"{online} users online"
    return {f"presence change CPU ms, {label}": cpu * 1000 / total,
            # What the changes added: a server that falls behind drains for longer, and
            # the long-polls' own cost over that time is not the changes'.
            f"presence change CPU ms less idle, {label}":
                max(0.0, cpu - idle * took) * 1000 / total,
            f"presence fan-out p50 ms, {label}": pct(fanout.latencies, 0.5),
            f"presence fan-out p95 ms, {label}": pct(fanout.latencies, 0.95),
            f"idle CPU ms per second, {label}": idle * 1000,
            f"presence arrivals missed, {label}": float(missed)}


async def _settle(measure_cpu: Callable[[], float], at_most: float = 60.0) -> float:
    """Until the server uses under ``BUSY`` of a core for two seconds in a row.

    Synapse has been seen busy for a while after the setup's 3 000 DMs; that CPU
    is setup's, not presence's. Its renewal of 1 000 long-polls as they time out
    costs ~0.3 of a core and stays under the bar. Returns the seconds waited.
    """
    calm = 0
    start = time.perf_counter()
    while calm < 2 and time.perf_counter() - start < at_most:
        before = measure_cpu()
        await asyncio.sleep(1.0)
        calm = calm + 1 if measure_cpu() - before < BUSY else 0
    return time.perf_counter() - start


async def _change(users: list[User], pollers: list[Poller], fanout: Fanout, rate: float,
                  total: int) -> None:
    """``total`` changes, one every 1/``rate`` s whatever the answers take."""
    rng = random.Random(fanout.online)  # the same users on every server, timing allowing
    puts = []
    start = time.perf_counter()
    for n in range(total):
        if (delay := start + n / rate - time.perf_counter()) > 0:
            await asyncio.sleep(delay)
        while 2 * len(fanout.pending) >= fanout.online:  # only a small ring gets here
            await asyncio.sleep(0.01)
        user = rng.randrange(fanout.online)
        while user in fanout.pending:
            user = rng.randrange(fanout.online)
        poller = pollers[user]
        # The user's next long-polls carry the new state before the PUT is sent.
        poller.state = "unavailable" if poller.state == "online" else "online"
        fanout.start(user, poller.state)
        puts.append(asyncio.create_task(users[user].presence(poller.state)))
    await asyncio.gather(*puts)
