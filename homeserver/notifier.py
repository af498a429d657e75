"""Real-time fan-out: publish to a channel, subscribe a waiter to channels.

What the channels are called is ``homeserver/channels.py``'s concern.

The in-process notifier serves one process; a Redis one (several workers)
implements the same interface. A message about a stream position (its
``stream_ordering``) reaches this worker's subscribers only once the position
is safe to read up to (``homeserver/positions.py``), through a ``Gate``.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from typing import Any, Protocol

RESYNC = "_resync"  # a message kind: the broker may have lost messages, re-read
MAX_QUEUED = 1000

Message = tuple[str, dict[str, Any]]


class Gate(Protocol):
    def when_visible(self, position: int, deliver: Callable[[], None]) -> None:
        """Call ``deliver`` once readers may see ``position``."""


class Subscription:
    """A queue of messages from the channels it listens to.

    One reader at a time. An idle subscription holds no queue: one is made for
    the first message and dropped once read empty, since thousands of idle
    sockets each hold a subscription.
    """

    def __init__(self, notifier: Notifier, channels: Iterable[str],
                 max_queued: int = MAX_QUEUED,
                 on_message: Callable[[Message], None] | None = None) -> None:
        self.channels = frozenset(channels)
        # Handled as it arrives, before any later message (or subscribe confirmation)
        # is: what the stream positions follow with, so a reader never runs ahead.
        self._on_message = on_message
        self._notifier = notifier
        self._max_queued = max_queued
        self._messages: deque[Message] | None = None
        self._waiter: asyncio.Future[None] | None = None
        self.overflowed = False

    async def ready(self) -> None:
        """Wait until messages published from now on are sure to arrive."""
        await self._notifier.confirm(self)

    def deliver(self, message: Message) -> None:
        if self._on_message is not None:
            self._on_message(message)
            return
        if self._messages is None:
            self._messages = deque()
        if len(self._messages) >= self._max_queued:
            self.overflowed = True  # the reader resyncs from its token; nothing is lost
            return
        self._messages.append(message)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def next(self) -> Message:
        """The next message; wait with a deadline through ``Clock.timeout``."""
        if not self._messages:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        assert self._messages
        message = self._messages.popleft()
        if not self._messages:
            self._messages = None
        return message

    def drain(self) -> list[Message]:
        """Take every message already queued, without waiting."""
        messages, self._messages = list(self._messages or ()), None
        return messages

    def close(self) -> None:
        self._notifier.unsubscribe(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Notifier(ABC):
    shared = False  # whether other workers hear what this one publishes

    @abstractmethod
    async def publish(self, channel: str, payload: dict[str, Any]) -> bool:
        """Deliver to every worker's subscribers; False if only this worker's got it."""

    @abstractmethod
    def subscribe(self, channels: Iterable[str], max_queued: int = MAX_QUEUED,
                  on_message: Callable[[Message], None] | None = None) -> Subscription:
        """A subscription holding at most ``max_queued`` unread messages, or handing
        each to ``on_message`` as it arrives."""

    @abstractmethod
    def unsubscribe(self, subscription: Subscription) -> None: ...

    async def confirm(self, subscription: Subscription) -> None:
        """In-process delivery is immediate; a broker waits for its subscribe to land."""
        return None

    async def close(self) -> None:
        return None


class LocalNotifier(Notifier):
    """Fan-out inside one process."""

    def __init__(self, gate: Gate | None = None) -> None:
        self._subscribers: dict[str, set[Subscription]] = defaultdict(set)
        self._gate = gate

    async def publish(self, channel: str, payload: dict[str, Any]) -> bool:
        position = payload.get("stream_ordering")
        if self._gate is not None and isinstance(position, int):
            self._gate.when_visible(position, lambda: self._deliver(channel, payload))
        else:
            self._deliver(channel, payload)
        return True

    def _deliver(self, channel: str, payload: dict[str, Any]) -> None:
        for subscription in list(self._subscribers.get(channel, ())):
            subscription.deliver((channel, payload))

    def subscribe(self, channels: Iterable[str], max_queued: int = MAX_QUEUED,
                  on_message: Callable[[Message], None] | None = None) -> Subscription:
        return self.add(Subscription(self, channels, max_queued, on_message))

    def add(self, subscription: Subscription) -> Subscription:
        for channel in subscription.channels:
            self._subscribers[channel].add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        for channel in subscription.channels:
            members = self._subscribers.get(channel)
            if members is not None:
                members.discard(subscription)
                if not members:
                    del self._subscribers[channel]
