"""A subscription's queue: order, its bound, and cancelled waits lose nothing."""

from __future__ import annotations

import asyncio

import pytest

from homeserver.notifier import LocalNotifier


async def test_messages_arrive_in_order_and_the_queue_is_bounded() -> None:
    notifier = LocalNotifier()
    with notifier.subscribe(["a", "b"], max_queued=3) as subscription:
        for n in range(5):
            await notifier.publish("a" if n % 2 else "b", {"n": n})
        assert subscription.overflowed
        assert [(await subscription.next())[1]["n"] for _ in range(3)] == [0, 1, 2]
        subscription.overflowed = False
        await notifier.publish("a", {"n": 5})  # room again once read
        assert await subscription.next() == ("a", {"n": 5})
        assert not subscription.overflowed


async def test_a_cancelled_wait_loses_nothing() -> None:
    notifier = LocalNotifier()
    with notifier.subscribe(["a"]) as subscription:
        with pytest.raises(TimeoutError):  # waits, then is cancelled by its deadline
            async with asyncio.timeout(0):
                await subscription.next()
        await notifier.publish("a", {"n": 1})
        assert await subscription.next() == ("a", {"n": 1})
        # gather starts the reader first: it is waiting when the message comes.
        got, _ = await asyncio.gather(subscription.next(), notifier.publish("a", {"n": 2}))
        assert got == ("a", {"n": 2})


async def test_an_unsubscribed_queue_gets_nothing() -> None:
    notifier = LocalNotifier()
    subscription = notifier.subscribe(["a"])
    subscription.close()
    await notifier.publish("a", {"n": 1})
    assert subscription.drain() == []
