"""Token-bucket rate limiting per action and key (user or address)."""

from __future__ import annotations

import math

from homeserver.clock import Clock
from homeserver.config import Rate, RateLimits
from homeserver.errors import LimitExceeded

MAX_KEYS = 100_000


class RateLimiter:
    def __init__(self, config: RateLimits, clock: Clock) -> None:
        self._config = config
        self._clock = clock
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}

    def check(self, action: str, key: str) -> None:
        """Take one token from the bucket, or raise M_LIMIT_EXCEEDED with a retry time."""
        if not self._config.enabled:
            return
        rate: Rate = getattr(self._config, action)
        now = self._clock.monotonic()
        tokens, last = self._buckets.get((action, key), (float(rate.burst), now))
        tokens = min(float(rate.burst), tokens + (now - last) * rate.per_second)
        if tokens < 1.0:
            wait = (1.0 - tokens) / rate.per_second if rate.per_second > 0 else 3600.0
            raise LimitExceeded(retry_after_ms=math.ceil(wait * 1000))
        if len(self._buckets) >= MAX_KEYS:
            self._buckets.clear()  # bounded memory; a reset only forgives, never blocks
        self._buckets[(action, key)] = (tokens - 1.0, now)
