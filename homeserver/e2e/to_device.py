"""To-device messages: PUT /sendToDevice queues a message per target device, in one
write that takes a stream position, and wakes the target's long-polls and sockets.

Sends are idempotent per (sender, device, txn ID); transaction IDs are kept a day.
``*`` addresses every device of the target. Messages for users of other servers are
skipped for now (their federation EDU is a later issue).

A send never fails because of one recipient: a device whose inbox is full, or that
already holds as many messages from this sender as one sender may leave, is skipped
(and logged). Otherwise a phone that never syncs, or one sender flooding a victim's
device, would break key sharing for everyone in the victim's rooms.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from homeserver import ids
from homeserver.channels import user_channel
from homeserver.clock import Clock
from homeserver.e2e import shapes
from homeserver.errors import BadJson, TooLarge
from homeserver.events.canonical import canonical_json
from homeserver.positions import StreamPositions
from homeserver.rooms.transactions import Writes
from homeserver.storage.database import Connection
from homeserver.storage.device_messages import DeviceMessageStore

MAX_TARGET_USERS = 1_000
MAX_MESSAGES = 10_000  # (user, device) entries in one send
MAX_MESSAGE_BYTES = 65_536
MAX_PENDING_PER_DEVICE = 10_000
# One sender may fill at most this much of a device's inbox: others still get through.
MAX_PENDING_PER_SENDER = 1_000
TXN_TTL_MS = 24 * 3600 * 1000
TXN_PRUNE_BATCH = 100  # per send: more than a send adds, so old IDs never pile up
MAX_EVENT_TYPE_LEN = 255
MAX_PER_FRAME = 100  # messages in one socket frame

log = logging.getLogger(__name__)


class ToDeviceService:
    def __init__(self, store: DeviceMessageStore, writes: Writes, positions: StreamPositions,
                 server_name: str, clock: Clock) -> None:
        self.store = store
        self.positions = positions
        self.writes = writes
        self.server_name = server_name
        self.clock = clock

    async def send(self, sender: str, sender_device: str, event_type: str, txn_id: str,
                   messages: Any) -> None:
        shapes.require_string(event_type, "event type", MAX_EVENT_TYPE_LEN)
        wanted = _messages(messages)
        async with self.writes.transaction() as txn:
            now = self.clock.time_ms()
            await self.store.prune_txns(txn.conn, now - TXN_TTL_MS, TXN_PRUNE_BATCH)
            if not await self.store.claim_txn(txn.conn, sender, sender_device, txn_id, now):
                return  # a retry of a send already made
            ordering: int | None = None
            seq = 0
            skipped: list[str] = []
            for user, device, content in wanted:
                if ids.server_of(user) != self.server_name:
                    continue  # TODO: the m.direct_to_device EDU for other servers
                targets = (await self.store.devices_of(txn.conn, user) if device == "*"
                           else [device])
                delivered = False
                for target in targets:
                    if await self._inbox_full(txn.conn, sender, user, target):
                        skipped.append(f"{user}/{target}")
                        continue
                    if ordering is None:
                        ordering = await txn.next_position()
                    await self.store.enqueue(txn.conn, user, target, ordering, seq, sender,
                                             event_type, content)
                    seq += 1
                    delivered = True
                if delivered:
                    txn.announce(user_channel(user), {"kind": "to_device"})
        if skipped:
            log.warning("to-device from %s: %d full inbox(es) skipped, e.g. %s", sender,
                        len(skipped), skipped[0])

    async def _inbox_full(self, conn: Connection, sender: str, user: str,
                          device: str) -> bool:
        return (await self.store.holds_at_least(conn, user, device, MAX_PENDING_PER_SENDER,
                                                sender)
                or await self.store.holds_at_least(conn, user, device,
                                                   MAX_PENDING_PER_DEVICE))

    async def pending(self, user_id: str, device_id: str,
                      after: int) -> tuple[list[dict[str, Any]], int]:
        """Messages for the device past ``after`` (at most a frame's worth, whole
        positions only), and the position they go up to."""
        # Up to the safe position only: a message below it may still be committing, and
        # an acknowledgement past it would then lose that message.
        rows = await self.store.pending(user_id, device_id, after, self.positions.current,
                                        MAX_PER_FRAME + 1)
        if len(rows) > MAX_PER_FRAME:
            cut = rows[MAX_PER_FRAME]["stream_ordering"]
            rows = [r for r in rows if r["stream_ordering"] < cut]
        if not rows:
            return [], after
        return [message_json(r) for r in rows], int(rows[-1]["stream_ordering"])

    async def acknowledge(self, user_id: str, device_id: str, upto: int) -> None:
        await self.store.acknowledge(user_id, device_id, upto)


def message_json(row: Any) -> dict[str, Any]:
    return {"sender": row["sender"], "type": row["type"], "content": json.loads(row["content"])}


def _messages(messages: Any) -> list[tuple[str, str, dict[str, Any]]]:
    """(user, device or ``*``, content) for each message, within the bounds."""
    found = []
    for user, devices in shapes.bounded_map(messages, "messages", MAX_TARGET_USERS).items():
        if not ids.is_valid_user_id(user):
            raise BadJson(f"{user!r} is not a user ID")
        for device, content in shapes.bounded_map(devices, f"messages.{user}",
                                                  MAX_MESSAGES).items():
            shapes.require_object(content, f"messages.{user}.{device}")
            if len(canonical_json(content)) > MAX_MESSAGE_BYTES:
                raise TooLarge(f"A message is larger than {MAX_MESSAGE_BYTES} bytes")
            found.append((user, device, content))
            if len(found) > MAX_MESSAGES:
                raise TooLarge(f"At most {MAX_MESSAGES} messages per send")
    return found
