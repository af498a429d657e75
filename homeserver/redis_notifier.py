"""The notifier for several workers: Redis pub/sub under the same interface.

Each worker subscribes in Redis only to the channels its own waiters need
(reference-counted) and fans messages out locally. If Redis goes away the
worker keeps serving, reconnects with back-off, subscribes again and wakes
every local waiter so it re-reads from its token: nothing is lost, because
every message is in the database.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from homeserver.notifier import (
    MAX_QUEUED,
    RESYNC,
    Gate,
    LocalNotifier,
    Message,
    Notifier,
    Subscription,
)

log = logging.getLogger(__name__)
MIN_BACKOFF_SECONDS, MAX_BACKOFF_SECONDS = 0.1, 5.0
CONFIRM_SECONDS, READ_SECONDS = 2.0, 0.05


class RedisNotifier(Notifier):
    shared = True

    def __init__(self, url: str, gate: Gate | None = None) -> None:
        self._redis = aioredis.from_url(url)
        self._pubsub = self._redis.pubsub()
        self._local = LocalNotifier(gate)
        self._counts: Counter[str] = Counter()
        self._confirmed: set[str] = set()
        self._waiting: dict[str, list[asyncio.Future[None]]] = {}
        self._changes = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._backoff = MIN_BACKOFF_SECONDS

    async def start(self) -> None:
        await self._redis.ping()
        self._task = asyncio.create_task(self._run())

    async def publish(self, channel: str, payload: dict[str, Any]) -> bool:
        try:
            await self._redis.publish(channel, json.dumps(payload))
            return True
        except (RedisError, OSError) as exc:
            # Waiters elsewhere re-read from their tokens when Redis is back.
            log.warning("could not publish to Redis: %s", exc)
            await self._local.publish(channel, payload)
            return False

    def subscribe(self, channels: Iterable[str], max_queued: int = MAX_QUEUED,
                  on_message: Callable[[Message], None] | None = None) -> Subscription:
        subscription = Subscription(self, channels, max_queued, on_message)
        self._local.add(subscription)
        for channel in subscription.channels:
            self._counts[channel] += 1
        self._changes.set()
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._local.unsubscribe(subscription)
        for channel in subscription.channels:
            self._counts[channel] -= 1
            if self._counts[channel] <= 0:
                del self._counts[channel]
        self._changes.set()

    async def confirm(self, subscription: Subscription) -> None:
        loop = asyncio.get_running_loop()
        futures = []
        for channel in subscription.channels - self._confirmed:
            future: asyncio.Future[None] = loop.create_future()
            self._waiting.setdefault(channel, []).append(future)
            futures.append(future)
        if futures:
            # Bounded: with Redis down the waiter still answers from the database.
            # Real time, not the injected clock: this waits on Redis, over the network.
            await asyncio.wait(futures, timeout=CONFIRM_SECONDS)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        await self._pubsub.aclose()
        await self._redis.aclose()

    async def _run(self) -> None:
        while True:
            try:
                await self._pump()
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                log.warning("Redis connection lost (%s); retrying in %.1fs", exc, self._backoff)
                self._confirmed.clear()
                # Real time, not the injected clock: the back-off spares a Redis
                # that is down, and a fake clock must not stop a worker reconnecting.
                await asyncio.sleep(self._backoff)
                self._backoff = min(self._backoff * 2, MAX_BACKOFF_SECONDS)
                await self._resync_everyone()

    async def _pump(self) -> None:
        subscribed: set[str] = set()
        await self._pubsub.aclose()  # a fresh connection after a failure
        while True:
            # Cleared before reading the wanted set: a subscribe from now on is seen.
            self._changes.clear()
            wanted = set(self._counts)
            if wanted - subscribed:
                await self._pubsub.subscribe(*(wanted - subscribed))
            if subscribed - wanted:
                await self._pubsub.unsubscribe(*(subscribed - wanted))
                self._confirmed -= subscribed - wanted
            subscribed = wanted
            if not subscribed:
                await self._changes.wait()
                continue
            # The short read timeout (real time: a socket read) lets a new
            # subscription be sent to Redis soon after a waiter asks for it.
            message = await self._pubsub.get_message(timeout=READ_SECONDS)
            if message is not None:
                await self._handle(message)

    async def _handle(self, message: dict[str, Any]) -> None:
        channel = message["channel"].decode()
        self._backoff = MIN_BACKOFF_SECONDS  # Redis answers again
        if message["type"] == "subscribe":
            self._confirmed.add(channel)
            for future in self._waiting.pop(channel, []):
                if not future.done():
                    future.set_result(None)
        elif message["type"] == "message":
            await self._local.publish(channel, json.loads(message["data"]))

    async def _resync_everyone(self) -> None:
        for channel in list(self._counts):
            await self._local.publish(channel, {"kind": RESYNC})
