"""One user's wait for news: a single subscription held for as long as they listen.

A long-poll and the general stream socket each hold one ``Listener``. It is
subscribed (and the subscription confirmed) to the user's own channel and to
every room they are joined to or invited to before anything is read, so a
read made after that misses nothing written later. When the user's own
channel speaks (their membership or invites changed) or messages were dropped,
the listener re-reads their rooms and, if the set changed, subscribes to the
new set before letting the old one go; the read that follows every wake then
sees all that came before it. Deadlines run on the injected clock.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

from homeserver.beacon import Beacon
from homeserver.channels import user_channel
from homeserver.clock import Clock
from homeserver.notifier import Message, Notifier, Subscription

ChannelsOf = Callable[[str], Awaitable[frozenset[str]]]


class Parked:
    """Who is waiting for news right now; lit on every change, so tests wait on it."""

    def __init__(self) -> None:
        self._users: Counter[str] = Counter()
        self.changes = Beacon()

    def __contains__(self, user_id: str) -> bool:
        return self._users[user_id] > 0

    @contextmanager
    def parking(self, user_id: str) -> Iterator[None]:
        self._users[user_id] += 1
        self.changes.changed()
        try:
            yield
        finally:
            self._users[user_id] -= 1
            if self._users[user_id] <= 0:
                del self._users[user_id]
            self.changes.changed()


class Listener:
    def __init__(self, notifier: Notifier, clock: Clock, channels_of: ChannelsOf,
                 user_id: str, parked: Parked) -> None:
        self._notifier = notifier
        self._clock = clock
        self._channels_of = channels_of
        self._parked = parked
        self.user_id = user_id
        self.subscription: Subscription | None = None

    async def open(self) -> None:
        self.subscription = await self._subscribe(await self._channels_of(self.user_id))

    def close(self) -> None:
        if self.subscription is not None:
            self.subscription.close()

    def interrupt(self, message: Message) -> None:
        """Wake the waiter now (the server is stopping)."""
        if self.subscription is not None:
            self.subscription.deliver(message)

    async def wait(self, timeout: float | None) -> bool:
        """Wait for news, up to ``timeout`` seconds (None: no limit); False if none came."""
        assert self.subscription is not None, "open() first"
        if timeout is not None and timeout <= 0:
            return False
        try:
            with self._parked.parking(self.user_id):
                async with self._clock.timeout(timeout):
                    first = await self.subscription.next()
        except TimeoutError:
            return False
        # The reader re-reads from its token: queued messages add nothing to one wake.
        messages = [first, *self.subscription.drain()]
        if self.subscription.overflowed or any(self._rooms_may_change(m) for m in messages):
            await self._follow_rooms()
        return True

    def _rooms_may_change(self, message: Message) -> bool:
        channel, payload = message
        return channel == user_channel(self.user_id) and payload.get("kind") not in (
            "account_data", "to_device", "device_list")

    async def _follow_rooms(self) -> None:
        assert self.subscription is not None
        self.subscription.overflowed = False
        channels = await self._channels_of(self.user_id)
        if channels != self.subscription.channels:
            old, self.subscription = self.subscription, await self._subscribe(channels)
            old.close()

    async def _subscribe(self, channels: frozenset[str]) -> Subscription:
        subscription = self._notifier.subscribe(channels)
        try:
            await subscription.ready()
        except BaseException:
            subscription.close()
            raise
        return subscription
