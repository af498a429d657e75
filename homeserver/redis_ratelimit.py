"""Rate-limit buckets in Redis, shared by every worker.

A bucket is one hash (tokens, time) changed only by one Lua script, so the
refill, the check and the spend are atomic across workers. Time is the
caller's injected wall clock, in milliseconds: monotonic clocks are not
comparable across machines, and a clock that steps back refills nothing.
Keys expire once a bucket would be full again. If Redis is unreachable, the
worker falls back to its own buckets: limits loosen by the number of
workers, they never block everyone.
"""

from __future__ import annotations

import logging
import math

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from homeserver.clock import Clock
from homeserver.config import Rate
from homeserver.ratelimit import Buckets, MemoryBuckets

log = logging.getLogger(__name__)
PREFIX = "hs:ratelimit:"
NO_REFILL_TTL_MS = 24 * 3600 * 1000  # a bucket that never refills is still forgotten

_TAKE = """
local burst, rate, now, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]),
  tonumber(ARGV[4])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or burst
local ts = tonumber(state[2]) or now
if now > ts then tokens = math.min(burst, tokens + (now - ts) * rate) else now = ts end
if cost > 0 and tokens < cost then return tostring(tokens) end
redis.call('HSET', KEYS[1], 'tokens', tostring(math.min(burst, tokens - cost)), 'ts', now)
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return false
"""


class RedisBuckets(Buckets):
    def __init__(self, url: str, clock: Clock, prefix: str = PREFIX) -> None:
        self._redis = aioredis.from_url(url, decode_responses=True)
        self._take = self._redis.register_script(_TAKE)
        self._clock = clock
        self._prefix = prefix
        self._fallback = MemoryBuckets(clock)

    async def take(self, key: str, rate: Rate, cost: float) -> float | None:
        per_ms = rate.per_second / 1000
        ttl = math.ceil(rate.burst / per_ms) + 1000 if per_ms > 0 else NO_REFILL_TTL_MS
        args = [rate.burst, repr(per_ms), self._clock.time_ms(), cost, ttl]
        try:
            short = await self._take(keys=[self._prefix + key], args=args)
        except (RedisError, OSError) as exc:
            log.warning("rate limits: Redis unavailable (%s); this worker's own buckets count",
                        exc)
            return await self._fallback.take(key, rate, cost)
        return None if short is None else float(short)

    async def close(self) -> None:
        await self._redis.aclose()
