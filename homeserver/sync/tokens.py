"""Sync and pagination tokens: opaque to clients, a stream position inside.

``s<position>`` means "everything up to and including that position".
"""

from __future__ import annotations

from homeserver.errors import InvalidParam


def make_token(position: int) -> str:
    return f"s{position}"


def parse_token(token: str, name: str = "since") -> int:
    # Older forms may carry more parts after "_" (typing, presence); position leads.
    head = token.split("_", 1)[0]
    if head[:1] not in ("s", "t") or not head[1:].isdigit() or len(head) > 20:
        raise InvalidParam(f"Invalid {name} token")
    return int(head[1:])
