"""The ephemeral store in Redis: typing and presence shared by every worker.

Each change that needs a serial runs as one Lua script, so the serial, the
state and the change index move together. Typing hashes carry a TTL only to
collect garbage: expiry itself is judged against the server's clock. If
Redis is unreachable the store logs and answers as if nobody typed and
nothing changed, so an outage degrades real-time hints, never a request.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Iterable
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from homeserver.ephemeral.store import EphemeralStore, PresenceState

log = logging.getLogger(__name__)
T = TypeVar("T")
PREFIX = "hs:"
TYPING_KEY_TTL_MS = 300_000  # longer than any typing timeout

_START_TYPING = """
local old = tonumber(redis.call('HGET', KEYS[1], ARGV[1]))
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
if old and old > tonumber(ARGV[3]) then return false end
local s = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[3], ARGV[5], s)
return s
"""

_STOP_TYPING = """
local old = redis.call('HGET', KEYS[1], ARGV[1])
if not old or (ARGV[2] ~= '' and old ~= ARGV[2]) then return false end
redis.call('HDEL', KEYS[1], ARGV[1])
local s = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[3], ARGV[3], s)
return s
"""

_SET_PRESENCE = """
redis.call('HSET', KEYS[1], 'p', ARGV[2], 't', ARGV[3])
if ARGV[5] == '1' then redis.call('HSET', KEYS[1], 'm', ARGV[4])
else redis.call('HDEL', KEYS[1], 'm') end
if ARGV[6] ~= '1' then return false end
local s = redis.call('INCR', KEYS[2])
redis.call('ZADD', KEYS[3], s, ARGV[1])
return s
"""

# Keys of lapsed users are built inside the script: fine on one Redis, not a cluster.
_TAKE_LAPSED = """
local users = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local out = {}
for _, u in ipairs(users) do
  redis.call('ZREM', KEYS[1], u)
  local key = ARGV[2] .. u
  local p = redis.call('HGET', key, 'p')
  if p and p ~= 'offline' then
    redis.call('HSET', key, 'p', 'offline')
    local s = redis.call('INCR', KEYS[2])
    redis.call('ZADD', KEYS[3], s, u)
    table.insert(out, u)
    table.insert(out, s)
  end
end
return out
"""


class RedisEphemeralStore(EphemeralStore):
    def __init__(self, url: str, prefix: str = PREFIX) -> None:
        self._redis = aioredis.from_url(url, decode_responses=True)
        self._p = prefix
        self._start_typing = self._redis.register_script(_START_TYPING)
        self._stop_typing = self._redis.register_script(_STOP_TYPING)
        self._set_presence = self._redis.register_script(_SET_PRESENCE)
        self._take_lapsed = self._redis.register_script(_TAKE_LAPSED)

    def _key(self, *parts: str) -> str:
        return self._p + ":".join(parts)

    async def _safe(self, call: Awaitable[T], default: T) -> T:
        try:
            return await call
        except (RedisError, OSError) as exc:
            log.warning("ephemeral store: Redis unavailable (%s)", exc)
            return default

    async def serials(self) -> tuple[int, int]:
        values = await self._safe(
            self._redis.mget(self._key("typing_serial"), self._key("presence_serial")),
            [None, None])
        return int(values[0] or 0), int(values[1] or 0)

    async def start_typing(self, room_id: str, user_id: str, expiry_ms: int,
                           now_ms: int) -> int | None:
        keys = [self._key("typing", room_id), self._key("typing_serial"),
                self._key("typing_changed")]
        args = [user_id, expiry_ms, now_ms, TYPING_KEY_TTL_MS, room_id]
        return _int(await self._safe(self._start_typing(keys=keys, args=args), None))

    async def stop_typing(self, room_id: str, user_id: str, now_ms: int,
                          only_expiry: int | None = None) -> int | None:
        keys = [self._key("typing", room_id), self._key("typing_serial"),
                self._key("typing_changed")]
        args = [user_id, "" if only_expiry is None else str(only_expiry), room_id]
        return _int(await self._safe(self._stop_typing(keys=keys, args=args), None))

    async def typers(self, room_id: str, now_ms: int) -> dict[str, int]:
        entries = await self._safe(self._redis.hgetall(self._key("typing", room_id)), {})
        return {u: int(e) for u, e in entries.items() if int(e) > now_ms}

    async def typing_changed_at(self, room_ids: list[str]) -> dict[str, int]:
        if not room_ids:
            return {}
        values = await self._safe(self._redis.hmget(self._key("typing_changed"), room_ids),
                                  [None] * len(room_ids))
        return {r: int(v) for r, v in zip(room_ids, values, strict=True) if v is not None}

    async def presence_of(self, user_ids: Iterable[str]) -> dict[str, PresenceState]:
        users = list(user_ids)
        if not users:
            return {}
        pipe = self._redis.pipeline(transaction=False)
        for user in users:
            pipe.hgetall(self._key("presence", user))
        rows = await self._safe(pipe.execute(), [{}] * len(users))
        return {u: PresenceState(r["p"], int(r["t"]), r.get("m"))
                for u, r in zip(users, rows, strict=True) if r}

    async def set_presence(self, user_id: str, state: PresenceState, bump: bool) -> int | None:
        keys = [self._key("presence", user_id), self._key("presence_serial"),
                self._key("presence_changed")]
        args = [user_id, state.presence, state.last_active_ms, state.status_msg or "",
                "0" if state.status_msg is None else "1", "1" if bump else "0"]
        return _int(await self._safe(self._set_presence(keys=keys, args=args), None))

    async def presence_changed_since(self, serial: int) -> list[str]:
        return await self._safe(
            self._redis.zrangebyscore(self._key("presence_changed"), f"({serial}", "+inf"), [])

    async def forget_presence(self, user_id: str) -> None:
        pipe = self._redis.pipeline(transaction=True)
        pipe.delete(self._key("presence", user_id))
        pipe.zrem(self._key("presence_changed"), user_id)
        pipe.zrem(self._key("presence_live"), user_id)
        await self._safe(pipe.execute(), None)

    async def keep_alive(self, user_ids: Iterable[str], deadline_ms: int) -> None:
        mapping = {user: deadline_ms for user in user_ids}
        if mapping:
            await self._safe(self._redis.zadd(self._key("presence_live"), mapping, gt=True),
                             None)

    async def take_lapsed(self, now_ms: int) -> list[tuple[str, int]]:
        keys = [self._key("presence_live"), self._key("presence_serial"),
                self._key("presence_changed")]
        flat = await self._safe(
            self._take_lapsed(keys=keys, args=[now_ms, self._key("presence", "")]), [])
        return [(flat[i], int(flat[i + 1])) for i in range(0, len(flat), 2)]

    async def close(self) -> None:
        await self._redis.aclose()


def _int(value: Any) -> int | None:
    return None if value is None else int(value)
