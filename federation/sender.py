"""The durable outbound queue's sender: one per deployment, elected by a lock.

Events for other servers are queued in ``federation_outbox`` in the
transaction that stores them. The elected sender sends each destination's
queue in order, in transactions of at most 50 PDUs and 100 EDUs with a
transaction ID unique per destination, deletes what was acknowledged and
backs off exponentially (capped) from a destination that fails. It resumes
from the queue after a restart, so a destination down for an hour gets
everything, in order, once it is back. EDUs (typing, receipts) are
best-effort and kept in memory only: stale typing is worse than none.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import defaultdict
from typing import Any

from federation.client import FederationClient, FederationError, path
from homeserver.channels import OUTBOX_CHANNEL
from homeserver.clock import Clock
from homeserver.notifier import Notifier
from homeserver.peers import Leadership, PeerStore

log = logging.getLogger(__name__)
SENDER_LOCK = 0x6D78_0002
MAX_PDUS, MAX_EDUS = 50, 100
FIRST_BACKOFF_MS = 1000
ELECTION_RETRY_SECONDS = 5.0


class Sender:
    def __init__(self, db: Leadership, store: PeerStore, client: FederationClient,
                 notifier: Notifier, clock: Clock, server_name: str,
                 max_backoff_ms: int) -> None:
        self.db = db
        self.store = store
        self.client = client
        self.notifier = notifier
        self.clock = clock
        self.server_name = server_name
        self.max_backoff_ms = max_backoff_ms
        self._edus: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self._wake = asyncio.Event()
        self._failing: set[str] = set()
        self.leading = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def queue_edu(self, destination: str, edu: dict[str, Any]) -> None:
        """Queue an EDU (best-effort) and wake the sender."""
        self._edus[destination] = (self._edus[destination] + [edu])[-MAX_EDUS:]
        self._wake.set()

    async def _run(self) -> None:
        while True:
            try:
                async with self.db.leadership(SENDER_LOCK) as leader:
                    if leader:
                        self.leading = True
                        await self._send_forever()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("federation sender failed; restarting")
            finally:
                self.leading = False
            await self.clock.sleep(ELECTION_RETRY_SECONDS)

    async def _send_forever(self) -> None:
        with self.notifier.subscribe([OUTBOX_CHANNEL]) as subscription:
            await subscription.ready()
            wakeups = asyncio.create_task(self._relay_wakeups(subscription))
            try:
                while True:
                    self._wake.clear()
                    await self.send_due()
                    await self._sleep_until_needed()
            finally:
                wakeups.cancel()

    async def _relay_wakeups(self, subscription: Any) -> None:
        while True:
            await subscription.next()
            self._wake.set()

    async def _sleep_until_needed(self) -> None:
        retry_at = await self.store.next_retry_at()
        timeout = None
        if retry_at:
            timeout = max(0.0, (retry_at - self.clock.time_ms()) / 1000)
        with contextlib.suppress(TimeoutError):
            async with self.clock.timeout(timeout):
                await self._wake.wait()

    async def send_due(self) -> None:
        """Send every destination whose queue is due, each until empty or failing."""
        now = self.clock.time_ms()
        due = set(await self.store.due_destinations(now)) | set(self._edus)
        await asyncio.gather(*(self._flush(d) for d in sorted(due)))

    async def _flush(self, destination: str) -> None:
        while True:
            rows = await self.store.pending_pdus(destination, MAX_PDUS)
            edus = self._edus.pop(destination, [])
            if not rows and not edus:
                return
            if not await self._send(destination, rows, edus):
                return
            if rows:
                await self.store.delivered(destination, rows[-1]["stream_ordering"])

    async def _send(self, destination: str, rows: list[Any], edus: list[Any]) -> bool:
        # The clock part keeps IDs unique even if our database is ever started afresh.
        txn_id = f"{self.clock.time_ms()}_{await self.store.take_txn_number(destination)}"
        body = {"origin": self.server_name, "origin_server_ts": self.clock.time_ms(),
                "pdus": [json.loads(r["pdu"]) for r in rows], "edus": edus}
        try:
            await self.client.request("PUT", destination,
                                      path("/_matrix/federation/v1/send/{}", txn_id), body)
        except FederationError as exc:
            failures = await self.store.failures(destination)
            backoff = min(FIRST_BACKOFF_MS * 2 ** failures, self.max_backoff_ms)
            await self.store.delivery_failed(destination, self.clock.time_ms() + backoff)
            self._failing.add(destination)
            log.warning("delivery to %s failed (%s); retrying in %d ms", destination, exc,
                        backoff)
            return False
        self._failing.discard(destination)
        return True

    async def heard_from(self, origin: str) -> None:
        """A server that just reached us is up: retry it now rather than after back-off."""
        if origin in self._failing:
            self._failing.discard(origin)
            await self.store.reset_backoff(origin)
            self._wake.set()
