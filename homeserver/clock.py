"""Time as a dependency: the real clock, and a fake one tests can advance."""

from __future__ import annotations

import asyncio
import time


class Clock:
    """Wall-clock milliseconds and monotonic seconds, injectable for tests."""

    def time_ms(self) -> int:
        return int(time.time() * 1000)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class FakeClock(Clock):
    """A clock that moves only when told to; sleepers wake when it passes them."""

    def __init__(self, start_ms: int = 1_700_000_000_000) -> None:
        self._now = start_ms / 1000
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def time_ms(self) -> int:
        return int(self._now * 1000)

    def monotonic(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleepers.append((self._now + seconds, fut))
        await fut

    def advance(self, seconds: float) -> None:
        self._now += seconds
        due = [s for s in self._sleepers if s[0] <= self._now]
        self._sleepers = [s for s in self._sleepers if s[0] > self._now]
        for _, fut in due:
            if not fut.done():
                fut.set_result(None)
