"""Waiting in tests without sleeping.

Each wait here ends on an event the server announces (a long-poll parked on
its subscription, a closed connection let go, a message published, a timer
set on the fake clock), bounded by a real-time guard so a bug fails the test
instead of hanging it. ``eventually`` is the one exception: a bounded poll for
what only another process or the real network can tell (a subprocess's port
opening, a federation peer's delivery failing over loopback HTTP).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from homeserver.clock import FakeClock
from homeserver.notifier import Message, Notifier
from homeserver.services import Homeserver

GUARD_SECONDS = 10.0
POLL_SECONDS = 0.005


async def parked(server: Homeserver, user_id: str) -> None:
    """Until one of the user's long-polls (or stream sockets) waits for news."""
    async with asyncio.timeout(GUARD_SECONDS):
        await server.sync.parked.changes.until(lambda: user_id in server.sync.parked)


async def parked_or_done(server: Homeserver, user_id: str, task: asyncio.Task[Any]) -> bool:
    """Until the long-poll ``task`` waits for news (True) or has answered (False)."""
    done = asyncio.ensure_future(asyncio.wait([task]))
    waiting = asyncio.ensure_future(parked(server, user_id))
    await asyncio.wait([done, waiting], return_when=asyncio.FIRST_COMPLETED)
    done.cancel()
    waiting.cancel()
    return not task.done()


async def let_go(server: Homeserver, user_id: str) -> None:
    """Until the server has handled the end of the user's last connection to it."""
    presence = server.presence
    async with asyncio.timeout(GUARD_SECONDS):
        await presence.connections_changed.until(lambda: not presence.connected_here(user_id))


async def timer_set(clock: FakeClock, seconds: float) -> None:
    """Until something waits on the fake clock for ``seconds`` from now."""
    async with asyncio.timeout(GUARD_SECONDS):
        await clock.timers_set.until(
            lambda: any(abs(due - seconds) < 1e-6 for due in clock.pending()))


@asynccontextmanager
async def published(notifier: Notifier, channel: str) -> AsyncIterator[asyncio.Task[Message]]:
    """Subscribe before the block; the task yields the first message published after."""
    with notifier.subscribe([channel]) as subscription:
        await subscription.ready()
        task = asyncio.create_task(subscription.next())
        try:
            yield task
            async with asyncio.timeout(GUARD_SECONDS):
                await task
        finally:
            task.cancel()


async def eventually(condition: Callable[[], Awaitable[bool]], reason: str) -> None:
    """Poll ``condition`` until true, bounded. Only for what no event here announces."""
    try:
        async with asyncio.timeout(GUARD_SECONDS):
            while not await condition():
                await asyncio.sleep(POLL_SECONDS)
    except TimeoutError:
        raise AssertionError(f"still waiting: {reason}") from None
