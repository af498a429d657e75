"""The fake clock: timers, sleeps and deadlines move only when a test advances it."""

from __future__ import annotations

import asyncio

import pytest

from homeserver.clock import FakeClock


async def test_timers_fire_in_due_order_each_at_its_own_moment() -> None:
    clock = FakeClock()
    start = clock.monotonic()
    fired: list[tuple[str, float]] = []
    clock.call_later(2, lambda: fired.append(("b", clock.monotonic() - start)))
    clock.call_later(1, lambda: fired.append(("a", clock.monotonic() - start)))
    cancelled = clock.call_later(1.5, lambda: fired.append(("never", 0)))
    cancelled.cancel()
    clock.advance(0.999)
    assert fired == []
    clock.advance(5)
    assert fired == [("a", 1.0), ("b", 2.0)]
    assert clock.monotonic() - start == pytest.approx(5.999)


async def test_a_deadline_passes_only_when_the_clock_is_advanced() -> None:
    clock = FakeClock()
    never: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def wait() -> str:
        try:
            async with clock.timeout(30):
                await never
        except TimeoutError:
            return "timed out"
        return "woke"

    waiting = asyncio.create_task(wait())
    await clock.timers_set.until(lambda: clock.pending() == [30])
    clock.advance(29)
    assert not waiting.done()
    clock.advance(1)
    assert await waiting == "timed out"
    assert clock.pending() == []


async def test_a_block_that_finishes_in_time_is_not_cancelled_later() -> None:
    clock = FakeClock()
    async with clock.timeout(1):
        assert clock.pending() == [1]
    assert clock.pending() == []  # so advancing past it cancels nothing
    with pytest.raises(TimeoutError):
        async with clock.timeout(None):
            raise TimeoutError  # None never expires; errors pass through


async def test_sleepers_wake_on_advance_and_cancelled_ones_leave_no_timer() -> None:
    clock = FakeClock()
    sleeper = asyncio.create_task(clock.sleep(10))
    other = asyncio.create_task(clock.sleep(10))
    await clock.timers_set.until(lambda: len(clock.pending()) == 2)
    other.cancel()
    with pytest.raises(asyncio.CancelledError):
        await other
    assert clock.pending() == [10]
    clock.advance(10)
    await asyncio.wait_for(sleeper, 1)
