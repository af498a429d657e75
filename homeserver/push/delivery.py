"""Delivering notifications to push gateways (the Push Gateway API), after the commit.

Events that notify are handed over once their write commits; one dispatcher
looks up the receivers' pushers and queues a notification per pusher. Each
pusher has its own sender, so one slow gateway holds up nobody else; a failure
(no answer, 5xx, 429) is retried with exponential back-off on the injected
clock, at most ``push.max_attempts`` times. A gateway that names a pushkey in
``rejected`` has that pusher removed; a pusher removed any other way (its
device logged out, deleted) has its queued pushes dropped before the next
send. Queues are bounded in memory (the events
stay in the database; a lost push is a missed phone buzz, not lost data):
``MAX_PENDING`` events waiting for dispatch, ``MAX_QUEUED`` per pusher, oldest
dropped. Connections go only to public addresses or ``push.allowed_gateway_ips``,
checked on every socket opened (``homeserver/addresses.py``). A gateway's answer is
read and inflated to at most ``MAX_ANSWER_BYTES`` and parsed with ``strict_json``;
whatever else it answers with a 200 counts as delivered.
"""

from __future__ import annotations

import asyncio
import json
import logging
import zlib
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from homeserver import strict_json
from homeserver.addresses import ForbiddenAddress, GuardedSockets
from homeserver.beacon import Beacon
from homeserver.clock import Clock
from homeserver.config import Push as PushConfig
from homeserver.errors import MatrixError
from homeserver.models import StoredEvent
from homeserver.push.conditions import Outcome
from homeserver.storage.database import Database, Row
from homeserver.storage.notifications import NotificationStore
from homeserver.storage.pushers import PusherStore

log = logging.getLogger(__name__)
MAX_PENDING = 10_000
MAX_QUEUED = 100
FIRST_BACKOFF_SECONDS = 1.0
# The network's own deadline for one gateway request (not a Clock wait: it bounds a
# socket, as the federation client's does).
REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=15)
# A gateway's answer is read (and, if compressed, inflated) up to this many bytes; a
# longer one is not worth parsing: the push counts as delivered.
MAX_ANSWER_BYTES = 64 * 1024
# zlib's window bits that accept both gzip and zlib headers.
_GZIP_OR_ZLIB = 32 + zlib.MAX_WBITS


@dataclass
class _Notice:
    body: dict[str, Any]
    attempts: int = 0


@dataclass
class _PusherQueue:
    url: str
    app_id: str
    pushkey: str
    user_id: str
    notices: deque[_Notice] = field(default_factory=lambda: deque(maxlen=MAX_QUEUED))
    task: asyncio.Task[None] | None = None


