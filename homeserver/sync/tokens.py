"""Sync and pagination tokens: opaque to clients, a stream position inside.

``s<position>`` means "everything up to and including that position"; a
sync token adds ``_<typing serial>``, the typing changes already seen.
"""

from __future__ import annotations

from homeserver.errors import InvalidParam


def make_token(position: int, typing_serial: int | None = None) -> str:
    return f"s{position}" if typing_serial is None else f"s{position}_{typing_serial}"


def parse_typing_serial(token: str) -> int | None:
    """The typing serial of a sync token, None when it has none."""
    parts = token.split("_")
    if len(parts) < 2:
        return None
    if not parts[1].isdigit() or len(parts[1]) > 18:
        raise InvalidParam("Invalid since token")
    return int(parts[1])


def parse_token(token: str, name: str = "since") -> int:
    # Older forms may carry more parts after "_" (typing, presence); position leads.
    head = token.split("_", 1)[0]
    if head[:1] not in ("s", "t") or not head[1:].isdigit() or len(head) > 20:
        raise InvalidParam(f"Invalid {name} token")
    return int(head[1:])
