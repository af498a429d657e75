"""Token-bucket rate limiting per action and key (user, account or address).

One worker keeps its buckets in memory; with Redis configured every bucket
lives there instead (``redis_ratelimit``), so a limit holds however many
workers a client's requests are spread over. Taking a token is one atomic
step either way: a check and its decrement can never be split by another
request.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

from homeserver.clock import Clock
from homeserver.config import Rate, RateLimits
from homeserver.errors import LimitExceeded
from homeserver.lru import LruDict

MAX_KEYS = 100_000


class Buckets(ABC):
    """Where buckets live: ``take`` refills by elapsed time, then spends ``cost``."""

    @abstractmethod
    async def take(self, key: str, rate: Rate, cost: float) -> float | None:
        """None if taken; else the tokens there were (fewer than ``cost``, nothing spent).

        A negative ``cost`` gives tokens back, never above the burst.
        """

    async def close(self) -> None:
        return None


class MemoryBuckets(Buckets):
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        # Least recently used first out: a bucket being spent (an account under attack)
        # stays, while a flood of fresh keys only pushes out idle ones.
        self._buckets: LruDict[str, tuple[float, float]] = LruDict(MAX_KEYS)

    async def take(self, key: str, rate: Rate, cost: float) -> float | None:
        now = self._clock.monotonic()
        tokens, last = self._buckets.get(key, (float(rate.burst), now))
        tokens = min(float(rate.burst), tokens + (now - last) * rate.per_second)
        if cost > 0 and tokens < cost:
            return tokens
        self._buckets[key] = (min(float(rate.burst), tokens - cost), now)
        return None


class RateLimiter:
    def __init__(self, config: RateLimits, buckets: Buckets) -> None:
        self._config = config
        self._buckets = buckets

    async def check(self, action: str, key: str) -> None:
        """Take one token from the bucket, or raise M_LIMIT_EXCEEDED with a retry time."""
        if not self._config.enabled:
            return
        rate: Rate = getattr(self._config, action)
        short = await self._buckets.take(f"{action}:{key}", rate, 1.0)
        if short is not None:
            wait = (1.0 - short) / rate.per_second if rate.per_second > 0 else 3600.0
            raise LimitExceeded(retry_after_ms=math.ceil(wait * 1000))

    async def refund(self, action: str, key: str) -> None:
        """Give back the token a :meth:`check` took, when the attempt turned out fine."""
        if self._config.enabled:
            await self._buckets.take(f"{action}:{key}", getattr(self._config, action), -1.0)

    async def close(self) -> None:
        await self._buckets.close()
