"""Events as clients see them: the client-event shape of a stored PDU."""

from __future__ import annotations

from typing import Any

from homeserver.events.hashing import redact
from homeserver.models import StoredEvent


def client_event(event: StoredEvent, now_ms: int, redaction: StoredEvent | None = None,
                 with_room_id: bool = True) -> dict[str, Any]:
    """The event as the Client-Server API shows it; a redacted one shows its redacted form."""
    pdu = redact(event.pdu) if event.redacted_by else event.pdu
    out: dict[str, Any] = {
        "type": pdu["type"],
        "content": pdu.get("content", {}),
        "event_id": event.event_id,
        "sender": pdu["sender"],
        "origin_server_ts": pdu["origin_server_ts"],
        "unsigned": {"age": max(0, now_ms - pdu["origin_server_ts"])},
    }
    if with_room_id:
        out["room_id"] = pdu["room_id"]
    if "state_key" in pdu:
        out["state_key"] = pdu["state_key"]
    if "redacts" in pdu:
        out["redacts"] = pdu["redacts"]
    if redaction is not None:
        out["unsigned"]["redacted_because"] = client_event(redaction, now_ms)
    return out


def stripped_state(event: StoredEvent) -> dict[str, Any]:
    """The stripped form invitees see before they join."""
    return {
        "type": event.type,
        "state_key": event.state_key,
        "sender": event.sender,
        "content": event.pdu.get("content", {}),
    }
