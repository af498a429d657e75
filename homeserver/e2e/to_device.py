"""To-device messages: PUT /sendToDevice queues a message per target device, in one
write that takes a stream position, and wakes the target's long-polls and sockets.

Sends are idempotent per (sender, device, txn ID). ``*`` addresses every device
of the target. Messages for users of other servers are skipped for now (their
federation EDU is a later issue).
"""

from __future__ import annotations

from typing import Any

from homeserver import ids
from homeserver.channels import user_channel
from homeserver.clock import Clock
from homeserver.e2e import shapes
from homeserver.errors import BadJson, MatrixError, TooLarge
from homeserver.events.canonical import canonical_json
from homeserver.rooms.transactions import Writes
from homeserver.storage.device_messages import DeviceMessageStore

MAX_TARGET_USERS = 1_000
MAX_MESSAGES = 10_000  # (user, device) entries in one send
MAX_MESSAGE_BYTES = 65_536
MAX_PENDING_PER_DEVICE = 10_000
MAX_EVENT_TYPE_LEN = 255


class ToDeviceService:
    def __init__(self, store: DeviceMessageStore, writes: Writes, server_name: str,
                 clock: Clock) -> None:
        self.store = store
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
