"""The WebSocket protocol's client frames, checked by schema; errors become error frames.

Client frames::

    {"type": "message", "body": "...", "txn_id": "..."[, "room_id": "..."]}
    {"type": "typing", "status": "start" | "stop"[, "room_id": "..."]}
    {"type": "presence", "status": "online" | "unavailable"}

Close codes sent before any data when a socket cannot be opened:
4001 no or unknown access token, 4003 not allowed, 4004 unknown user,
4000 a bad request (for example a DM with yourself).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from homeserver.errors import BadJson, MatrixError, NotJson
from homeserver.schema import SchemaError, limit, optional, parse

MAX_BODY_CHARS = 32_000
CLOSE_CODES = {401: 4001, 403: 4003, 404: 4004}


@dataclass
class MessageFrame:
    body: str = limit(max_len=MAX_BODY_CHARS, min_len=1)
    txn_id: str = limit(max_len=255, min_len=1)
    room_id: str | None = optional(None, max_len=255)  # the general stream names the room


@dataclass
class TypingFrame:
    status: str = limit(choices={"start", "stop"})
    room_id: str | None = optional(None, max_len=255)


@dataclass
class PresenceFrame:
    status: str = limit(choices={"online", "unavailable"})


FRAMES: dict[str, type] = {"message": MessageFrame, "typing": TypingFrame,
                           "presence": PresenceFrame}
Frame = MessageFrame | TypingFrame | PresenceFrame


def parse_frame(raw: str) -> Frame:
    try:
        data = json.loads(raw)
    except ValueError:
        raise NotJson("Frame is not JSON") from None
    if not isinstance(data, dict):
        raise NotJson("Frame must be a JSON object")
    kind = data.get("type")
    if kind not in FRAMES:
        raise MatrixError(f"Unknown frame type {kind!r}", errcode="M_UNRECOGNIZED")
    fields = {k: v for k, v in data.items() if k != "type"}
    try:
        return parse(FRAMES[kind], fields)
    except SchemaError as exc:
        raise BadJson(str(exc)) from None


def error_frame(exc: MatrixError) -> dict[str, Any]:
    return {"type": "error", "errcode": exc.errcode, "error": exc.message}


def close_code(exc: MatrixError) -> int:
    return CLOSE_CODES.get(exc.status, 4000)
