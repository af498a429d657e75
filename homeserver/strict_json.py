"""JSON text from outside the server: request bodies, socket frames, query parameters.

What must stay true: whatever the text, decoding it ends in a value or in a
Matrix error, never in another exception (a ``RecursionError`` or an
``OverflowError`` deep in a handler is a 500). Text that is not JSON
(bad UTF-8, bad grammar, ``NaN``, lone surrogates) is ``M_NOT_JSON``; JSON
that parses but breaks a bound is ``M_BAD_JSON``: nesting deeper than
``MAX_NESTING`` containers, and with ``safe_numbers`` integers beyond
±(2^53-1) or numbers too big for a float. Nesting is measured without
recursion, so a value that passes can be walked recursively later.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from homeserver.errors import BadJson, NotJson
from homeserver.events.canonical import MAX_SAFE_INTEGER

# Above Canonical JSON's 64 (homeserver/events/canonical.py) because an event's
# content sits a few levels down in a request body; far below Python's
# recursion limit, which the json module's parser and encoder both use.
MAX_NESTING = 100
# A longer integer is refused before int() spends quadratic time on it.
_MAX_INT_CHARS = 100
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)


def loads(raw: bytes | str, *, safe_numbers: bool = False,
          max_nesting: int = MAX_NESTING) -> Any:
    """Decode untrusted JSON; NotJson or BadJson (never another error) if it cannot be used."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError:
        raise NotJson("Content is not UTF-8") from None
    try:
        value = (_SAFE_DECODER if safe_numbers else _DECODER).decode(text)
    except RecursionError:
        raise _too_deep(text, max_nesting) from None
    except ValueError:
        raise NotJson("Content not JSON") from None
    if text.count("[") + text.count("{") > max_nesting:  # else it cannot be too deep
        check_nesting(value, max_nesting)
    if _SURROGATE_ESCAPE.search(text) and not _encodable(value):
        raise NotJson("Content holds a lone surrogate, which is not Unicode text")
    return value


def loads_object(raw: bytes | str, *, safe_numbers: bool = False,
                 max_nesting: int = MAX_NESTING) -> dict[str, Any]:
    """:func:`loads`, and the value must be an object (M_BAD_JSON otherwise)."""
    value = loads(raw, safe_numbers=safe_numbers, max_nesting=max_nesting)
    if not isinstance(value, dict):
        raise BadJson("Content must be a JSON object")
    return value


def check_nesting(value: Any, limit: int = MAX_NESTING) -> None:
    """BadJson if objects and arrays nest more than ``limit`` deep; level by level."""
    level = [value] if isinstance(value, dict | list) else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            raise BadJson(f"JSON nested more than {limit} deep")
        below: list[Any] = []
        for item in level:
            children = item.values() if isinstance(item, dict) else item
            below.extend(c for c in children if isinstance(c, dict | list))
        level = below


def _too_deep(text: str, max_nesting: int) -> BadJson | NotJson:
    # The parser gave up on depth before reaching the end: unbalanced brackets
    # mean it was not JSON anyway, balanced ones that it was merely too deep.
    bare = _STRING.sub("", text)
    if bare.count("[") + bare.count("{") == bare.count("]") + bare.count("}"):
        return BadJson(f"JSON nested more than {max_nesting} deep")
    return NotJson("Content not JSON")


def _encodable(value: Any) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _int(text: str) -> int:
    if len(text) > _MAX_INT_CHARS:
        raise BadJson("Integer too long")
    return int(text)


def _safe_int(text: str) -> int:
    value = _int(text)
    if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
        raise BadJson("Integers must lie within ±(2^53-1)")
    return value


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise BadJson("Number out of range")
    return value


# Made once: json.loads with hooks would build a decoder for every body.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_int=_int)
_SAFE_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_int=_safe_int,
                                 parse_float=_finite_float)
