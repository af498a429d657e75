"""Time as a dependency: the real clock, and a fake one tests can advance.

Everything in the core that reads the time, sleeps, or waits with a deadline
goes through a ``Clock``: ``time_ms``, ``monotonic``, ``sleep``, ``call_later``
and ``timeout``. A ``FakeClock`` moves only in ``advance``, which fires every
timer that falls due, in order of due time, before it returns; so a test
decides exactly when a typing notice lapses or a long-poll times out.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol

from homeserver.beacon import Beacon


class Timer(Protocol):
    def cancel(self) -> None: ...


class Clock:
    """Wall-clock milliseconds and monotonic seconds, injectable for tests."""

    def time_ms(self) -> int:
        return int(time.time() * 1000)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    def call_later(self, seconds: float, callback: Callable[[], None]) -> Timer:
        return asyncio.get_running_loop().call_later(max(0.0, seconds), callback)

    def timeout(self, seconds: float | None) -> AbstractAsyncContextManager[None]:
        """Like ``asyncio.timeout``: the block raises TimeoutError once ``seconds`` pass."""
        return asyncio.timeout(seconds)


class FakeTimer:
    def __init__(self, due: float, callback: Callable[[], None]) -> None:
        self.due = due
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class FakeClock(Clock):
    """A clock that moves only when told to; timers fire when it passes them."""

    def __init__(self, start_ms: int = 1_700_000_000_000) -> None:
        self._now = start_ms / 1000
        self._timers: list[tuple[float, int, FakeTimer]] = []
        self._order = itertools.count()  # equal due times fire in the order they were set
        self.timers_set = Beacon()  # lit whenever someone starts waiting on this clock

    def time_ms(self) -> int:
        return int(self._now * 1000)

    def monotonic(self) -> float:
        return self._now

    def call_later(self, seconds: float, callback: Callable[[], None]) -> FakeTimer:
        timer = FakeTimer(self._now + max(0.0, seconds), callback)
        heapq.heappush(self._timers, (timer.due, next(self._order), timer))
        self.timers_set.changed()
        return timer

    async def sleep(self, seconds: float) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        timer = self.call_later(seconds, lambda: fut.done() or fut.set_result(None))
        try:
            await fut
        finally:
            timer.cancel()

    @asynccontextmanager
    async def _timeout(self, seconds: float) -> AsyncIterator[None]:
        task = asyncio.current_task()
        assert task is not None
        fired = False

        def expire() -> None:
            nonlocal fired
            fired = True
            task.cancel()

        timer = self.call_later(seconds, expire)
        try:
            yield
        except asyncio.CancelledError:
            if fired and task.uncancel() == 0:
                raise TimeoutError from None
            raise
        finally:
            timer.cancel()

    def timeout(self, seconds: float | None) -> AbstractAsyncContextManager[None]:
        return asyncio.timeout(None) if seconds is None else self._timeout(seconds)

    def pending(self) -> list[float]:
        """Seconds from now to each timer still to fire, soonest first."""
        return sorted(t.due - self._now for _, _, t in self._timers if not t.cancelled)

    def advance(self, seconds: float) -> None:
        """Move time on, firing each timer due by then at its own moment."""
        target = self._now + seconds
        # Seconds since 1970 as a float are exact to about 0.2 µs: round up to a µs
        # so that advancing by a timer's own delay always fires it.
        while self._timers and self._timers[0][0] <= target + 1e-6:
            _, _, timer = heapq.heappop(self._timers)
            if not timer.cancelled:
                self._now = max(self._now, timer.due)
                timer.callback()
        self._now = max(self._now, target)
