"""Sync and pagination tokens: opaque to clients, a stream position inside.

``s<position>`` means "everything up to and including that position". A
sync token adds the serials of the in-memory streams it has seen:
``s<position>_<typing serial>_<presence serial>``.
"""

from __future__ import annotations

from homeserver.errors import InvalidParam


def make_token(position: int, *serials: int) -> str:
    return "_".join([f"s{position}", *map(str, serials)])


def parse_token(token: str, name: str = "since") -> int:
    head = token.split("_", 1)[0]
    if head[:1] not in ("s", "t") or not head[1:].isdigit() or len(head) > 20:
        raise InvalidParam(f"Invalid {name} token")
    return int(head[1:])


def parse_serial(token: str, index: int) -> int | None:
    """The ``index``-th serial after the position (0: typing, 1: presence), if present."""
    parts = token.split("_")[1:]
    if index >= len(parts):
        return None
    if not parts[index].isdigit() or len(parts[index]) > 18:
        raise InvalidParam("Invalid since token")
    return int(parts[index])