class PushDelivery:
    def __init__(self, pushers: PusherStore, notifications: NotificationStore, db: Database,
                 clock: Clock, config: PushConfig) -> None:
        self.pushers = pushers
        self.notifications = notifications
        self.db = db
        self.clock = clock
        self.config = config
        self.sockets = GuardedSockets(config.allowed_gateway_ips)
        self._pending: deque[tuple[StoredEvent, list[tuple[str, Outcome]]]] = deque(
            maxlen=MAX_PENDING)
        self._wake = asyncio.Event()
        self._dispatcher: asyncio.Task[None] | None = None
        self._queues: dict[tuple[str, str, str], _PusherQueue] = {}
        self._session: aiohttp.ClientSession | None = None
        self._undispatched = 0
        self.backing_off = 0  # pushers waiting out a back-off now
        # lit when a push is queued, sent, given up, or starts waiting out a back-off
        self.changed = Beacon()

    @property
    def idle(self) -> bool:
        """Nothing waiting to be dispatched or sent (tests wait for this)."""
        return self._undispatched == 0 and not self._queues

    def notify(self, event: StoredEvent, notified: list[tuple[str, Outcome]]) -> None:
        """Called after the event's commit: push it to the notified users' pushers."""
        if len(self._pending) == MAX_PENDING:
            self._undispatched -= 1  # the oldest falls out of the bounded deque
            log.warning("push queue full: dropped the oldest event's pushes")
        self._pending.append((event, notified))
        self._undispatched += 1
        self._wake.set()
        if self._dispatcher is None or self._dispatcher.done():
            self._dispatcher = asyncio.get_running_loop().create_task(self._dispatch())

    async def close(self) -> None:
        tasks = [q.task for q in self._queues.values() if q.task] + (
            [self._dispatcher] if self._dispatcher else [])
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    async def _dispatch(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                event, notified = self._pending.popleft()
                try:
                    await self._queue_event(event, notified)
                except Exception:  # a database hiccup costs this push, not the loop
                    log.exception("could not queue push for %s", event.event_id)
                self._undispatched -= 1
                self.changed.changed()

    async def _queue_event(self, event: StoredEvent, notified: list[tuple[str, Outcome]]
                           ) -> None:
        outcomes = dict(notified)
        for row in await self.pushers.of_users(self.db, outcomes):
            data = json.loads(row["data"])
            unread = await self.notifications.unread_total(self.db, row["user_id"])
            body = _notification(event, outcomes[row["user_id"]], row, data, unread)
            self._enqueue(row, data["url"], body)

    def _enqueue(self, row: Row, url: str, body: dict[str, Any]) -> None:
        key = (row["app_id"], row["pushkey"], row["user_id"])
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = _PusherQueue(url, row["app_id"], row["pushkey"],
                                                     row["user_id"])
        queue.url = url
        queue.notices.append(_Notice(body))
        if queue.task is None or queue.task.done():
            queue.task = asyncio.get_running_loop().create_task(self._send_all(key, queue))

    async def _send_all(self, key: tuple[str, str, str], queue: _PusherQueue) -> None:
        backoff = FIRST_BACKOFF_SECONDS
        while queue.notices:
            if not await self._still_set(queue):
                queue.notices.clear()  # its device was logged out, or it was deleted
                break
            notice = queue.notices[0]
            notice.attempts += 1
            outcome = await self._post(queue, notice.body)
            if outcome == "retry" and notice.attempts < self.config.max_attempts:
                await self._back_off(backoff)
                backoff = min(backoff * 2, self.config.max_backoff_ms / 1000)
                continue
            if queue.notices and queue.notices[0] is notice:
                queue.notices.popleft()
            backoff = FIRST_BACKOFF_SECONDS
            if outcome == "rejected":
                await self._remove(queue)
                queue.notices.clear()
            self.changed.changed()
        if self._queues.get(key) is queue:
            del self._queues[key]
        self.changed.changed()

    async def _back_off(self, seconds: float) -> None:
        self.backing_off += 1
        self.changed.changed()
        try:
            await self.clock.sleep(seconds)
        finally:
            self.backing_off -= 1

    async def _post(self, queue: _PusherQueue, body: dict[str, Any]) -> str:
        """"sent", "retry", "rejected" (the gateway refused the pushkey) or "dropped"."""
        try:
            async with self._http().post(queue.url, json=body,
                                         headers={"Accept-Encoding": "identity"}) as resp:
                if resp.status == 429 or resp.status >= 500:
                    return "retry"
                if resp.status != 200:
                    log.info("push gateway %s answered %s; notification dropped",
                             queue.url, resp.status)
                    return "dropped"
                answer = await _bounded_answer(resp)
        except (aiohttp.ClientError, TimeoutError) as exc:
            if (isinstance(exc, aiohttp.ClientConnectorError)
                    and isinstance(exc.os_error, ForbiddenAddress)):
                log.warning("push gateway %s is not at an allowed address", queue.url)
                return "dropped"
            return "retry"
        rejected = answer.get("rejected") if isinstance(answer, dict) else None
        if isinstance(rejected, list) and queue.pushkey in rejected:
            return "rejected"
        return "sent"

    async def _still_set(self, queue: _PusherQueue) -> bool:
        """Whether the pusher still exists (on any worker, by any path it may have gone)."""
        try:
            return await self.pushers.exists(self.db, queue.app_id, queue.pushkey,
                                             queue.user_id)
        except Exception:  # a database hiccup: the gateway is still the user's choice
            log.exception("could not check pusher %s of %s", queue.app_id, queue.user_id)
            return True

    async def _remove(self, queue: _PusherQueue) -> None:
        async with self.db.transaction() as conn:
            await self.pushers.delete(conn, queue.app_id, queue.pushkey, queue.user_id)

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(socket_factory=self.sockets)
            # No auto-decompression: a gateway's answer is inflated here, within a bound.
            self._session = aiohttp.ClientSession(timeout=REQUEST_TIMEOUT, connector=connector,
                                                  auto_decompress=False)
        return self._session


async def _bounded_answer(resp: aiohttp.ClientResponse) -> Any:
    """The gateway's JSON answer, or None if it is too long, compressed in an unknown
    way, or not (sane) JSON: a user-chosen gateway may answer anything."""
    raw = await _read_at_most(resp.content, MAX_ANSWER_BYTES)
    if raw is None:
        return None
    encoding = resp.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding in ("gzip", "x-gzip", "deflate"):
        raw = _inflate(raw, encoding)
    elif encoding != "identity":
        return None
    if raw is None:
        return None
    try:
        return strict_json.loads(raw)
    except MatrixError:
        return None


async def _read_at_most(stream: aiohttp.StreamReader, limit: int) -> bytes | None:
    """The whole body if it is at most ``limit`` bytes long, else None (read no further)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await stream.read(limit + 1 - size)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return None


def _inflate(raw: bytes, encoding: str) -> bytes | None:
    """Decompressed, stopping at ``MAX_ANSWER_BYTES`` (a bomb costs no more than that)."""
    # "deflate" is zlib-wrapped by the HTTP spec, raw deflate by some servers.
    wbits = _GZIP_OR_ZLIB if encoding != "deflate" or raw[:1] == b"\x78" else -zlib.MAX_WBITS
    inflater = zlib.decompressobj(wbits)
    try:
        plain = inflater.decompress(raw, MAX_ANSWER_BYTES + 1)
    except zlib.error:
        return None
    if len(plain) > MAX_ANSWER_BYTES or inflater.unconsumed_tail:
        return None
    return plain


def _notification(event: StoredEvent, outcome: Outcome, pusher: Row, data: dict[str, Any],
                  unread: int) -> dict[str, Any]:
    """The Push Gateway API's body for one device; ``event_id_only`` leaves out the event."""
    device = {"app_id": pusher["app_id"], "pushkey": pusher["pushkey"],
              "pushkey_ts": pusher["pushkey_ts"] // 1000,
              "data": {k: v for k, v in data.items() if k != "url"},
              "tweaks": _tweaks(outcome.actions)}
    notification: dict[str, Any] = {
        "event_id": event.event_id, "room_id": event.room_id, "counts": {"unread": unread},
        "prio": "high",
        "devices": [device]}
    if data.get("format") != "event_id_only":
        notification.update({"type": event.type, "sender": event.sender,
                             "content": event.pdu.get("content", {})})
    return {"notification": notification}


def _tweaks(actions: Iterable[Any]) -> dict[str, Any]:
    return {a["set_tweak"]: a.get("value", True) for a in actions
            if isinstance(a, dict) and isinstance(a.get("set_tweak"), str)}
