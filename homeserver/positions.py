"""Which stream positions this worker may hand out in tokens.

Writes take their positions from a sequence and commit in any order: two
writes into different rooms run side by side, and the one with the lower
position may commit last. A token must never pass a position still in
flight, or the reader holding it would skip that event for good. So, as with
Synapse's multi-writer stream IDs, each worker keeps ``current``: the highest
position at or below which every write has finished (committed or rolled
back). Its own writes report here when they end; other workers' writes arrive
on the ``stream_positions`` channel. A gap nobody reports (a worker that died
mid-write, a message Redis lost) is closed by settling against the database
once it has held ``current`` still for ``GAP_SECONDS``.

Notifications about a position past ``current`` wait here until it catches
up, so a reader that wakes always finds what woke it.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from homeserver.channels import POSITIONS_CHANNEL
from homeserver.clock import Clock, Timer
from homeserver.notifier import RESYNC, Message, Notifier, Subscription

log = logging.getLogger(__name__)
GAP_SECONDS = 0.5


class StreamPositions:
    def __init__(self, settle: Callable[[], Awaitable[int]], clock: Clock,
                 rollback_frees_position: bool) -> None:
        self.current = 0
        self._settle = settle
        self._clock = clock
        # SQLite gives a rolled-back position to the next write: it never finishes.
        self._rollback_frees = rollback_frees_position
        self._finished: set[int] = set()  # above current, each known to be done
        self._mine: set[int] = set()  # taken by this worker's writes, still open
        self._held: list[tuple[int, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self._timer: Timer | None = None
        self._timer_at = 0
        self._settling: asyncio.Task[None] | None = None
        self._notifier: Notifier | None = None
        self._subscription: Subscription | None = None

    async def open(self, notifier: Notifier) -> None:
        """Follow the other workers' writes (when there can be any), then settle."""
        if notifier.shared:
            self._notifier = notifier
            # Handled as each report arrives, not by a task later: a reader whose room
            # subscription is confirmed has had every report published before it.
            self._subscription = notifier.subscribe([POSITIONS_CHANNEL],
                                                    on_message=self._heard)
            # Subscribed before settling: a write that ends after the settle is heard.
            await self._subscription.ready()
        self.current = max(self.current, await self._settle())

    def close(self) -> None:
        if self._subscription is not None:
            self._subscription.close()
        if self._settling is not None:
            self._settling.cancel()
        if self._timer is not None:
            self._timer.cancel()

    def taken(self, position: int) -> None:
        """This worker's write took ``position`` and has not ended yet."""
        self._mine.add(position)

    async def ended(self, positions: list[int], committed: bool) -> None:
        """This worker's write ended: its positions are done, here and on every worker."""
        self._mine.difference_update(positions)
        if not positions or (not committed and self._rollback_frees):
            return
        self.finished(positions)
        if self._notifier is not None:
            await self._notifier.publish(POSITIONS_CHANNEL, {"finished": positions})

    def finished(self, positions: Iterable[int]) -> None:
        """Writes with these positions have ended (here or on another worker)."""
        self._finished.update(p for p in positions if p > self.current)
        self._advance()

    def when_visible(self, position: int, deliver: Callable[[], None]) -> None:
        """Run ``deliver`` once ``current`` reaches ``position`` (now, if it has)."""
        if position <= self.current:
            deliver()
            return
        heapq.heappush(self._held, (position, next(self._order), deliver))
        self._watch_gap()

    def _advance(self) -> None:
        while self.current + 1 in self._finished:
            self._finished.remove(self.current + 1)
            self.current += 1
        while self._held and self._held[0][0] <= self.current:
            heapq.heappop(self._held)[2]()
        self._watch_gap()

    def _raise_to(self, settled: int) -> None:
        if settled > self.current:
            self.current = settled
            self._finished = {p for p in self._finished if p > settled}
        self._advance()

    def _watch_gap(self) -> None:
        waiting = bool(self._finished or self._held)
        if not waiting and self._timer is not None:
            self._timer.cancel()
            self._timer = None
        elif waiting and self._timer is None and self._settling is None:
            self._timer_at = self.current
            self._timer = self._clock.call_later(GAP_SECONDS, self._on_gap)

    def _on_gap(self) -> None:
        self._timer = None
        # Moving, or held up by a write of ours that is still running: no gap to settle.
        if self.current != self._timer_at or self.current + 1 in self._mine:
            self._watch_gap()
            return
        self.settle_soon()

    def settle_soon(self) -> None:
        if self._settling is None:
            self._settling = asyncio.create_task(self._settle_gap())

    async def _settle_gap(self) -> None:
        try:
            settled = await self._settle()
        except Exception as exc:
            log.warning("could not settle the stream position: %s", exc)
            settled = self.current
        finally:
            self._settling = None
        self._raise_to(settled)

    def _heard(self, message: Message) -> None:
        payload = message[1]
        if payload.get("kind") == RESYNC:  # the broker lost messages: settle now
            self.settle_soon()
        else:
            self.finished(_positions(payload.get("finished")))


def _positions(value: Any) -> list[int]:
    if not isinstance(value, list):
        return []
    return [p for p in value if isinstance(p, int) and not isinstance(p, bool)]

