"""To-device messages: PUT /sendToDevice queues a message per target device, in one
write that takes a stream position, and wakes the target's long-polls and sockets.

Sends are idempotent per (sender, device, txn ID). ``*`` addresses every device
of the target. Messages for users of other servers are skipped for now (their
federation EDU is a later issue).
"""

from __future__ import annotations

import json
from typing import Any

from homeserver import ids
from homeserver.channels import user_channel
from homeserver.clock import Clock
from homeserver.e2e import shapes
from homeserver.errors import BadJson, MatrixError, TooLarge
from homeserver.events.canonical import canonical_json
from homeserver.positions import StreamPositions
from homeserver.rooms.transactions import Writes
from homeserver.storage.device_messages import DeviceMessageStore

MAX_TARGET_USERS = 1_000
MAX_MESSAGES = 10_000  # (user, device) entries in one send
MAX_MESSAGE_BYTES = 65_536
MAX_PENDING_PER_DEVICE = 10_000
MAX_EVENT_TYPE_LEN = 255
MAX_PER_FRAME = 100  # messages in one socket frame


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
            if not await self.store.claim_txn(txn.conn, sender, sender_device, txn_id,
                                              self.clock.time_ms()):
                return  # a retry of a send already made
            ordering: int | None = None
            seq = 0
            for user, device, content in wanted:
                if ids.server_of(user) != self.server_name:
                    continue  # TODO: the m.direct_to_device EDU for other servers
                targets = (await self.store.devices_of(txn.conn, user) if device == "*"
                           else [device])
                for target in targets:
                    if ordering is None:
                        ordering = await txn.next_position()
                    if await self.store.pending_count(txn.conn, user, target) \
                            >= MAX_PENDING_PER_DEVICE:
                        raise MatrixError(f"{user}'s device {target} has too many messages"
                                          " waiting", status=400,
                                          errcode="M_RESOURCE_LIMIT_EXCEEDED")
                    await self.store.enqueue(txn.conn, user, target, ordering, seq, sender,
                                             event_type, content)
                    seq += 1
                if targets:
                    txn.announce(user_channel(user), {"kind": "to_device"})


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
