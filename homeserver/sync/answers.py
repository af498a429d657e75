"""What a /sync is asked (``SyncRequest``) and what it answers (``SyncResult``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from homeserver.sync.devices import DeviceNews
from homeserver.sync.filters import SyncFilter
from homeserver.sync.tokens import make_token


@dataclass
class SyncResult:
    position: int
    typing_serial: int
    presence_serial: int
    rooms: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {"join": {}, "invite": {}, "leave": {}}
    )
    account_data: list[dict[str, Any]] = field(default_factory=list)
    presence: list[dict[str, Any]] = field(default_factory=list)
    devices: DeviceNews | None = None  # to-device messages, device lists, key counts

    @property
    def empty(self) -> bool:
        return not (any(self.rooms.values()) or self.account_data or self.presence
                    or (self.devices is not None and not self.devices.empty))

    def to_json(self) -> dict[str, Any]:
        to_device = self.devices.to_device_position if self.devices else self.position
        return {
            "next_batch": make_token(self.position, self.typing_serial, self.presence_serial,
                                     to_device),
            "rooms": self.rooms,
            "account_data": {"events": self.account_data},
            "presence": {"events": self.presence},
            **(self.devices.to_json() if self.devices else {}),
        }


@dataclass(frozen=True)
class SyncRequest:
    user_id: str
    device_id: str
    since: int | None
    sync_filter: SyncFilter
    full_state: bool = False
    timeout_ms: int = 0
    typing_since: int | None = None
    presence_since: int | None = None
    set_presence: str = "online"
    to_device_since: int | None = None
