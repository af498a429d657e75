"""Plain data shared across layers: an event as stored, a device, a server's verify key.

A leaf: it imports nothing from the project, so storage, the core and both
APIs may all use it without an import going back up a layer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class StoredEvent:
    """An event as stored: its PDU (without event_id, as signed) and stream position."""

    stream_ordering: int
    event_id: str
    pdu: dict[str, Any]
    redacted_by: str | None = None

    @property
    def type(self) -> str:
        return self.pdu["type"]

    @property
    def sender(self) -> str:
        return self.pdu["sender"]

    @property
    def state_key(self) -> str | None:
        return self.pdu.get("state_key")

    @property
    def room_id(self) -> str:
        return self.pdu["room_id"]


@dataclass(frozen=True)
class Device:
    device_id: str
    display_name: str | None
    last_seen_ts: int | None
    last_seen_ip: str | None


@dataclass(frozen=True)
class VerifyKey:
    """One of a server's ed25519 keys, as published and cached."""

    key_id: str
    verify_key: str
    valid_until_ts: int
    expired_ts: int | None = None
