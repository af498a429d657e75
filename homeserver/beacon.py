"""A beacon a service lights when some state of its changes.

Whoever needs that state to reach a condition (a test waiting for a long-poll
to park, for a closed socket to be let go) awaits ``until(condition)`` and is
woken on each change, instead of sleeping and looking again. Lighting it costs
nothing when nobody waits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class Beacon:
    def __init__(self) -> None:
        self._waiters: list[asyncio.Future[None]] = []

    def changed(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def until(self, condition: Callable[[], bool]) -> None:
        """Return once ``condition()`` holds, looking again after every change."""
        while not condition():
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            await waiter
