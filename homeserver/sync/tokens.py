"""Sync and pagination tokens: opaque to clients, a stream position inside.

``s<position>`` means "everything up to and including that position". A
sync token adds the serials of the in-memory streams it has seen:
``s<position>_<typing serial>_<presence serial>_<to-device position>`` (the
last: the position of the last to-device message handed out, see sync/devices.py).

A token from a client is read only if it has exactly this shape, in ASCII
digits, with every number within ±(2^53-1): anything else is 400
``M_INVALID_PARAM``, so no query ever sees a number the database (64-bit
integers) or ``int()`` cannot take.
"""

from __future__ import annotations

import re

from homeserver.errors import InvalidParam
from homeserver.events.canonical import MAX_SAFE_INTEGER

# Two serials today; up to four, so a stream added later does not refuse older tokens.
_TOKEN = re.compile(r"[st][0-9]{1,16}(?:_[0-9]{1,16}){0,4}")


def make_token(position: int, *serials: int) -> str:
    return "_".join([f"s{position}", *map(str, serials)])


def _numbers(token: str, name: str) -> list[int]:
    if not _TOKEN.fullmatch(token):
        raise InvalidParam(f"Invalid {name} token")
    numbers = [int(part) for part in token[1:].split("_")]
    if max(numbers) > MAX_SAFE_INTEGER:
        raise InvalidParam(f"Invalid {name} token")
    return numbers


def parse_token(token: str, name: str = "since") -> int:
    """The stream position of a client's token; M_INVALID_PARAM unless well formed."""
    return _numbers(token, name)[0]


def parse_serial(token: str, index: int) -> int | None:
    """The ``index``-th serial after the position (0: typing, 1: presence), if present."""
    numbers = _numbers(token, "since")[1:]
    return numbers[index] if index < len(numbers) else None
